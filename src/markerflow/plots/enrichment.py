"""Figures of the enrichment stage: ORA and GSEA dot plots, GSEA running-score panels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.collections import PathCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from markerflow.plots.figure import plt

if TYPE_CHECKING:
    from markerflow.stages.enrichment import RunningPanel


def _dot_panel(
    ax, df: pd.DataFrame, x: str, fdr_col: str, size_col: str, title: str, top_n: int, norm
) -> PathCollection | None:
    ax.set_title(title, fontsize=10)
    if df.empty:
        ax.text(0.5, 0.5, "no terms", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return None
    d = df.head(top_n).iloc[::-1]
    labels = [n if len(n) <= 55 else n[:52] + "..." for n in d["term_name"].astype(str)]
    y = np.arange(len(d))
    sizes = 20 + 180 * d[size_col].to_numpy(float) / max(1.0, float(df[size_col].max()))
    sc = ax.scatter(
        d[x],
        y,
        s=sizes,
        c=d[fdr_col].clip(lower=1e-300),
        cmap="plasma",
        norm=norm,
        edgecolors="k",
        linewidths=0.4,
    )
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlabel(x.replace("_", " "))
    ax.grid(axis="x", alpha=0.3)
    return sc


def ora_dotplot(ora_df: pd.DataFrame, title: str = "", top_n: int = 15) -> Figure:
    """Dot plot of the top ORA terms per direction: x = fold enrichment, size = overlap, colour =
    BH FDR (log scale). Only terms with overlap > 0 are shown, ordered by p-value."""
    shown = ora_df[ora_df["overlap"] > 0]
    fig, axes = plt.subplots(2, 1, figsize=(9, 0.5 * top_n + 3), squeeze=False)
    axes = axes.T
    vmin = max(1e-20, float(shown["padj"].min())) if not shown.empty else 1e-3
    norm = LogNorm(vmin=min(vmin, 1e-3), vmax=1.0)
    sc = None
    for ax, direction in zip(axes[0], ("up", "down"), strict=True):
        d = shown[shown["direction"] == direction]
        s = _dot_panel(
            ax, d, "fold_enrichment", "padj", "overlap", f"{direction}-regulated genes", top_n, norm
        )
        sc = sc or s
    if sc is not None:
        fig.colorbar(sc, ax=axes[0].tolist(), label="FDR (BH)", shrink=0.8)
    fig.suptitle(title or "Over-representation", fontsize=11)
    return fig


def gsea_dotplot(gsea_df: pd.DataFrame, title: str = "", top_n: int = 15) -> Figure:
    """Dot plot of the top GSEA terms per direction: x = NES, size = leading-edge size, colour =
    GSEA FDR q-value."""
    fig, axes = plt.subplots(2, 1, figsize=(9, 0.5 * top_n + 3), squeeze=False)
    axes = axes.T
    norm = LogNorm(vmin=1e-4, vmax=1.0)
    sc = None
    for ax, direction in zip(axes[0], ("up", "down"), strict=True):
        d = gsea_df[gsea_df["direction"] == direction] if not gsea_df.empty else gsea_df
        s = _dot_panel(
            ax, d, "nes", "fdr_gsea", "leading_edge_size", f"NES {direction}", top_n, norm
        )
        sc = sc or s
    if sc is not None:
        fig.colorbar(sc, ax=axes[0].tolist(), label="GSEA FDR q", shrink=0.8)
    fig.suptitle(title or "Preranked GSEA", fontsize=11)
    return fig


def gsea_running(panels: Sequence[RunningPanel], title: str = "") -> Figure:
    """GSEA running-score plots, one panel per term of
    :func:`markerflow.stages.enrichment.running_panels` (top up terms, then top down terms).

    Each panel: running enrichment score along the ranking, the ES (dashed), and a rug of the
    set's genes; annotated with NES and BH FDR.
    """
    n_panels = max(1, len(panels))
    ncol = min(3, n_panels)
    nrow = int(np.ceil(n_panels / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.2 * nrow), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    if not panels:
        axes[0, 0].text(0.5, 0.5, "no gene set tested", ha="center", va="center")
    for ax, panel in zip(axes.ravel(), panels, strict=False):
        score, hit = panel.score, panel.hit
        x = np.arange(1, score.size + 1)
        ax.plot(x, score, color="tab:green", lw=1.2)
        ax.axhline(0, color="grey", lw=0.6)
        ax.axhline(panel.es, color="tab:red", lw=0.8, ls="--")
        lo, hi = min(score.min(), 0), max(score.max(), 0)
        rug_y = lo - 0.08 * (hi - lo + 1e-9)
        ax.vlines(x[hit], rug_y - 0.06 * (hi - lo + 1e-9), rug_y, color="k", lw=0.4)
        name = panel.term_name
        ax.set_title(name if len(name) <= 45 else name[:42] + "...", fontsize=8)
        ax.text(
            0.98,
            0.95,
            f"NES {panel.nes:.2f}\nFDR q {panel.fdr_gsea:.2g}",
            ha="right",
            va="top",
            transform=ax.transAxes,
            fontsize=7,
        )
        ax.set_xlabel("rank", fontsize=7)
        ax.set_ylabel("running ES", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle(title or "Preranked GSEA", fontsize=10)
    fig.tight_layout()
    return fig
