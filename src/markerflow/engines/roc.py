"""ROC numerics on numpy arrays: per-row AUC, DeLong's AUC variance and CI, the empirical ROC curve.

* :func:`auc_rows` - Mann-Whitney AUC (ties count 1/2) of every row of a scores matrix, vectorised
  over rows (``sklearn.metrics.roc_auc_score`` row by row, without the loop).
* :func:`delong_auc` - AUC with DeLong et al. (1988) variance by the fast midrank algorithm of
  Sun & Xu (2014), as ``pROC::ci.auc(method = "delong")`` (CI clipped to [0, 1]).
* :func:`roc_curve` - the empirical ROC curve (one step per sample, ties in score order of input),
  the curve the figures draw.

Cases score high. Inputs are numpy arrays (scores, boolean case flags); outputs numpy or floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AucResult:
    """AUC, its DeLong variance and confidence interval."""

    auc: float
    var: float
    ci_low: float
    ci_high: float


def auc_rows(scores: np.ndarray, is_case: np.ndarray) -> np.ndarray:
    """AUC (Mann–Whitney, ties count 1/2) of every row of ``scores`` (k x samples), cases high."""
    from scipy import stats

    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    is_case = np.asarray(is_case, dtype=bool)
    m, n = int(is_case.sum()), int((~is_case).sum())
    if m == 0 or n == 0:
        return np.full(scores.shape[0], np.nan)
    ranks = stats.rankdata(scores, axis=1)
    return (ranks[:, is_case].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)


def delong_auc(scores: np.ndarray, is_case: np.ndarray, level: float = 0.95) -> AucResult:
    """AUC with DeLong's variance and CI, by Sun & Xu's (2014) fast midrank algorithm.

    V10_i = (rank of case i among all - rank among cases) / n_controls,
    V01_j = 1 - (rank of control j among all - rank among controls) / n_cases,
    var = var(V10) / m + var(V01) / n (ddof = 1); CI = AUC -/+ z var^(1/2), clipped to [0, 1]
    (pROC ``ci.auc(method="delong")``).
    """
    from scipy import stats

    scores = np.asarray(scores, dtype=np.float64)
    is_case = np.asarray(is_case, dtype=bool)
    x, y = scores[is_case], scores[~is_case]
    m, n = x.size, y.size
    if m < 2 or n < 2:
        return AucResult(np.nan, np.nan, np.nan, np.nan)
    tz = stats.rankdata(np.concatenate([x, y]))
    tx, ty = stats.rankdata(x), stats.rankdata(y)
    auc = (tz[:m].sum() - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    var = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    half = stats.norm.ppf(0.5 + level / 2.0) * np.sqrt(var)
    return AucResult(float(auc), float(var), float(max(0.0, auc - half)),
                     float(min(1.0, auc + half)))  # fmt: skip


def roc_curve(scores: np.ndarray, is_case: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical ROC curve: (false positive rates, true positive rates), starting at (0, 0).

    Samples are taken in decreasing score (stable sort, so tied samples keep their input order);
    each step moves up for a case, right for a control.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    lab = np.asarray(is_case, dtype=bool)[order]
    tpr = np.concatenate([[0.0], np.cumsum(lab) / max(lab.sum(), 1)])
    fpr = np.concatenate([[0.0], np.cumsum(~lab) / max((~lab).sum(), 1)])
    return fpr, tpr
