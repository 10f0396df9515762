"""Multiple-testing correction shared by every stage."""

from __future__ import annotations

import numpy as np


def p_adjust_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values, as R ``p.adjust(p, "BH")``.

    Computed in R's order of operations (``pmin(1, cummin(n / i * p[o]))``) so results agree to
    the last bit; NaN stays NaN and does not count towards the number of tests.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    pv = p[ok]
    n = pv.size
    if n == 0:
        return out
    o = np.argsort(-pv, kind="stable")
    i = np.arange(n, 0, -1)
    adj = np.minimum(1.0, np.minimum.accumulate(n / i * pv[o]))
    res = np.empty(n)
    res[o] = adj
    out[ok] = res
    return out
