"""Storey's q-values as clusterProfiler reports them (``qvalue`` column of ``enricher`` /
``enrichGO`` / ``compareCluster`` results).

clusterProfiler (DOSE's ``enricher_internal``) calls ``qvalue::qvalue(p = pvalue, lambda = 0.05,
pi0.method = "bootstrap")`` inside ``tryCatch`` and reports ``NA`` for every term when it fails.
With one ``lambda`` value qvalue 2.x's ``pi0est`` uses neither the smoother nor the bootstrap (those
choose among several lambdas): ``pi0 = min(1, mean(p >= lambda) / (1 - lambda))``, and it stops
with an error when ``pi0 <= 0`` (every p-value below lambda). ``qvalue`` then computes
``pi0 * pmin(1, cummin(p[o] * m / i))`` over the p-values in decreasing order (``pfdr = FALSE``),
``NA`` p-values left out and kept as ``NA``. Its local-FDR step (``lfdr.out = TRUE``) runs
``density()`` on the probit-transformed p-values, which fails for fewer than two p-values; then
the whole call fails and clusterProfiler writes ``NA`` too.

Reference: Storey JD (2002) JRSS B 64:479; Storey & Tibshirani (2003) PNAS 100:9440; qvalue
2.30 (Bioconductor 3.16) ``pi0est`` / ``qvalue``; DOSE 3.24 ``enricher_internal``. Not reproduced:
the rare failures of ``lfdr``'s ``smooth.spline`` (not seen with two or more distinct inputs).
"""

from __future__ import annotations

import numpy as np

from markerflow.errors import AnalysisError

#: the lambda clusterProfiler passes to qvalue
CLUSTERPROFILER_LAMBDA = 0.05


def pi0_single_lambda(p: np.ndarray, lam: float = CLUSTERPROFILER_LAMBDA) -> float:
    """qvalue's ``pi0est(p, lambda = lam)`` for one lambda (missing p-values removed); an
    :class:`AnalysisError` where ``pi0est`` stops (p outside [0, 1], lambda outside [0, 1),
    ``pi0 <= 0``)."""
    p = np.asarray(p, dtype=np.float64)
    p = p[~np.isnan(p)]
    if p.size == 0:
        raise AnalysisError("qvalue: no p-values")
    if p.min() < 0 or p.max() > 1:
        raise AnalysisError("qvalue: p-values not in valid range [0, 1]")
    if not 0 <= lam < 1:
        raise AnalysisError("qvalue: lambda must be within [0, 1)")
    pi0 = min(float(np.mean(p >= lam)) / (1 - lam), 1.0)
    if pi0 <= 0:
        raise AnalysisError("qvalue: the estimated pi0 <= 0")
    return pi0


def qvalue(p: np.ndarray, lam: float = CLUSTERPROFILER_LAMBDA) -> np.ndarray:
    """``qvalue(p, lambda = lam)$qvalues`` (module docstring); raises :class:`AnalysisError`
    where qvalue would stop."""
    p_in = np.asarray(p, dtype=np.float64)
    out = np.full(p_in.shape, np.nan)
    keep = ~np.isnan(p_in)
    values = p_in[keep]
    pi0 = pi0_single_lambda(values, lam)
    m = values.size
    if m < 2:  # lfdr's density() needs at least two points
        raise AnalysisError("qvalue: need at least 2 p-values (local FDR density)")
    o = np.argsort(-values, kind="mergesort")  # order(p, decreasing = TRUE): ties in input order
    i = np.arange(m, 0, -1, dtype=np.float64)
    q_sorted = pi0 * np.minimum(1.0, np.minimum.accumulate(values[o] * m / i))
    q = np.empty(m)
    q[o] = q_sorted
    out[keep] = q
    return out


def clusterprofiler_qvalue(p: np.ndarray) -> np.ndarray:
    """The ``qvalue`` column clusterProfiler writes: :func:`qvalue` with lambda 0.05, all ``NA``
    where qvalue fails."""
    try:
        return qvalue(p)
    except AnalysisError:
        return np.full(np.shape(p), np.nan)
