"""R-style summaries: ``mean`` (two-pass), ``mean(x, trim =)`` and ``mad``.

R's ``mean`` (summary.c ``rsum``/``real_mean``) sums in long double and then adds the mean
residual; :func:`mean` mirrors the two passes in double precision, which is what limma's
parity (tests/test_limma_parity.py) was built on. ``np.mean`` and ``scipy.stats.trim_mean`` use
one pass and are therefore not used where the limma engine needs R's mean.
"""

from __future__ import annotations

import math

import numpy as np


def mean(z: np.ndarray) -> float:
    """R's two-pass mean (sum/n, then corrected by the mean residual)."""
    m = float(np.sum(z)) / z.size
    return m + float(np.sum(z - m)) / z.size


def mean_trim(z: np.ndarray, trim: float) -> float:
    """R ``mean(z, trim = trim)`` of a vector, with R's two-pass :func:`mean` of the kept values.

    R drops ``floor(n * trim)`` values at each end and returns the median for ``trim >= 0.5``.
    """
    n = z.size
    if trim >= 0.5:
        return float(np.median(z))
    lo = math.floor(n * trim) + 1
    hi = n + 1 - lo
    zs = np.sort(z)[lo - 1 : hi]
    return mean(zs)


def trimmed_mean(x: np.ndarray, trim: float, axis: int = 1) -> np.ndarray:
    """R ``mean(x, trim =)`` along ``axis`` (one pass; ``scipy.stats.trim_mean``).

    Same kept values as R (``floor(n * trim)`` dropped at each end, median for ``trim >= 0.5``),
    summed in one pass as DESeq2's parity needs only 1e-4 relative (tests/test_counts_parity.py).
    """
    from scipy import stats

    if trim >= 0.5:
        return np.median(x, axis=axis)
    return stats.trim_mean(x, trim, axis=axis)


def mad(x: np.ndarray) -> float:
    """R ``mad(x)``: ``1.4826 * median(|x - median(x)|)`` (R's ``constant = 1.4826``).

    Not ``scipy.stats.median_abs_deviation``: its ``scale`` *divides* the MAD, so
    ``scale=1.4826`` is wrong by a factor 1.4826**2, ``scale=1/1.4826`` rounds twice (not R's
    bits) and ``scale="normal"`` divides by ``norm.ppf(0.75)`` = 0.67449..., not R's constant.
    """
    return float(1.4826 * np.median(np.abs(x - np.median(x))))
