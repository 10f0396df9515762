"""Figures of the enrichment stage: ORA and GSEA dot plots, GSEA running-score panels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.collections import PathCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from markerflow.plots.figure import subplots

if TYPE_CHECKING:
    from markerflow.stages.enrichment import RunningPanel


def _size(values: np.ndarray, largest: float) -> np.ndarray:
    """Marker area (points²) of a dot plot: 20 + 180 x value / largest."""
    return 20 + 180 * values / max(1.0, largest)


def _panels(rows: Sequence[int]) -> tuple[Figure, np.ndarray]:
    """Two stacked panels (up, down) as tall as the terms they show (a 1 x 2 array of axes)."""
    heights = [max(r, 2) for r in rows]
    fig, axes = subplots(2, 1, figsize=(10, 2.2 + 0.32 * sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights}, layout="constrained")  # fmt: skip
    return fig, axes.T


def _dot_panel(
    ax, df: pd.DataFrame, x: str, fdr_col: str, size_col: str, title: str, top_n: int, norm,
    largest: float, empty: str,
) -> PathCollection | None:  # fmt: skip
    ax.set_title(title, fontsize=10)
    if df.empty:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes, fontsize=9,
                color="0.3")  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        return None
    d = df.head(top_n).iloc[::-1]
    labels = [n if len(n) <= 70 else n[:67] + "..." for n in d["term_name"].astype(str)]
    y = np.arange(len(d))
    sc = ax.scatter(
        d[x],
        y,
        s=_size(d[size_col].to_numpy(float), largest),
        c=d[fdr_col].clip(lower=1e-300),
        cmap="plasma",
        norm=norm,
        edgecolors="k",
        linewidths=0.4,
    )
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_ylim(-0.7, max(len(d), 3) - 0.3)
    ax.set_xlabel(x.replace("_", " "))
    ax.grid(axis="x", alpha=0.3)
    return sc


def _size_legend(fig: Figure, axes: Sequence, largest: float, what: str) -> None:
    """A legend of marker sizes (three round values up to the largest) beside the panels."""
    steps = sorted({max(1, round(largest * f)) for f in (0.2, 0.5, 1.0)})
    handles = [
        axes[0].scatter([], [], s=float(_size(np.array([float(v)]), largest)[0]), c="0.6",
                        edgecolors="k", linewidths=0.4, label=str(v))
        for v in steps
    ]  # fmt: skip
    fig.legend(handles=handles, title=what, loc="outside right upper", fontsize=7,
               title_fontsize=7, frameon=False, labelspacing=1.2)  # fmt: skip


def ora_dotplot(
    ora_df: pd.DataFrame, title: str = "", top_n: int = 15, padj_threshold: float = 0.05
) -> Figure:
    """Dot plot of the significant ORA terms per direction (BH FDR < ``padj_threshold``, overlap
    > 0; at most ``top_n``, by p-value): x = fold enrichment, size = overlap (legend of sizes),
    colour = BH FDR (log scale). A direction without a significant term says so (with the number
    of terms tested) instead of drawing terms with FDR near 1."""
    shown = ora_df[(ora_df["overlap"] > 0) & (ora_df["padj"] < padj_threshold)]
    rows = [min(top_n, int((shown["direction"] == d).sum())) for d in ("up", "down")]
    fig, axes = _panels(rows)
    vmin = max(1e-20, float(shown["padj"].min())) if not shown.empty else 1e-3
    norm = LogNorm(vmin=min(vmin, 1e-3), vmax=padj_threshold)
    largest = float(shown["overlap"].max()) if not shown.empty else 1.0
    sc = None
    for ax, direction in zip(axes[0], ("up", "down"), strict=True):
        d = shown[shown["direction"] == direction].sort_values("pvalue", kind="mergesort")
        tested = int((ora_df["direction"] == direction).sum())
        empty = f"no term with FDR < {padj_threshold:g} ({tested} tested)"
        s = _dot_panel(
            ax, d, "fold_enrichment", "padj", "overlap",
            f"{direction}-regulated genes: {len(d)} term{'s' if len(d) != 1 else ''} with FDR < "
            f"{padj_threshold:g}" + (f" (top {top_n} shown)" if len(d) > top_n else ""),
            top_n, norm, largest, empty,
        )  # fmt: skip
        sc = sc or s
    if sc is not None:
        fig.colorbar(sc, ax=axes[0].tolist(), label="FDR (BH)", shrink=0.8)
        _size_legend(fig, axes[0], largest, "overlap (genes)")
    fig.suptitle(title or "Over-representation", fontsize=11)
    return fig


def gsea_dotplot(
    gsea_df: pd.DataFrame, title: str = "", top_n: int = 15, padj_threshold: float = 0.05
) -> Figure:
    """Dot plot of the significant GSEA terms per direction (FDR q < ``padj_threshold``): x = NES,
    size = leading-edge size (legend of sizes), colour = GSEA FDR q-value; a direction without a
    significant term says so."""
    norm = LogNorm(vmin=1e-4, vmax=padj_threshold)
    shown = gsea_df[gsea_df["fdr_gsea"] < padj_threshold] if not gsea_df.empty else gsea_df
    rows = [min(top_n, int((shown["direction"] == d).sum())) if not shown.empty else 0
            for d in ("up", "down")]  # fmt: skip
    fig, axes = _panels(rows)
    largest = float(shown["leading_edge_size"].max()) if not shown.empty else 1.0
    sc = None
    for ax, direction in zip(axes[0], ("up", "down"), strict=True):
        d = shown[shown["direction"] == direction] if not shown.empty else shown
        empty = f"no term with FDR q < {padj_threshold:g}"
        s = _dot_panel(ax, d, "nes", "fdr_gsea", "leading_edge_size", f"NES {direction}",
                       top_n, norm, largest, empty)  # fmt: skip
        sc = sc or s
    if sc is not None:
        fig.colorbar(sc, ax=axes[0].tolist(), label="GSEA FDR q", shrink=0.8)
        _size_legend(fig, axes[0], largest, "leading edge (genes)")
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
    fig, axes = subplots(nrow, ncol, figsize=(4.6 * ncol, 3.2 * nrow), squeeze=False)
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
