"""Multiple-testing correction shared by every stage and engine."""

from __future__ import annotations

import numpy as np


def _bh_sorted_order(p: np.ndarray) -> np.ndarray:
    """``scipy.stats.false_discovery_control(p, method="bh")`` (scipy 1.17) on a NaN-free 1-d array,
    the same operations in the same order: sort, multiply by ``m / i``, cumulative minimum from the
    largest p down, restore the order, clip to [0, 1]. Ported so that a job computing adjusted
    p-values does not import ``scipy.stats`` (~0.5 s of start-up, issue 20); equal to scipy's
    result bit for bit (tests/test_rcompat.py).
    """
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must be between 0 and 1")
    m = p.size
    if m <= 1:
        return p
    order = np.argsort(p, kind="stable")
    ps = p[order]
    ps *= m / np.arange(1, m + 1, dtype=np.float64)
    np.minimum.accumulate(ps[::-1], out=ps[::-1])
    out = np.empty_like(ps)
    out[order] = ps
    return np.clip(out, 0.0, 1.0)


def p_adjust_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values, as R ``p.adjust(p, "BH")`` (Benjamini & Hochberg 1995).

    Computes R's ``pmin(1, cummin(n / i * p[o]))`` in the order of operations of
    ``scipy.stats.false_discovery_control`` (ported, :func:`_bh_sorted_order`), which agrees with R
    to the last bit on NaN-free input (tests/test_rcompat.py); NaN stays NaN and, like R's
    ``na.rm``, does not count towards the number of tests. An all-NaN or empty input gives all NaN.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = _bh_sorted_order(p[ok])
    return out
