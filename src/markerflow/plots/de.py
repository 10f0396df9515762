"""Figure of the DE stage: the volcano plot of one cohort's DE table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from markerflow.plots.figure import CASE_COLOUR, CONTROL_COLOUR, place_labels, plt


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
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
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
