"""Figures of the DE stage: the volcano plot of one cohort's DE table, the heatmap of its top genes
and the heatmap of its sample distances (the comparison's samples)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colors as matplotlib_colors
from matplotlib.figure import Figure

from markerflow.plots.figure import (
    CASE_COLOUR,
    CONTROL_COLOUR,
    condition_colours,
    place_labels,
    subplots,
)


def volcano(
    de: pd.DataFrame,
    title: str,
    padj_threshold: float = 0.05,
    lfc_threshold: float = 0.0,
    label_top: int = 12,
) -> Figure:
    """log2 fold change vs -log10 p, significant genes coloured (up: the case colour, down: the
    control colour of :mod:`markerflow.plots.figure`), the top ``label_top`` genes by p-value
    labelled without overlaps (:func:`markerflow.plots.figure.place_labels`).

    The fold change is DESeq2's shrunken ``log2fc_shrunk`` when the table has it (config
    ``de.counts.lfc_shrink: normal``), else ``log2fc``; the axis label says which.
    """
    fig, ax = subplots(figsize=(6.5, 5.5))
    shrunk = "log2fc_shrunk" in de.columns
    if shrunk:  # the plotted fold change, under the name the code below uses
        de = de.drop(columns=["log2fc"]).rename(columns={"log2fc_shrunk": "log2fc"})
    data = de.dropna(subset=["log2fc", "pvalue"])
    neglog = -np.log10(np.clip(data["pvalue"].to_numpy(), 1e-300, 1))
    sig = (data["padj"] < padj_threshold).to_numpy() & (
        data["log2fc"].abs() > lfc_threshold
    ).to_numpy()
    up = sig & (data["log2fc"].to_numpy() > 0)
    down = sig & (data["log2fc"].to_numpy() < 0)
    ax.scatter(data["log2fc"][~sig], neglog[~sig], s=4, c="0.7", lw=0, label="not significant")
    ax.scatter(data["log2fc"][up], neglog[up], s=6, c=CASE_COLOUR, lw=0, label=f"up ({up.sum()})")
    ax.scatter(
        data["log2fc"][down],
        neglog[down],
        s=6,
        c=CONTROL_COLOUR,
        lw=0,
        label=f"down ({down.sum()})",
    )
    top = data.assign(_p=neglog).nlargest(label_top, "_p")
    place_labels(
        ax, top["log2fc"].to_numpy(), top["_p"].to_numpy(), top["gene"].astype(str).tolist()
    )
    what = "shrunken log2 fold change (DESeq2 normal prior)" if shrunk else "log2 fold change"
    ax.set_xlabel(f"{what} (case vs control)")
    ax.set_ylabel("-log10 p-value")
    ax.set_title(f"{title}: {len(data)} genes, padj < {padj_threshold:g} coloured")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


def _condition_order(samples: pd.DataFrame, columns: list[str]) -> tuple[list[str], list[str]]:
    """The matrix columns grouped by condition (sorted levels, sample order kept), and their
    condition labels."""
    condition = dict(zip(samples["sample"].astype(str), samples["condition"].astype(str),
                         strict=False))  # fmt: skip
    levels = sorted({condition.get(c, "") for c in columns})
    ordered = [c for lev in levels for c in columns if condition.get(c, "") == lev]
    return ordered, [condition.get(c, "") for c in ordered]


def _condition_strip(ax, labels: list[str], colours: dict[str, str]) -> None:
    """A row of condition colours above a heatmap, with a legend."""
    rgb = np.array([matplotlib_colors.to_rgb(colours[lev]) for lev in labels])[None, :, :]
    ax.imshow(rgb, aspect="auto", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for lev in dict.fromkeys(labels):
        ax.plot([], [], "s", color=colours[lev], label=lev)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncol=len(set(labels)), fontsize=7,
              frameon=False, borderaxespad=0)  # fmt: skip


def top_genes_heatmap(
    normalized: pd.DataFrame,
    de: pd.DataFrame,
    samples: pd.DataFrame,
    title: str,
    top: int = 30,
    case: str | None = None,
    control: str | None = None,
) -> Figure:
    """Heatmap of the ``top`` genes by p-value (log-scale values of the comparison's samples, each
    gene centred and scaled to z, clipped to [-3, 3]); samples grouped by condition under a
    condition colour strip (the palette of :func:`markerflow.plots.figure.condition_colours`)."""
    ranked = de.dropna(subset=["pvalue"]).sort_values("pvalue", kind="mergesort")
    genes = [g for g in ranked["gene"].astype(str) if g in normalized.index][:top]
    columns, labels = _condition_order(samples, [str(c) for c in normalized.columns])
    values = normalized.loc[genes, columns].to_numpy(dtype=np.float64)
    sd = (
        values.std(axis=1, ddof=1, keepdims=True)
        if values.shape[1] > 1
        else np.ones((len(genes), 1))
    )
    z = (values - values.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)
    fig, (strip, ax) = subplots(2, 1, figsize=(min(14, 4 + 0.06 * len(columns)),
                                    1.8 + 0.2 * max(len(genes), 1)),
                                    gridspec_kw={"height_ratios": [0.6, max(len(genes), 1)]},
                                    sharex=True, layout="constrained")  # fmt: skip
    _condition_strip(strip, labels, condition_colours(labels, case, control))
    im = ax.imshow(np.clip(z, -3, 3), aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3,
                   interpolation="nearest")  # fmt: skip
    ax.set_yticks(range(len(genes)), genes, fontsize=7)
    ax.set_xticks([])
    ax.set_xlabel(f"{len(columns)} samples, grouped by condition")
    fig.colorbar(im, ax=ax, fraction=0.03, label="z (per gene)")
    fig.suptitle(f"{title}: top {len(genes)} genes by p-value")
    return fig


def sample_distance_heatmap(
    normalized: pd.DataFrame,
    samples: pd.DataFrame,
    title: str,
    n_genes: int = 1000,
    case: str | None = None,
    control: str | None = None,
) -> Figure:
    """Heatmap of the samples' distances, 1 - Pearson correlation over the ``n_genes`` most
    variable genes of the log-scale matrix (as DESeq2's vignette does on vst data, with a
    correlation distance), samples grouped by condition under a condition colour strip."""
    columns, labels = _condition_order(samples, [str(c) for c in normalized.columns])
    values = normalized.loc[:, columns].to_numpy(dtype=np.float64)
    values = values[np.isfinite(values).all(axis=1)]
    keep = np.argsort(-values.var(axis=1), kind="stable")[:n_genes]
    dist = 1.0 - np.corrcoef(values[keep].T)
    side = min(10.0, 3.5 + 0.05 * len(columns))
    fig, (strip, ax) = subplots(2, 1, figsize=(side + 1.2, side + 0.6),
                                    gridspec_kw={"height_ratios": [0.4, side * 3]},
                                    sharex=True, layout="constrained")  # fmt: skip
    _condition_strip(strip, labels, condition_colours(labels, case, control))
    im = ax.imshow(dist, cmap="viridis_r", interpolation="nearest", aspect="auto")
    edges = np.flatnonzero(np.array(labels[1:]) != np.array(labels[:-1])) + 0.5
    for e in edges:
        ax.axvline(e, color="w", lw=1)
        ax.axhline(e, color="w", lw=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"{len(columns)} samples, grouped by condition")
    fig.colorbar(im, ax=ax, fraction=0.04, label="1 - Pearson r")
    fig.suptitle(f"{title}: sample distances ({min(n_genes, len(values))} most variable genes)")
    return fig
