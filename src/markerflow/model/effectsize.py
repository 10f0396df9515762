"""Standardised mean differences per gene (Hedges' g), vectorised over a whole matrix.

Method: Hedges & Olkin (1985), as used by MetaIntegrator (Haynes et al. 2017, ``effect.sizes``):

    s_pooled = sqrt(((n1 - 1) s1^2 + (n2 - 1) s2^2) / (n1 + n2 - 2))
    d        = (mean_case - mean_control) / s_pooled
    g        = d * J,   J = 1 - 3 / (4 (n1 + n2) - 9)
    se(g)    = sqrt((n1 + n2) / (n1 n2) + g^2 / (2 (n1 + n2 - 3.94)))

with sample variances (ddof = 1). Genes with zero pooled variance get NaN, not +/-inf.
"""

from __future__ import annotations

import warnings

import numpy as np


def hedges_g(values: np.ndarray, is_case: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hedges' g and its standard error for each row of ``values`` (genes x samples).

    ``is_case`` is a boolean vector over the columns; the other columns are the controls.
    Missing values (NaN) are excluded per gene, so group sizes may differ between genes.
    """
    values = np.asarray(values, dtype=np.float64)
    is_case = np.asarray(is_case, dtype=bool)
    if values.ndim != 2 or values.shape[1] != is_case.size:
        raise ValueError("values must be genes x samples with one is_case flag per sample")
    case, ctrl = values[:, is_case], values[:, ~is_case]
    n1 = np.sum(~np.isnan(case), axis=1).astype(np.float64)
    n2 = np.sum(~np.isnan(ctrl), axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing genes give NaN, not a warning
        m1, m2 = np.nanmean(case, axis=1), np.nanmean(ctrl, axis=1)
        v1 = np.nansum((case - m1[:, None]) ** 2, axis=1) / (n1 - 1)
        v2 = np.nansum((ctrl - m2[:, None]) ** 2, axis=1) / (n2 - 1)
        pooled = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
        d = (m1 - m2) / pooled
        g = d * (1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0))
        se = np.sqrt((n1 + n2) / (n1 * n2) + g**2 / (2.0 * (n1 + n2 - 3.94)))
    bad = ~np.isfinite(g) | (n1 < 2) | (n2 < 2)
    g[bad] = np.nan
    se[bad] = np.nan
    return g, se
