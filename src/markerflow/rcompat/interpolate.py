"""Interpolation as R ``approx``."""

from __future__ import annotations

import numpy as np


def approx_rule2_ties_mean(x: np.ndarray, y: np.ndarray, xout: np.ndarray) -> np.ndarray:
    """R ``approx(x, y, xout, rule = 2, ties = mean)``."""
    ux, inv = np.unique(x, return_inverse=True)
    sums = np.bincount(inv, weights=y)
    cnt = np.bincount(inv)
    return np.interp(xout, ux, sums / cnt)
