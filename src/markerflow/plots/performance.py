"""Figures of the ``performance`` stage: per validation cohort ROC (AUC [95% CI] and the interval
method in the legend, the discovery-fixed threshold marked), PPV/NPV against prevalence and, for the
logistic signature, a calibration plot; and the summary ROC across validation cohorts. Every
function returns a Figure; :func:`markerflow.plots.figure.save_figure` writes it."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from markerflow.engines.performance import roc_curve
from markerflow.plots.figure import subplots


def _short(method: str) -> str:
    return "Newcombe" if method.startswith("Newcombe") else method


def validation_figure(
    cohort: str,
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    references: pd.DataFrame,
    clinical: pd.Series,
    predictive: pd.DataFrame,
    calibration: tuple[np.ndarray, np.ndarray] | None = None,
) -> Figure:
    """One validation cohort: ROC of the discovered and reference signatures, PPV/NPV vs
    prevalence at the discovery threshold, and (logistic) observed vs predicted risk."""
    panels = 3 if calibration is not None else 2
    fig, axes = subplots(1, panels, figsize=(5.2 * panels, 4.8))
    ax = axes[0]
    refs = references.set_index("signature")
    for i, (name, (scores, is_case)) in enumerate(curves.items()):
        fpr, tpr = roc_curve(scores, is_case)
        row = refs.loc[name]
        ax.step(fpr, tpr, where="post", lw=1.8 if i == 0 else 1.2,
                color=matplotlib.colormaps["tab10"](i % 10),
                label=f"{name}: {row['auc']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}] "
                f"{_short(row['ci_method'])}"
                + ("" if i == 0 else f", DeLong p = {row['delong_p']:.2g}"))  # fmt: skip
    ax.plot(1 - clinical["specificity"], clinical["sensitivity"], "o", color="k",
            label=f"threshold {clinical['threshold']:.2f} (discovery Youden)")  # fmt: skip
    ax.plot([0, 1], [0, 1], ":", color="0.6")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity",
           title=f"{cohort} (external validation)\nn = {clinical['n_case']} cases, "
           f"{clinical['n_control']} controls")  # fmt: skip
    ax.legend(loc="lower right", fontsize=7, frameon=False, title="AUC [95% CI]",
              title_fontsize=7)  # fmt: skip
    ax = axes[1]
    p = predictive["prevalence"].to_numpy()
    for kind, colour in (("ppv", "tab:red"), ("npv", "tab:blue")):
        ax.plot(p, predictive[kind], "o-", color=colour, label=kind.upper())
        ax.fill_between(p, predictive[f"{kind}_low"], predictive[f"{kind}_high"], color=colour,
                        alpha=0.15, lw=0)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xticks(p, [f"{v:g}" for v in p * 100])
    ax.set(xlabel="prevalence (%)", ylabel="predictive value", ylim=(0, 1.02),
           title=f"at sensitivity {clinical['sensitivity']:.2f}, "
           f"specificity {clinical['specificity']:.2f}")  # fmt: skip
    ax.legend(fontsize=8, frameon=False)
    if calibration is not None:
        ax = axes[2]
        lp, is_case = calibration
        risk = 1 / (1 + np.exp(-np.clip(lp, -30, 30)))
        bins = min(5, max(2, is_case.size // 10))
        edges = np.quantile(risk, np.linspace(0, 1, bins + 1))
        which = np.clip(np.searchsorted(edges, risk, side="right") - 1, 0, bins - 1)
        pred = np.array([risk[which == b].mean() for b in range(bins) if np.any(which == b)])
        obs = np.array([is_case[which == b].mean() for b in range(bins) if np.any(which == b)])
        ax.plot(pred, obs, "o-", color="k", label=f"{bins} risk groups")
        ax.plot([0, 1], [0, 1], ":", color="0.6", label="ideal")
        ax.set(xlabel="predicted risk", ylabel="observed proportion of cases", xlim=(0, 1),
               ylim=(0, 1), title=f"calibration: intercept {clinical['calibration_intercept']:.2f}, "
               f"slope {clinical['calibration_slope']:.2f}")  # fmt: skip
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def summary_roc_figure(summary: pd.DataFrame, clinical: pd.DataFrame) -> Figure:
    """Vertical average of the validation cohorts' ROC curves with the min-max band."""
    fig, ax = subplots(figsize=(5.5, 5))
    ax.fill_between(summary["fpr"], summary["tpr_min"], summary["tpr_max"], step="post",
                    color="tab:blue", alpha=0.15, lw=0, label="range over cohorts")  # fmt: skip
    ax.step(summary["fpr"], summary["tpr_mean"], where="post", color="tab:blue", lw=2,
            label=f"mean of {int(summary['n_cohorts'].iloc[0])} cohorts")  # fmt: skip
    for row in clinical.itertuples(index=False):
        ax.plot([], [], " ", label=f"{row.cohort}: {row.auc:.2f} [{row.ci_low:.2f}, "
                f"{row.ci_high:.2f}] {_short(row.ci_method)}")  # fmt: skip
    ax.plot([0, 1], [0, 1], ":", color="0.6")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity",
           title="Summary ROC, external validation cohorts\n(vertical average, Fawcett 2006)")  # fmt: skip
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    return fig


__all__ = ["summary_roc_figure", "validation_figure"]
