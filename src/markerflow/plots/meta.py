"""Figure of the meta stage: forest plot of the top genes of the meta-analysis table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from markerflow.plots.figure import batch_colours, subplots


def _cohort_columns(meta: pd.DataFrame) -> list[str]:
    """Cohort ids of a meta table, from its ``g_<cohort>`` columns (in order)."""
    return [c[2:] for c in meta.columns if c.startswith("g_")]


def forest_plot(meta: pd.DataFrame, top: int = 20, title: str = "Top candidates") -> Figure:
    """Forest plot of the ``top`` genes of ``meta`` (in its row order): per-cohort Hedges' g with
    95% CI (g -/+ 1.96 se, marker size ~ weight 1/se², one cohort colour of
    :func:`markerflow.plots.figure.batch_colours`) and the pooled random-effects estimate as a
    diamond spanning its 95% CI, its value and interval written right of the plot."""
    cohorts = _cohort_columns(meta)
    rows = meta.head(top).reset_index(drop=True)
    n = len(rows)
    fig, ax = subplots(figsize=(9, 1.2 + 0.45 * max(n, 1) * (1 + 0.15 * len(cohorts))))
    colours = batch_colours(cohorts)
    step = 0.7 / max(len(cohorts), 1)
    numbers: list[tuple[float, str]] = []
    for i, row in rows.iterrows():
        y0 = n - i
        for j, cohort in enumerate(cohorts):
            g, se = row.get(f"g_{cohort}"), row.get(f"se_{cohort}")
            if not (np.isfinite(g) and np.isfinite(se)):
                continue
            y = y0 + 0.35 - (j + 1) * step
            ax.plot([g - 1.96 * se, g + 1.96 * se], [y, y], color=colours[cohort], lw=1)
            ax.plot(g, y, "s", color=colours[cohort], ms=3 + 2 / se**0.5,
                    label=cohort if i == 0 else None)  # fmt: skip
        mu, se = row["pooled_effect"], row["pooled_se"]
        if np.isfinite(mu) and np.isfinite(se):
            lo, hi = mu - 1.96 * se, mu + 1.96 * se
            yd = y0 + 0.35 - (len(cohorts) + 1) * step
            ax.fill([lo, mu, hi, mu], [yd, yd + 0.12, yd, yd - 0.12], color="k",
                    label="pooled (random effects)" if i == 0 else None)  # fmt: skip
            numbers.append((y0, f"{mu:.2f} [{lo:.2f}, {hi:.2f}]"))
    ax.axvline(0, color="0.6", lw=0.8, ls=":")
    # the pooled effect and its 95% CI as numbers, in a column right of the plot
    for y0, text in numbers:
        ax.text(1.02, y0, text, transform=ax.get_yaxis_transform(), fontsize=7.5, va="center",
                family="monospace")  # fmt: skip
    if numbers:
        ax.text(1.02, n + 0.6, "pooled g [95% CI]", transform=ax.get_yaxis_transform(),
                fontsize=7.5, va="center", weight="bold")  # fmt: skip
    ax.set_ylim(0.0, n + 0.9)
    ax.set_yticks([n - i for i in range(n)])
    ax.set_yticklabels(rows["gene"], fontsize=8)
    ax.set_xlabel("Hedges' g (case vs control) with 95% CI")
    ax.set_title(title)
    ax.legend(
        fontsize=7,
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.3 / (1 + 0.45 * max(n, 1) * (1 + 0.15 * len(cohorts)))),
        ncol=min(4, len(cohorts) + 1),
    )
    return fig
