"""Figure of the QC stage: PC1 vs PC2 of one cohort's samples, outliers marked and named."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from markerflow.plots.figure import MARKERS, condition_colours, place_labels, subplots


def pca_scatter(
    scores: np.ndarray,
    ratio: np.ndarray,
    samples: pd.DataFrame,
    title: str,
    color_by: str = "condition",
    marker_by: str | None = "batch",
) -> Figure:
    """PC1 vs PC2 of samples, coloured by ``color_by`` (the condition palette of
    :func:`markerflow.plots.figure.condition_colours`) and shaped by ``marker_by``. Samples whose
    ``outlier`` column is true (the QC table) get a black ring and their name, and the title
    counts them."""
    fig, ax = subplots(figsize=(6, 5))
    groups = sorted(samples[color_by].astype(str).unique())
    colours = condition_colours(groups)
    shapes = sorted(samples[marker_by].astype(str).unique()) if marker_by else [None]
    for group in groups:
        for j, shape in enumerate(shapes):
            mask = (samples[color_by].astype(str) == group).to_numpy()
            if shape is not None:
                mask &= (samples[marker_by].astype(str) == shape).to_numpy()
            if not mask.any():
                continue
            label = group if len(shapes) == 1 else f"{group} / {marker_by} {shape}"
            ax.scatter(
                scores[mask, 0],
                scores[mask, 1] if scores.shape[1] > 1 else np.zeros(int(mask.sum())),
                c=[colours[group]],
                marker=MARKERS[j % len(MARKERS)],
                s=28,
                label=label,
                edgecolors="none",
            )
    y = scores[:, 1] if scores.shape[1] > 1 else np.zeros(scores.shape[0])
    flagged = (
        samples["outlier"].astype(str).str.lower().eq("true").to_numpy()
        if "outlier" in samples.columns
        else np.zeros(len(samples), dtype=bool)
    )
    if flagged.any():
        ax.scatter(scores[flagged, 0], y[flagged], s=110, facecolors="none", edgecolors="k",
                   linewidths=1.2, label=f"outlier ({int(flagged.sum())})")  # fmt: skip
        names = samples.loc[flagged, "sample"].astype(str).tolist()
        place_labels(ax, scores[flagged, 0], y[flagged], names, fontsize=7)
    ax.set_xlabel(f"PC1 ({ratio[0] * 100:.1f}%)")
    ax.set_ylabel(f"PC2 ({ratio[1] * 100:.1f}%)" if len(ratio) > 1 else "PC2")
    n_out = int(flagged.sum())
    ax.set_title(f"{title}: {n_out} outlier{'s' if n_out != 1 else ''} flagged" if n_out
                 else f"{title}: no outlier flagged")  # fmt: skip
    ax.legend(fontsize=7, frameon=False, loc="best")
    return fig
