"""Library-size normalisation, counts per million and the expression filter of edgeR.

A numpy re-implementation of Bioconductor edgeR 3.40.2 (Robinson, McCarthy & Smyth 2010,
Bioinformatics 26:139), mirrored from the R source so that results agree with R to rounding:

- :func:`calc_norm_factors` - ``calcNormFactors(method = "TMM" | "none")`` with
  ``.calcFactorTMM`` (Robinson & Oshlack 2010, Genome Biology 11:R25): trimmed mean of M-values
  with precision weights against a reference sample, the sample whose upper-quartile factor is
  closest to the mean of the upper-quartile factors (``refColumn = NULL``), or the sample with the
  largest ``sum(sqrt(counts))`` when the median upper quartile is zero; factors scaled to a
  geometric mean of one.
- :func:`cpm` - ``cpm.default(y, lib.size, log, prior.count)`` including its C++ kernel
  ``calculate_cpm_log``: the prior count is scaled by ``lib.size / mean(lib.size)`` and twice the
  scaled prior is added to each library size.
- :func:`filter_by_expr` - ``filterByExpr.default`` (Chen, Lun & Smyth 2016, F1000Research 5:1438).

Deviations: sums are numpy's pairwise sums instead of R's long-double accumulation (agreement
~1e-15 relative); the trimming selects by order statistics (``np.partition``) instead of ranking
(same set of genes as R's ``rank``). The loop in :func:`calc_norm_factors` is over samples.
"""

from __future__ import annotations

import math

import numpy as np

from markerflow.errors import InputError
from markerflow.rcompat.qr import estimable_columns

__all__ = ["calc_norm_factors", "cpm", "filter_by_expr", "hat_values"]


def _check_counts(counts: np.ndarray) -> np.ndarray:
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim != 2:
        raise InputError("counts must be a 2-d genes x samples matrix")
    if np.isnan(y).any():
        raise InputError("NA counts are not permitted", hint="replace missing counts by 0")
    return y


def _upper_quartile_factors(x: np.ndarray, lib_size: np.ndarray, p: float = 0.75) -> np.ndarray:
    """edgeR's ``.calcFactorQuantile``: the ``p`` quantile (R type 7) of each column / lib size."""
    return np.quantile(x, p, axis=0) / lib_size


def _rank_within(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``rank(v) >= lo & rank(v) <= hi`` for R's average ranks, in O(n) without sorting.

    The average rank is non-decreasing in the value, so the kept values form an interval. Its
    lower end is the ``lo``-th smallest value ``a`` if the average rank of ``a``'s ties (``(first
    + last) / 2`` of their positions) reaches ``lo``, else the values above ``a``; likewise for the
    upper end with the ``hi``-th smallest value. Equal to ranking with ``scipy.stats.rankdata``.
    """
    n = v.size
    if lo > hi or lo > n or hi < 1:
        return np.zeros(n, dtype=bool)
    lo_c, hi_c = max(lo, 1), min(hi, n)
    part = np.partition(v, (lo_c - 1, hi_c - 1))
    a, b = part[lo_c - 1], part[hi_c - 1]
    ra = (np.count_nonzero(v < a) + 1 + np.count_nonzero(v <= a)) / 2
    rb = (np.count_nonzero(v < b) + 1 + np.count_nonzero(v <= b)) / 2
    keep = (v >= a) if ra >= lo else (v > a)
    keep &= (v <= b) if rb <= hi else (v < b)
    return keep


def _tmm_factor(
    obs: np.ndarray,
    n_obs: float,
    ref: tuple[np.ndarray, np.ndarray, np.ndarray],
    logratio_trim: float,
    sum_trim: float,
    do_weighting: bool,
    a_cutoff: float,
) -> float:
    """edgeR's ``.calcFactorTMM`` for one sample against the reference (vectorised over genes).

    ``ref`` holds the reference's ``ref / nR``, ``log2(ref / nR)`` and ``(nR - ref) / nR / ref``,
    computed once for all samples (the same operations as R, so the same values).
    """
    ref_p, log_ref, v_ref = ref
    with np.errstate(divide="ignore", invalid="ignore"):
        obs_p = obs / n_obs
        log_r = np.log2(obs_p / ref_p)
        abs_e = (np.log2(obs_p) + log_ref) / 2
        v = (n_obs - obs) / n_obs / obs + v_ref
    fin = np.isfinite(log_r) & np.isfinite(abs_e) & (abs_e > a_cutoff)
    log_r, abs_e, v = log_r[fin], abs_e[fin], v[fin]
    if log_r.size == 0 or np.max(np.abs(log_r)) < 1e-6:
        return 1.0
    n = log_r.size
    lo_l = math.floor(n * logratio_trim) + 1
    hi_l = n + 1 - lo_l
    lo_s = math.floor(n * sum_trim) + 1
    hi_s = n + 1 - lo_s
    keep = _rank_within(log_r, lo_l, hi_l) & _rank_within(abs_e, lo_s, hi_s)
    if do_weighting:
        lk, vk = log_r[keep], v[keep]
        ok = ~np.isnan(lk / vk)
        f = float(np.sum((lk / vk)[ok])) / float(np.sum((1 / vk)[~np.isnan(1 / vk)]))
    else:
        lk = log_r[keep]
        lk = lk[~np.isnan(lk)]
        f = float(np.mean(lk)) if lk.size else math.nan
    if math.isnan(f):
        f = 0.0
    return float(2.0**f)


def calc_norm_factors(
    counts: np.ndarray,
    lib_size: np.ndarray | None = None,
    method: str = "TMM",
    ref_column: int | None = None,
    logratio_trim: float = 0.3,
    sum_trim: float = 0.05,
    do_weighting: bool = True,
    a_cutoff: float = -1e10,
) -> np.ndarray:
    """Normalisation factors, as ``edgeR::calcNormFactors(counts, lib.size, method)`` (3.40).

    ``counts`` is genes x samples; ``method`` is ``"TMM"`` or ``"none"``. Rows that are zero in
    every sample are ignored; with one sample or no non-zero row every factor is 1. The reference
    sample (``ref_column``, 0-based) defaults to R's rule (see the module docstring). The effective
    library sizes are ``lib_size * factors``.
    """
    x = _check_counts(counts)
    nsamples = x.shape[1]
    if lib_size is None:
        lib = x.sum(axis=0)
    else:
        lib = np.resize(np.asarray(lib_size, dtype=np.float64), nsamples)
        if np.isnan(lib).any():
            raise InputError("NA library sizes are not permitted")
    if method not in ("TMM", "none"):
        raise InputError(f"unknown normalisation method {method!r}", hint="use 'TMM' or 'none'")
    allzero = (x > 0).sum(axis=1) == 0
    if allzero.any():
        x = x[~allzero]
    if x.shape[0] == 0 or nsamples == 1:
        method = "none"
    if method == "none":
        return np.ones(nsamples)
    if ref_column is None:
        f75 = _upper_quartile_factors(x, lib)
        if np.median(f75) < 1e-20:
            ref_column = int(np.argmax(np.sqrt(x).sum(axis=0)))
        else:
            ref_column = int(np.argmin(np.abs(f75 - np.mean(f75))))
    xt = np.ascontiguousarray(x.T)  # one contiguous row per sample
    ref, n_ref = xt[ref_column], float(lib[ref_column])
    with np.errstate(divide="ignore", invalid="ignore"):
        ref_p = ref / n_ref
        ref_terms = (ref_p, np.log2(ref_p), (n_ref - ref) / n_ref / ref)
    f = np.array(
        [
            _tmm_factor(
                xt[i], float(lib[i]), ref_terms, logratio_trim, sum_trim, do_weighting, a_cutoff
            )
            for i in range(nsamples)
        ]
    )
    return f / math.exp(float(np.mean(np.log(f))))


def cpm(
    counts: np.ndarray,
    lib_size: np.ndarray | None = None,
    log: bool = False,
    prior_count: float = 2.0,
) -> np.ndarray:
    """Counts per million, as ``edgeR::cpm(counts, lib.size, log, prior.count)`` (3.40).

    ``lib_size`` defaults to the column sums (pass ``colSums * norm_factors`` for normalised CPM,
    as ``cpm.DGEList``). With ``log=True``: ``log2((y + p_j) / (L_j + 2 p_j) * 1e6)`` with the
    prior ``p_j = prior_count * L_j / mean(L)``, computed as R's C++ kernel does (natural logs,
    divided by ``log(2)``); a non-positive ``y + p_j`` gives NaN.
    """
    y = _check_counts(counts)
    lib = y.sum(axis=0) if lib_size is None else np.asarray(lib_size, dtype=np.float64)
    if lib.shape != (y.shape[1],):
        raise InputError(
            f"lib_size has {lib.size} values but the matrix has {y.shape[1]} samples",
            hint="give one library size per sample",
        )
    if not np.all(np.isfinite(lib)) or np.any(lib <= 0):
        raise InputError("library sizes should be finite and positive")
    if not log:
        return y * (1e6 / lib)[None, :]
    if not math.isfinite(prior_count) or prior_count < 0:
        raise InputError("prior counts must be finite non-negative values")
    prior = prior_count * lib / np.mean(lib)
    offset = np.log(lib + 2 * prior)
    val = y + prior[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (np.log(val) - offset[None, :] + math.log(1e6)) / math.log(2)
    out[~(val > 0)] = np.nan
    return out


def hat_values(design: np.ndarray, intercept: bool = True) -> np.ndarray:
    """Leverages of a design, as R ``stats::hat(design, intercept)``: the diagonal of the
    projection onto the column space of ``cbind(1, design)`` (rank by LINPACK's rule)."""
    x = np.asarray(design, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if intercept:
        x = np.column_stack([np.ones(x.shape[0]), x])
    est = estimable_columns(x)
    q, _ = np.linalg.qr(x[:, est])
    return np.einsum("ij,ij->i", q, q)


def filter_by_expr(
    counts: np.ndarray,
    group: np.ndarray | None = None,
    design: np.ndarray | None = None,
    lib_size: np.ndarray | None = None,
    min_count: float = 10,
    min_total_count: float = 15,
    large_n: float = 10,
    min_prop: float = 0.7,
) -> np.ndarray:
    """Genes worth testing, as ``edgeR::filterByExpr.default`` (3.40); a boolean keep vector.

    A gene is kept when its CPM is at least ``min_count / median(lib_size) * 1e6`` in at least
    ``m`` samples and its total count is at least ``min_total_count`` (tolerance 1e-14). ``m`` is
    the smallest group size (``group``), else ``1 / max(hat(design))`` (``design``), else the
    number of samples; above ``large_n`` it becomes ``large_n + (m - large_n) * min_prop``.
    """
    y = _check_counts(counts)
    lib = y.sum(axis=0) if lib_size is None else np.asarray(lib_size, dtype=np.float64)
    if group is None:
        if design is None:
            min_size = float(y.shape[1])
        else:
            min_size = 1.0 / float(np.max(hat_values(design)))
    else:
        _, n = np.unique(np.asarray(group).astype(str), return_counts=True)
        min_size = float(n[n > 0].min())
    if min_size > large_n:
        min_size = large_n + (min_size - large_n) * min_prop
    cutoff = min_count / float(np.median(lib)) * 1e6
    values = cpm(y, lib_size=lib)
    tol = 1e-14
    keep_cpm = (values >= cutoff).sum(axis=1) >= (min_size - tol)
    keep_total = y.sum(axis=1) >= (min_total_count - tol)
    return np.asarray(keep_cpm & keep_total)
