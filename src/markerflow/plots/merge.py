"""Figure of the merge stage: PC1/PC2 of the merged samples, coloured by batch and by condition."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from markerflow.plots.figure import batch_colours, condition_colours, subplots


def pca_panels(
    scores: np.ndarray,
    ratio: np.ndarray,
    samples: pd.DataFrame,
    title: str,
    case: str | None = None,
    control: str | None = None,
) -> Figure:
    """Two-panel PC1/PC2 scatter (colour = batch: the cohort/batch palette, in sample order;
    colour = condition: the condition palette of :mod:`markerflow.plots.figure`), one figure."""
    if scores.shape[1] < 2:  # fewer than 2 components (e.g. 2 samples): pad for plotting
        scores = np.column_stack([scores, np.zeros((scores.shape[0], 2 - scores.shape[1]))])
        ratio = np.concatenate([ratio, np.zeros(2 - ratio.size)])
    fig, axes = subplots(1, 2, figsize=(11, 4.8), constrained_layout=True)
    for ax, column in zip(axes, ["batch", "condition"], strict=True):
        labels = samples[column].astype(str).to_numpy()
        levels = sorted(set(labels)) if column == "condition" else list(dict.fromkeys(labels))
        colours = (
            condition_colours(levels, case, control)
            if column == "condition"
            else batch_colours(levels)
        )
        for lev in levels:
            sel = labels == lev
            ax.scatter(
                scores[sel, 0], scores[sel, 1], s=18, color=colours[lev], label=lev, alpha=0.85
            )
        ax.set_xlabel(f"PC1 ({100 * ratio[0]:.1f}%)")
        ax.set_ylabel(f"PC2 ({100 * ratio[1]:.1f}%)")
        ax.set_title(f"colour = {column}")
        ax.legend(fontsize=7, frameon=False, loc="best", ncol=1 if len(levels) <= 12 else 2)
    fig.suptitle(title)
    return fig
