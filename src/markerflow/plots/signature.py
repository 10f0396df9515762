"""Figures of the signature stage: ROC curves per cohort and the signature heatmap.

Plots draw what the stage computed; the ROC curve itself is :func:`markerflow.engines.roc.roc_curve`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from markerflow.engines.roc import roc_curve
from markerflow.plots.figure import batch_colours, count_noun, subplots

if TYPE_CHECKING:
    from markerflow.stages.signature import SignatureHeatmap


def signature_title(n_genes: int, method: str) -> str:
    """``Frozen signature (1 gene, forward_search)`` / ``(3 genes, ...)``."""
    return f"Frozen signature ({count_noun(n_genes, 'gene')}, {method})"


def roc_plot(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], performance: pd.DataFrame,
             title: str = "Signature ROC") -> Figure:  # fmt: skip
    """ROC curve per cohort (solid: discovery, dashed: validation), AUC [95% CI] in the legend.

    ``curves`` maps a cohort to its (scores, case flags), as :func:`markerflow.stages.signature.
    build_signature` returns them; ``performance`` has one row per cohort (``role``, ``auc``,
    ``ci_low``, ``ci_high``). The curve is :func:`markerflow.engines.roc.roc_curve`.
    """
    fig, ax = subplots(figsize=(6, 5.5))
    perf = performance.set_index("cohort")
    colours = batch_colours(list(curves))
    for name, (scores, is_case) in curves.items():
        fpr, tpr = roc_curve(scores, is_case)
        row = perf.loc[name]
        ls = "-" if row["role"] == "discovery" else "--"
        kind = row["kind"] if "kind" in row.index else row["role"]  # in-sample / external
        ax.plot(fpr, tpr, ls, color=colours[name], lw=1.6,
                label=f"{name} ({kind}): {row['auc']:.2f} "
                f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
                f"{' Newcombe' if str(row.get('ci_method', '')).startswith('Newcombe') else ''}")  # fmt: skip
    ax.plot([0, 1], [0, 1], ":", color="0.6")
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7, frameon=False, title="AUC [95% CI, DeLong unless noted]",
              title_fontsize=7)  # fmt: skip
    return fig


def signature_heatmap(heatmap: SignatureHeatmap) -> Figure:
    """Heatmap of :func:`markerflow.stages.signature.heatmap_matrix`: signature genes (rows, up then
    down) x samples, z clipped to [-3, 3], a line between condition/cohort blocks."""
    genes, mat, groups = heatmap.genes, heatmap.values, heatmap.groups
    fig, ax = subplots(figsize=(min(14, 4 + mat.shape[1] * 0.02), 1.5 + 0.25 * len(genes)))
    im = ax.imshow(np.clip(mat, -3, 3), aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3,
                   interpolation="nearest")  # fmt: skip
    ax.set_yticks(range(len(genes)))
    ax.set_yticklabels(genes, fontsize=7)
    edges = np.cumsum([n for _, n in groups])
    for e in edges[:-1]:
        ax.axvline(e - 0.5, color="k", lw=0.6)
    ax.set_xticks(edges - np.array([n for _, n in groups]) / 2.0 - 0.5)
    ax.set_xticklabels([g for g, _ in groups], fontsize=6)
    fig.colorbar(im, ax=ax, fraction=0.03, label="z (within cohort)")
    ax.set_title("Signature genes (up, then down), samples by condition and cohort")
    return fig
