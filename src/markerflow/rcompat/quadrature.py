"""Gaussian quadrature as ``statmod::gauss.quad.prob`` (uniform distribution)."""

from __future__ import annotations

import numpy as np


def gauss_quad_prob_uniform(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``statmod::gauss.quad.prob(n, dist = "uniform")``: nodes on [0, 1], weights sum to 1."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1) / 2, weights / 2
