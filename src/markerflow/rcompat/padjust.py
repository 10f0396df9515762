"""Multiple-testing correction shared by every stage and engine."""

from __future__ import annotations

import numpy as np
from scipy import stats


def p_adjust_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values, as R ``p.adjust(p, "BH")`` (Benjamini & Hochberg 1995).

    ``scipy.stats.false_discovery_control`` computes R's ``pmin(1, cummin(n / i * p[o]))`` in the
    same order of operations and agrees with R to the last bit on NaN-free input
    (tests/test_rcompat.py); this wrapper keeps NaN as NaN and, like R's ``na.rm``, does not count
    it towards the number of tests. An all-NaN or empty input gives all NaN.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out
