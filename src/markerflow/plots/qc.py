"""Figure of the QC stage: PC1 vs PC2 of one cohort's samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from markerflow.plots.figure import plt


def pca_scatter(
    scores: np.ndarray,
    ratio: np.ndarray,
    samples: pd.DataFrame,
    title: str,
    color_by: str = "condition",
    marker_by: str | None = "batch",
) -> Figure:
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
    return fig
