"""Diagnostic performance of a score: AUC intervals, thresholds, predictive values, calibration.

Numpy in, numpy out (no pandas, no Snakemake). Scores are "cases high"; ``is_case`` is boolean.
Every function states its method and reference.

AUC intervals
-------------
``delong_ci``
    DeLong, DeLong & Clarke-Pearson (1988), structural components by Sun & Xu's (2014) midranks,
    ``AUC -/+ z sqrt(var)`` clipped to [0, 1]: ``pROC::ci.auc(method = "delong")``. It collapses
    to [1, 1] at AUC = 1 (every structural component is 1, variance 0) and under-covers when a
    class has few samples.
``newcombe_ci``
    Newcombe (2006), *Confidence intervals for an effect size measure based on the Mann–Whitney
    statistic. Part 2: asymptotic methods and evaluation*, Stat Med 25:559–573, **method 5**: the
    score-type interval built on Hanley & McNeil's (1982) variance with both sample sizes replaced
    by their mean ``N* = (m + n) / 2``::

        V(θ) = θ (1 - θ) / (m n) * [ (2N* - 1) - 3 (N* - 1) / ((2 - θ)(1 + θ)) ]

    and the interval is ``{θ : (AUC - θ)^2 <= z^2 V(θ)}``, the variance evaluated at the candidate
    θ (not at the estimate), so it neither collapses at AUC 0 or 1 nor leaves [0, 1]. Newcombe
    found method 5 to have coverage close to nominal for small samples; ``tests/test_performance.py``
    checks >= 93 % at nominal 95 % for 5 + 5 and 10 + 10 binormal samples at several true AUCs.
``auc_interval``
    The rule the performance table uses: Newcombe method 5 when a class has fewer than
    ``small = 10`` samples or the AUC is 0 or 1, else DeLong (as pROC); returns which (``ci_method``).

Comparison of two correlated AUCs
---------------------------------
``delong_paired_test``: DeLong et al. (1988) as ``pROC::roc.test(method = "delong", paired =
TRUE)``: ``z = (A1 - A2) / sqrt(L S L')`` with ``S = S10 / m + S01 / n`` the covariance matrices
(ddof = 1) of the structural components, ``L = (1, -1)``, two-sided normal p. Deviation from pROC's
default: both directions are fixed (cases high), no ``direction = "auto"`` flip, because a
signature's direction is part of the locked model.

Threshold, sensitivity, specificity, predictive values
------------------------------------------------------
``youden_threshold``: the cut maximising ``sensitivity + specificity - 1`` (Youden 1950) on the
given (discovery) scores; the cut is placed midway between the two adjacent distinct scores and a
sample is called positive when ``score >= threshold``; ties in J resolve to the lowest threshold.
``wilson_ci``: Wilson (1927) score interval for a proportion. ``predictive_values``: Bayes' rule,
``PPV = se p / (se p + (1 - sp)(1 - p))``, ``NPV = sp (1 - p) / (sp (1 - p) + (1 - se) p)``, with a
plug-in interval from the Wilson limits of se and sp (PPV and NPV are monotone in both; this
treats se and sp as independent, so it is approximate, not exact).

Calibration
-----------
``calibration``: logistic recalibration (Cox 1958; Van Calster et al. 2016, J Clin Epidemiol
74:167–176): slope = b of ``logit P(y) = a + b lp``; calibration intercept ("calibration in the
large") = a of ``logit P(y) = a + offset(lp)``. Ideal: intercept 0, slope 1. Fitted by Newton–
Raphson (the maximum-likelihood fit R's ``glm`` gives); Wald 95 % intervals from the observed
information. Undefined (NaN) when the classes separate completely.

Summary ROC across cohorts
--------------------------
``summary_roc``: vertical averaging of the per-cohort empirical ROC curves (Fawcett 2006, Pattern
Recognit Lett 27:861–874): sensitivity of each cohort at a fixed grid of false-positive rates,
averaged with equal cohort weights, with the pointwise min/max band. Each cohort keeps its own
score scale (no pooling of raw scores across cohorts).
"""

from __future__ import annotations

import numpy as np

from markerflow.engines.roc import delong_auc

#: Fewer samples than this in a class (or AUC 0 or 1): the table uses Newcombe's interval.
SMALL_CLASS = 10
#: Prevalences at which PPV and NPV are reported.
PREVALENCES = (0.01, 0.05, 0.10, 0.20, 0.50)


def _z(level: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(0.5 + level / 2.0))


def _split(scores: np.ndarray, is_case: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    is_case = np.asarray(is_case, dtype=bool)
    if scores.shape[-1] != is_case.size:
        raise ValueError("scores and is_case differ in length")
    return scores[..., is_case], scores[..., ~is_case]


def structural_components(
    scores: np.ndarray, is_case: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUC, V10 (k x m) and V01 (k x n) of every row of ``scores`` (k x samples).

    Sun & Xu (2014) midranks: ``V10_i = (rank of case i among all - rank among cases) / n``,
    ``V01_j = 1 - (rank of control j among all - rank among controls) / m``.
    """
    from scipy import stats

    x, y = _split(np.atleast_2d(scores), is_case)
    m, n = x.shape[1], y.shape[1]
    tz = stats.rankdata(np.concatenate([x, y], axis=1), axis=1)
    tx, ty = stats.rankdata(x, axis=1), stats.rankdata(y, axis=1)
    auc = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    return auc, (tz[:, :m] - tx) / n, 1.0 - (tz[:, m:] - ty) / m


def delong_ci(scores: np.ndarray, is_case: np.ndarray, level: float = 0.95) -> np.ndarray:
    """``[auc, var, low, high]`` by DeLong (pROC ``ci.auc(method="delong")``); NaN if a class < 2.

    The numbers of :func:`markerflow.engines.roc.delong_auc`, as an array."""
    r = delong_auc(scores, is_case, level)
    return np.array([r.auc, r.var, r.ci_low, r.ci_high])


def newcombe_variance(theta: np.ndarray, m: int, n: int) -> np.ndarray:
    """Hanley–McNeil variance of the AUC with m and n replaced by N* = (m + n) / 2 (Newcombe 2006)."""
    theta = np.asarray(theta, dtype=np.float64)
    ns = (m + n) / 2.0
    return (
        theta
        * (1.0 - theta)
        / (m * n)
        * ((2 * ns - 1) - 3 * (ns - 1) / ((2 - theta) * (1 + theta)))
    )


def newcombe_ci(auc: np.ndarray, m: int, n: int, level: float = 0.95) -> np.ndarray:
    """Newcombe (2006) method 5 score interval(s) for AUC value(s); returns ``(..., 2)`` [low, high].

    Solves ``(auc - θ)^2 = z^2 V(θ)`` on [0, auc] and [auc, 1] by vectorised bisection (60 halvings,
    i.e. to machine precision); ``f(θ) = (auc - θ)^2 - z^2 V(θ)`` is >= 0 at 0 and 1 and <= 0 at auc.
    """
    auc = np.asarray(auc, dtype=np.float64)
    z2 = _z(level) ** 2

    def f(theta: np.ndarray) -> np.ndarray:
        return (auc - theta) ** 2 - z2 * newcombe_variance(theta, m, n)

    def root(lo: np.ndarray, hi: np.ndarray, rising: bool) -> np.ndarray:
        lo, hi = lo.copy(), hi.copy()
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            pos = f(mid) > 0
            go_hi = pos if rising else ~pos  # move the end whose side the sign change is not on
            hi = np.where(go_hi, mid, hi)
            lo = np.where(go_hi, lo, mid)
        return 0.5 * (lo + hi)

    low = root(np.zeros_like(auc), auc.copy(), rising=False)
    high = root(auc.copy(), np.ones_like(auc), rising=True)
    low = np.where(auc <= 0, 0.0, low)
    high = np.where(auc >= 1, 1.0, high)
    return np.stack([low, high], axis=-1)


def auc_interval(
    scores: np.ndarray, is_case: np.ndarray, level: float = 0.95, small: int = SMALL_CLASS
) -> tuple[np.ndarray, str]:
    """``[auc, low, high]`` and the interval method used (``"DeLong"`` or ``"Newcombe (2006)
    method 5"``): Newcombe when a class has fewer than ``small`` samples or AUC is 0 or 1."""
    is_case = np.asarray(is_case, dtype=bool)
    m, n = int(is_case.sum()), int((~is_case).sum())
    if m < 1 or n < 1:
        return np.full(3, np.nan), "none"
    auc = structural_components(scores, is_case)[0][0]
    if m < small or n < small or auc <= 0 or auc >= 1 or m < 2 or n < 2:
        return np.concatenate([[auc], newcombe_ci(auc, m, n, level)]), "Newcombe (2006) method 5"
    d = delong_ci(scores, is_case, level)
    return np.array([d[0], d[2], d[3]]), "DeLong"


def delong_paired_test(
    scores_a: np.ndarray, scores_b: np.ndarray, is_case: np.ndarray
) -> np.ndarray:
    """``[auc_a, auc_b, z, p]``: DeLong's test of two correlated AUCs on the same samples (pROC
    ``roc.test(method="delong", paired=TRUE)``, directions fixed: cases high). z and p are NaN when
    the variance of the difference is 0 (e.g. both AUCs 1)."""
    from scipy import stats

    is_case = np.asarray(is_case, dtype=bool)
    m, n = int(is_case.sum()), int((~is_case).sum())
    if m < 2 or n < 2:
        return np.full(4, np.nan)
    auc, v10, v01 = structural_components(np.vstack([scores_a, scores_b]), is_case)
    s = np.cov(v10, ddof=1) / m + np.cov(v01, ddof=1) / n
    lvar = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    if not lvar > 0:
        return np.array([auc[0], auc[1], np.nan, np.nan])
    z = (auc[0] - auc[1]) / np.sqrt(lvar)
    return np.array([auc[0], auc[1], z, 2 * stats.norm.sf(abs(z))])


def youden_threshold(scores: np.ndarray, is_case: np.ndarray) -> float:
    """Cut maximising Youden's J on these scores, midway between adjacent distinct scores."""
    scores = np.asarray(scores, dtype=np.float64)
    is_case = np.asarray(is_case, dtype=bool)
    ok = np.isfinite(scores)
    scores, is_case = scores[ok], is_case[ok]
    u = np.unique(scores)
    if u.size < 2 or is_case.all() or not is_case.any():
        return float(u[0]) if u.size else float("nan")
    cuts = np.concatenate([[u[0]], (u[1:] + u[:-1]) / 2.0])
    pos = scores[None, :] >= cuts[:, None]
    sens = (pos & is_case).sum(axis=1) / is_case.sum()
    spec = (~pos & ~is_case).sum(axis=1) / (~is_case).sum()
    return float(cuts[int(np.argmax(sens + spec - 1.0))])


def wilson_ci(successes: np.ndarray, total: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Wilson score interval(s) ``(..., 2)`` for ``successes / total`` (NaN where total = 0)."""
    x = np.asarray(successes, dtype=np.float64)
    t = np.asarray(total, dtype=np.float64)
    z = _z(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / t
        denom = 1 + z**2 / t
        centre = (p + z**2 / (2 * t)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / t + z**2 / (4 * t**2))
    return np.stack([np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)], axis=-1)


def sens_spec(
    scores: np.ndarray, is_case: np.ndarray, threshold: float, level: float = 0.95
) -> np.ndarray:
    """``[[sens, low, high], [spec, low, high]]`` at ``score >= threshold`` (Wilson intervals)."""
    x, y = _split(scores, is_case)
    tp, tn = np.sum(x >= threshold), np.sum(y < threshold)
    ci = wilson_ci(np.array([tp, tn]), np.array([x.size, y.size]), level)
    with np.errstate(invalid="ignore", divide="ignore"):
        point = np.array([tp / x.size, tn / y.size])
    return np.column_stack([point, ci])


def predictive_values(
    sens: np.ndarray, spec: np.ndarray, prevalence: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """PPV and NPV (Bayes' rule) for every prevalence; ``sens``/``spec`` are ``[point, low, high]``.

    Returns two arrays (prevalences x 3): point, low, high (plug-in from the se/sp limits)."""
    se = np.asarray(sens, dtype=np.float64)
    sp = np.asarray(spec, dtype=np.float64)
    p = np.asarray(PREVALENCES if prevalence is None else prevalence, dtype=np.float64)[:, None]
    se_lh, sp_lh = se[[0, 1, 2]], sp[[0, 1, 2]]  # point, low, high of each
    with np.errstate(invalid="ignore", divide="ignore"):
        ppv = se_lh * p / (se_lh * p + (1 - sp_lh) * (1 - p))
        npv = sp_lh * (1 - p) / (sp_lh * (1 - p) + (1 - se_lh) * p)
    return ppv, npv


def _logistic_fit(
    x: np.ndarray, y: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regression by Newton–Raphson; (coef, covariance)."""
    beta = np.zeros(x.shape[1])
    for _ in range(100):
        eta = np.clip(offset + x @ beta, -30, 30)
        mu = 1.0 / (1.0 + np.exp(-eta))
        info = (x * (mu * (1 - mu))[:, None]).T @ x
        step = np.linalg.lstsq(info, x.T @ (y - mu), rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    eta = np.clip(offset + x @ beta, -30, 30)
    mu = 1.0 / (1.0 + np.exp(-eta))
    info = (x * (mu * (1 - mu))[:, None]).T @ x
    return beta, np.linalg.pinv(info)


def calibration(lp: np.ndarray, is_case: np.ndarray, level: float = 0.95) -> np.ndarray:
    """``[[intercept, low, high], [slope, low, high]]`` of logistic recalibration of the linear
    predictor ``lp`` (log-odds; Cox 1958, Van Calster et al. 2016). The slope is NaN on complete
    separation (its MLE is infinite); the intercept (slope fixed at 1) is finite with both classes."""
    lp = np.asarray(lp, dtype=np.float64)
    y = np.asarray(is_case, dtype=bool).astype(np.float64)
    out = np.full((2, 3), np.nan)
    if y.min() == y.max() or np.ptp(lp) == 0:
        return out
    x, z = np.column_stack([np.ones_like(lp), lp]), _z(level)
    a, cov_a = _logistic_fit(x[:, :1], y, lp)  # slope fixed at 1: finite with both classes
    out[0] = [a[0], a[0] - z * np.sqrt(cov_a[0, 0]), a[0] + z * np.sqrt(cov_a[0, 0])]
    if lp[y == 1].min() > lp[y == 0].max() or lp[y == 1].max() < lp[y == 0].min():
        return out  # complete separation: the slope's MLE is infinite
    b, cov = _logistic_fit(x, y, np.zeros_like(lp))
    out[1] = [b[1], b[1] - z * np.sqrt(cov[1, 1]), b[1] + z * np.sqrt(cov[1, 1])]
    return out


def roc_curve(scores: np.ndarray, is_case: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical ROC (fpr, tpr), one point per distinct score (ties move diagonally), from (0, 0)."""
    scores = np.asarray(scores, dtype=np.float64)
    is_case = np.asarray(is_case, dtype=bool)
    u = np.unique(scores)[::-1]
    pos = scores[None, :] >= u[:, None]
    tpr = (pos & is_case).sum(axis=1) / max(is_case.sum(), 1)
    fpr = (pos & ~is_case).sum(axis=1) / max((~is_case).sum(), 1)
    return np.concatenate([[0.0], fpr]), np.concatenate([[0.0], tpr])


def summary_roc(
    curves: list[tuple[np.ndarray, np.ndarray]], grid: np.ndarray | None = None
) -> np.ndarray:
    """Vertical average of the ROC curves of several cohorts (Fawcett 2006): rows fpr, mean tpr,
    min tpr, max tpr over ``grid`` (default 101 points); each curve is (scores, is_case).

    At each fpr the sensitivity of a cohort is the highest tpr reached at or below that fpr (the
    step function of the empirical curve)."""
    grid = np.linspace(0, 1, 101) if grid is None else np.asarray(grid, dtype=np.float64)
    rows = []
    for scores, is_case in curves:
        fpr, tpr = roc_curve(scores, is_case)
        reach = fpr[None, :] <= grid[:, None] + 1e-12
        rows.append(np.max(np.where(reach, tpr[None, :], 0.0), axis=1))
    tprs = np.vstack(rows) if rows else np.full((1, grid.size), np.nan)
    return np.vstack([grid, tprs.mean(axis=0), tprs.min(axis=0), tprs.max(axis=0)])


__all__ = [
    "PREVALENCES",
    "SMALL_CLASS",
    "auc_interval",
    "calibration",
    "delong_ci",
    "delong_paired_test",
    "newcombe_ci",
    "newcombe_variance",
    "predictive_values",
    "roc_curve",
    "sens_spec",
    "structural_components",
    "summary_roc",
    "wilson_ci",
    "youden_threshold",
]
