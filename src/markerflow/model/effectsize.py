"""Standardised mean differences per gene (Hedges' g; paired: :func:`paired_g`), vectorised.

Method: Hedges & Olkin (1985), as used by MetaIntegrator (Haynes et al. 2017, ``effect.sizes``):

    s_pooled = sqrt(((n1 - 1) s1^2 + (n2 - 1) s2^2) / (n1 + n2 - 2))
    d        = (mean_case - mean_control) / s_pooled
    g        = d * J,   J = 1 - 3 / (4 (n1 + n2) - 9)
    se(g)    = sqrt((n1 + n2) / (n1 n2) + g^2 / (2 (n1 + n2 - 3.94)))

with sample variances (ddof = 1). Genes with zero pooled variance get NaN, not +/-inf.
"""

from __future__ import annotations

import warnings

import numpy as np


def hedges_g(values: np.ndarray, is_case: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hedges' g and its standard error for each row of ``values`` (genes x samples).

    ``is_case`` is a boolean vector over the columns; the other columns are the controls.
    Missing values (NaN) are excluded per gene, so group sizes may differ between genes.
    """
    values = np.asarray(values, dtype=np.float64)
    is_case = np.asarray(is_case, dtype=bool)
    if values.ndim != 2 or values.shape[1] != is_case.size:
        raise ValueError("values must be genes x samples with one is_case flag per sample")
    case, ctrl = values[:, is_case], values[:, ~is_case]
    n1 = np.sum(~np.isnan(case), axis=1).astype(np.float64)
    n2 = np.sum(~np.isnan(ctrl), axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing genes give NaN, not a warning
        m1, m2 = np.nanmean(case, axis=1), np.nanmean(ctrl, axis=1)
        v1 = np.nansum((case - m1[:, None]) ** 2, axis=1) / (n1 - 1)
        v2 = np.nansum((ctrl - m2[:, None]) ** 2, axis=1) / (n2 - 1)
        pooled = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
        d = (m1 - m2) / pooled
        g = d * (1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0))
        se = np.sqrt((n1 + n2) / (n1 * n2) + g**2 / (2.0 * (n1 + n2 - 3.94)))
    bad = ~np.isfinite(g) | (n1 < 2) | (n2 < 2)
    g[bad] = np.nan
    se[bad] = np.nan
    return g, se


def paired_g(
    values: np.ndarray, subject: np.ndarray, is_case: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised mean change for paired samples, per row of ``values`` (genes x samples).

    Method: the matched-groups d of Borenstein, Hedges, Higgins & Rothstein (2009), *Introduction
    to Meta-Analysis*, ch. 4 (eqs. 4.27-4.30; Becker 1988's d with the pre/post correlation r,
    Morris & DeShon 2002 "raw-score" metric), so that a within-subject cohort contributes on the
    same scale as Hedges' g of the between-subject cohorts (the SD is the within-group SD, not the
    SD of the differences that ``d_z`` uses). Over the ``n`` subjects with samples of both levels:

        diff_i   = case_i - control_i                 (a subject's samples of one level averaged)
        S_diff   = sd(diff)                           (ddof = 1)
        r        = cor(case, control)                 (Pearson, over the n subjects)
        S_within = S_diff / sqrt(2 (1 - r))
        d        = mean(diff) / S_within
        V_d      = (1 / n + d^2 / (2 n)) * 2 (1 - r)
        J        = 1 - 3 / (4 (n - 1) - 1)            (df = n - 1)
        g        = J d,   se(g) = J sqrt(V_d)

    ``subject`` names each column's subject, ``is_case`` marks the case columns (the other
    columns are controls; pass only the two levels' samples). A subject's several samples of one
    level are averaged first (NaN ignored); per gene only subjects observed at both levels count.
    Rows with fewer than 3 subjects, zero S_diff, or r = 1 give NaN. Returns ``(g, se, n)``.
    """
    values = np.asarray(values, dtype=np.float64)
    is_case = np.asarray(is_case, dtype=bool)
    subject = np.asarray(subject).astype(str)
    if values.ndim != 2 or values.shape[1] != is_case.size or subject.size != is_case.size:
        raise ValueError("values must be genes x samples with one subject and flag per sample")
    names, index = np.unique(subject, return_inverse=True)
    observed = ~np.isnan(values)
    filled = np.where(observed, values, 0.0)

    def level_means(mask: np.ndarray) -> np.ndarray:
        onehot = np.zeros((values.shape[1], names.size))
        onehot[np.flatnonzero(mask), index[mask]] = 1.0
        total = filled @ onehot
        count = observed.astype(np.float64) @ onehot
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / count, np.nan)

    case, ctrl = level_means(is_case), level_means(~is_case)
    both = ~np.isnan(case) & ~np.isnan(ctrl)
    n = both.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        c = np.where(both, case, np.nan)
        k = np.where(both, ctrl, np.nan)
        diff = c - k
        mean_diff = np.nanmean(diff, axis=1)
        s_diff = np.sqrt(np.nansum((diff - mean_diff[:, None]) ** 2, axis=1) / (n - 1))
        cc = c - np.nanmean(c, axis=1)[:, None]
        kc = k - np.nanmean(k, axis=1)[:, None]
        r = np.nansum(cc * kc, axis=1) / np.sqrt(
            np.nansum(cc**2, axis=1) * np.nansum(kc**2, axis=1)
        )
        s_within = s_diff / np.sqrt(2.0 * (1.0 - r))
        d = mean_diff / s_within
        v = (1.0 / n + d**2 / (2.0 * n)) * 2.0 * (1.0 - r)
        j = 1.0 - 3.0 / (4.0 * (n - 1.0) - 1.0)
        g = j * d
        se = j * np.sqrt(v)
    bad = ~np.isfinite(g) | ~np.isfinite(se) | (n < 3)
    g[bad] = np.nan
    se[bad] = np.nan
    return g, se, n.astype(int)


def comparison_effect_size(
    values: np.ndarray,
    condition: np.ndarray,
    case: str,
    control: str,
    subject: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The meta-analysis effect size of ``case`` vs ``control`` from the two levels' columns of
    ``values`` (genes x samples; ``condition`` one level per column, other levels ignored):
    Hedges' g (:func:`hedges_g`), or for a within-subject comparison (``subject`` given, one
    subject per column) the paired standardised mean change (:func:`paired_g`)."""
    condition = np.asarray(condition).astype(str)
    two = (condition == case) | (condition == control)
    is_case = (condition == case)[two]
    values = np.asarray(values, dtype=np.float64)[:, two]
    if subject is not None:
        g, se, _ = paired_g(values, np.asarray(subject)[two], is_case)
        return g, se
    return hedges_g(values, is_case)
