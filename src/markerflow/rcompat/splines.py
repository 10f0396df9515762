"""Natural cubic spline basis, as R ``splines::ns`` (used by ``limma::fitFDist`` for ``trend``)."""

from __future__ import annotations

import numpy as np


class NaturalSpline:
    """``splines::ns(x, df, intercept = TRUE)`` basis; ``basis(newx)`` = ``predict(ns, newx)``.

    The basis spans the same space as R's (B-splines times an orthonormal basis of the null
    space of the second-derivative constraints at the boundary knots); fitted values of a least
    squares fit on it are therefore identical to R's.
    """

    def __init__(self, x: np.ndarray, df: int):
        n_iknots = df - 2
        self.boundary = (float(np.min(x)), float(np.max(x)))
        if n_iknots > 0:
            probs = np.linspace(0.0, 1.0, n_iknots + 2)[1:-1]
            knots = np.quantile(x, probs)
        else:
            knots = np.empty(0)
        self.t = np.sort(np.concatenate([np.repeat(self.boundary, 4), knots]))
        self.nb = self.t.size - 4
        const = self._bspline(np.asarray(self.boundary), deriv=2)  # 2 x nb
        qfull, _ = np.linalg.qr(const.T, mode="complete")
        self.null = qfull[:, 2:]

    def _bspline(self, x: np.ndarray, deriv: int = 0) -> np.ndarray:
        from scipy.interpolate import BSpline

        out = np.empty((x.size, self.nb))
        for j in range(self.nb):
            cj = np.zeros(self.nb)
            cj[j] = 1.0
            spl = BSpline(self.t, cj, 3, extrapolate=True)
            out[:, j] = spl(x, nu=deriv)
        return out

    def basis(self, x: np.ndarray) -> np.ndarray:
        """The basis evaluated at ``x`` (``predict(ns(...), x)``; linear beyond the boundary knots)."""
        from scipy.interpolate import BSpline

        x = np.asarray(x, dtype=np.float64)
        lo, hi = self.boundary
        b = np.empty((x.size, self.nb))
        inside = (x >= lo) & (x <= hi)
        if inside.any():
            b[inside] = BSpline.design_matrix(x[inside], self.t, 3).toarray()
        for side, k in (((x < lo), lo), ((x > hi), hi)):
            if side.any():
                kk = np.array([k])
                tt = np.vstack([self._bspline(kk, 0), self._bspline(kk, 1)])
                b[side] = np.column_stack([np.ones(side.sum()), x[side] - k]) @ tt
        return b @ self.null
