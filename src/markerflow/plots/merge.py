"""Figure of the merge stage: PC1/PC2 of the merged samples, coloured by batch and by condition."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from markerflow.plots.figure import plt


def pca_panels(
    scores: np.ndarray,
    ratio: np.ndarray,
    samples: pd.DataFrame,
    title: str,
) -> Figure:
    """Two-panel PC1/PC2 scatter (colour = batch, colour = condition), one figure."""
    if scores.shape[1] < 2:  # fewer than 2 components (e.g. 2 samples): pad for plotting
        scores = np.column_stack([scores, np.zeros((scores.shape[0], 2 - scores.shape[1]))])
        ratio = np.concatenate([ratio, np.zeros(2 - ratio.size)])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), constrained_layout=True)
    for ax, column in zip(axes, ["batch", "condition"], strict=True):
        labels = samples[column].astype(str).to_numpy()
        levels = sorted(set(labels))
        cmap = plt.get_cmap("tab10" if len(levels) <= 10 else "tab20")
        for k, lev in enumerate(levels):
            sel = labels == lev
            ax.scatter(
                scores[sel, 0], scores[sel, 1], s=18, color=cmap(k % cmap.N), label=lev, alpha=0.85
            )
        ax.set_xlabel(f"PC1 ({100 * ratio[0]:.1f}%)")
        ax.set_ylabel(f"PC2 ({100 * ratio[1]:.1f}%)")
        ax.set_title(f"colour = {column}")
        ax.legend(fontsize=7, frameon=False, loc="best", ncol=1 if len(levels) <= 12 else 2)
    fig.suptitle(title)
    return fig
