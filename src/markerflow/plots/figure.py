"""Figures shared by the stages (matplotlib, Agg backend, deterministic metadata)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from markerflow.io.tables import atomic_path

#: No creation date or software version in PNG metadata, so figures are byte-reproducible.
PNG_METADATA = {"Software": None}


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight", metadata=PNG_METADATA)
    plt.close(fig)


def volcano(
    de: pd.DataFrame,
    path: str | Path,
    title: str,
    padj_threshold: float = 0.05,
    lfc_threshold: float = 0.0,
    label_top: int = 12,
) -> None:
    """log2 fold change vs -log10 p, significant genes coloured, the top genes labelled."""
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    data = de.dropna(subset=["log2fc", "pvalue"])
    neglog = -np.log10(np.clip(data["pvalue"].to_numpy(), 1e-300, 1))
    sig = (data["padj"] < padj_threshold).to_numpy() & (
        data["log2fc"].abs() > lfc_threshold
    ).to_numpy()
    up = sig & (data["log2fc"].to_numpy() > 0)
    down = sig & (data["log2fc"].to_numpy() < 0)
    ax.scatter(data["log2fc"][~sig], neglog[~sig], s=4, c="0.7", lw=0, label="not significant")
    ax.scatter(data["log2fc"][up], neglog[up], s=6, c="#c0392b", lw=0, label=f"up ({up.sum()})")
    ax.scatter(
        data["log2fc"][down], neglog[down], s=6, c="#2e86c1", lw=0, label=f"down ({down.sum()})"
    )
    top = data.assign(_p=neglog).nlargest(label_top, "_p")
    for _, row in top.iterrows():
        ax.annotate(
            row["gene"],
            (row["log2fc"], row["_p"]),
            fontsize=7,
            xytext=(3, 2),
            textcoords="offset points",
        )
    ax.set_xlabel("log2 fold change (case vs control)")
    ax.set_ylabel("-log10 p-value")
    ax.set_title(f"{title}: {len(data)} genes, padj < {padj_threshold:g} coloured")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    save_figure(fig, path)


def pca_scatter(
    scores: np.ndarray,
    ratio: np.ndarray,
    samples: pd.DataFrame,
    path: str | Path,
    title: str,
    color_by: str = "condition",
    marker_by: str | None = "batch",
) -> None:
    """PC1 vs PC2 of samples, coloured by ``color_by`` and shaped by ``marker_by``."""
    fig, ax = plt.subplots(figsize=(6, 5))
    colours = plt.get_cmap("tab10")
    markers = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
    groups = sorted(samples[color_by].astype(str).unique())
    shapes = sorted(samples[marker_by].astype(str).unique()) if marker_by else [None]
    for i, group in enumerate(groups):
        for j, shape in enumerate(shapes):
            mask = (samples[color_by].astype(str) == group).to_numpy()
            if shape is not None:
                mask &= (samples[marker_by].astype(str) == shape).to_numpy()
            if not mask.any():
                continue
            label = group if len(shapes) == 1 else f"{group} / {marker_by} {shape}"
            ax.scatter(
                scores[mask, 0],
                scores[mask, 1],
                c=[colours(i % 10)],
                marker=markers[j % len(markers)],
                s=28,
                label=label,
                edgecolors="none",
            )
    ax.set_xlabel(f"PC1 ({ratio[0] * 100:.1f}%)")
    ax.set_ylabel(f"PC2 ({ratio[1] * 100:.1f}%)" if len(ratio) > 1 else "PC2")
    ax.set_title(title)
    ax.legend(fontsize=7, frameon=False, loc="best")
    save_figure(fig, path)
