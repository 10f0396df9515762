"""R's rank decision for linear models: LINPACK ``dqrdc2`` limited pivoting (``lm.fit``, ``qr``).

Shared by the limma engine (which columns ``lm.fit`` keeps for a gene's observed samples) and
:mod:`markerflow.model.design` (is a design estimable, and which column is aliased).
"""

from __future__ import annotations

import numpy as np

#: R's ``qr(tol = 1e-7)`` / ``lm.fit(tol = 1e-7)`` default, used by limma's ``lmFit``.
R_QR_TOL = 1e-7


def estimable_columns(x: np.ndarray, tol: float = R_QR_TOL) -> np.ndarray:
    """Indices of the columns of ``x`` that R's ``lm.fit`` keeps (dqrdc2 limited pivoting).

    Columns are taken left to right; a column is aliased when its norm after projecting out the
    kept columns to its left is below ``tol`` times its original norm (an all-zero column is
    aliased). Aliased columns are the ones R moves to the end and reports as NA coefficients, so
    of two collinear columns the later one is aliased. The loop runs over the few design columns,
    never over genes.
    """
    x = np.asarray(x, dtype=np.float64)
    keep: list[int] = []
    for j in range(x.shape[1]):
        col = x[:, j]
        norm0 = float(np.sqrt(col @ col))
        if norm0 == 0.0:
            continue
        if keep:
            q, _ = np.linalg.qr(x[:, keep])
            col = col - q @ (q.T @ col)
        if float(np.sqrt(col @ col)) >= tol * norm0:
            keep.append(j)
    return np.asarray(keep, dtype=np.intp)
