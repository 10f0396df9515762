"""Unit tests of markerflow.engines.limma edge cases (missing values, constant genes, pure noise,
contrasts, BH adjustment). Parity with R on real data: tests/test_limma_parity.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from markerflow.engines import limma
from markerflow.errors import AnalysisError, InputError
from markerflow.rcompat.padjust import p_adjust_bh


def _design(n_per=(6, 6), n_batch=3, seed=0):
    rng = np.random.default_rng(seed)
    group = np.repeat([0, 1], n_per)
    batch = rng.integers(0, n_batch, group.size)
    batch[:n_batch] = np.arange(n_batch)
    batch[-n_batch:] = np.arange(n_batch)
    x = np.column_stack([np.ones(group.size), group] + [batch == b for b in range(1, n_batch)])
    return x.astype(float), group, batch


def _full_rank_rows(x):
    """Indices of p samples whose design rows are linearly independent."""
    rows: list[int] = []
    for i in range(x.shape[0]):
        if np.linalg.matrix_rank(x[[*rows, i]]) == len(rows) + 1:
            rows.append(i)
    return rows


def _data(g=500, seed=1):
    x, group, _ = _design()
    rng = np.random.default_rng(seed)
    sd = np.sqrt(0.05 / rng.chisquare(4, g) * 4)
    y = 8 + rng.normal(size=(g, 1)) + sd[:, None] * rng.normal(size=(g, x.shape[0]))
    y[:25] += 1.5 * group
    return y, x


def test_nan_rows_equal_per_gene_ols() -> None:
    y, x = _data()
    rng = np.random.default_rng(5)
    mask = rng.random(y.shape) < 0.08
    mask[0] = False
    mask[1, :7] = True  # 5 observations
    y[mask] = np.nan
    y[2] = np.nan  # nothing observed
    fit = limma.lm_fit(y, x)
    n_deficient = 0
    for i in range(y.shape[0]):
        obs = ~np.isnan(y[i])
        if i == 2:
            assert np.all(np.isnan(fit.coefficients[i])) and fit.df_residual[i] == 0
            assert np.isnan(fit.sigma[i]) and np.isnan(fit.amean[i])
            continue
        xi, yi = x[obs], y[i, obs]
        beta, _, rank, _ = np.linalg.lstsq(xi, yi, rcond=None)
        est = ~np.isnan(fit.coefficients[i])
        assert est.sum() == rank  # aliased coefficients (rank-deficient pattern) are NaN
        np.testing.assert_allclose(xi[:, est] @ fit.coefficients[i, est], xi @ beta, rtol=1e-10)
        df = obs.sum() - rank
        assert fit.df_residual[i] == df
        res = yi - xi @ beta
        if df > 0:
            np.testing.assert_allclose(fit.sigma[i], np.sqrt(res @ res / df), rtol=1e-9)
        cov = np.linalg.inv(xi[:, est].T @ xi[:, est])
        np.testing.assert_allclose(fit.stdev_unscaled[i, est], np.sqrt(np.diag(cov)), rtol=1e-10)
        assert np.isnan(fit.stdev_unscaled[i, ~est]).all()
        np.testing.assert_allclose(fit.amean[i], yi.mean(), rtol=1e-14)
        n_deficient += rank < x.shape[1]
    assert n_deficient >= 1
    eb = limma.ebayes(fit)
    assert np.all(np.isfinite(eb.t[~np.isnan(fit.coefficients[:, 1]), 1]))
    with pytest.raises(AnalysisError, match="NA covariate"):
        limma.ebayes(fit, trend=True)  # as in R: Amean NaN for the all-missing row


def test_df_zero_gene_gets_nan_sigma_and_prior_variance() -> None:
    y, x = _data()
    drop = np.setdiff1d(np.arange(x.shape[0]), _full_rank_rows(x))
    y[3, drop] = np.nan  # as many observations as coefficients
    fit = limma.lm_fit(y, x)
    assert fit.df_residual[3] == 0 and np.isnan(fit.sigma[3])
    eb = limma.ebayes(fit)
    assert eb.s2_post[3] == pytest.approx(eb.s2_prior)
    assert eb.df_total[3] == pytest.approx(eb.df_prior)


def test_constant_gene() -> None:
    y, x = _data()
    y[10] = 7.25
    fit = limma.lm_fit(y, x)
    assert fit.sigma[10] < 1e-12
    np.testing.assert_allclose(fit.coefficients[10], [7.25, 0, 0, 0], atol=1e-12)
    for kw in ({}, {"trend": True}, {"robust": True}, {"trend": True, "robust": True}):
        eb = limma.ebayes(fit, **kw)
        assert np.isfinite(eb.df_prior).all() or np.isinf(eb.df_prior).any()
        assert eb.s2_post[10] > 0
        assert abs(eb.t[10, 1]) < 1e-6 and eb.p_value[10, 1] > 0.99
        assert np.isfinite(limma.top_table(eb, 1)["B"]).all()


@pytest.mark.parametrize(
    "kw", [{}, {"trend": True}, {"robust": True}, {"trend": True, "robust": True}]
)
def test_pure_noise_infinite_prior_df(kw) -> None:
    rng = np.random.default_rng(7)
    x, _, _ = _design()
    y = 5 + 0.3 * rng.normal(size=(3000, x.shape[0]))
    fit = limma.lm_fit(y, x)
    eb = limma.ebayes(fit, **kw)
    dfp = np.broadcast_to(eb.df_prior, (3000,))
    tab = pd.DataFrame(limma.top_table(eb, 1))
    assert tab.notna().all().all()
    inf = np.isinf(dfp)
    # robust: df2 is inf, but the most outlying variances get a finite shrunk df (as in R)
    assert inf.all() if not kw.get("robust") else inf.mean() > 0.9
    pooled = fit.df_residual.sum()
    np.testing.assert_array_equal(eb.df_total[inf], pooled)
    np.testing.assert_allclose(eb.s2_post[inf], np.broadcast_to(eb.s2_prior, (3000,))[inf])
    t = fit.coefficients / fit.stdev_unscaled / np.sqrt(eb.s2_post)[:, None]
    np.testing.assert_allclose(eb.t, t)
    # limma's infinite-df kernel of the B statistic
    r = (fit.stdev_unscaled**2 + eb.var_prior) / fit.stdev_unscaled**2
    b = np.log(0.01 / 0.99) - np.log(r) / 2 + t**2 * (1 - 1 / r) / 2
    np.testing.assert_allclose(eb.lods[inf], b[inf])
    assert tab.notna().all().all()
    assert tab["adj.P.Val"].min() > 0.05


def test_contrasts_fit_equals_reparametrised_design() -> None:
    y, x = _data()
    # cell-means parametrisation of the group, batch effects as before
    x2 = x.copy()
    x2[:, 0] = 1 - x[:, 1]  # group 0 indicator
    fit2 = limma.lm_fit(y, x2)
    con = np.zeros((x.shape[1], 1))
    con[1, 0], con[0, 0] = 1, -1
    cfit = limma.contrasts_fit(fit2, con)
    fit1 = limma.lm_fit(y, x)
    np.testing.assert_allclose(cfit.coefficients[:, 0], fit1.coefficients[:, 1], rtol=1e-10)
    np.testing.assert_allclose(cfit.stdev_unscaled[:, 0], fit1.stdev_unscaled[:, 1], rtol=1e-10)
    np.testing.assert_allclose(cfit.cov_coefficients[0, 0], fit1.cov_coefficients[1, 1])
    eb1, eb2 = limma.ebayes(fit1), limma.ebayes(cfit)
    np.testing.assert_allclose(eb2.t[:, 0], eb1.t[:, 1], rtol=1e-9)
    np.testing.assert_allclose(eb2.p_value[:, 0], eb1.p_value[:, 1], rtol=1e-9)
    np.testing.assert_allclose(eb2.lods[:, 0], eb1.lods[:, 1], rtol=1e-9)


def test_contrasts_fit_orthogonal_design() -> None:
    y, _ = _data()
    group = np.repeat([0, 1], 6)
    x = np.column_stack([1 - group, group]).astype(float)
    fit = limma.lm_fit(y, x)
    cfit = limma.contrasts_fit(fit, np.array([[-1.0], [1.0]]))
    ref = limma.lm_fit(y, np.column_stack([np.ones(12), group]))
    np.testing.assert_allclose(cfit.coefficients[:, 0], ref.coefficients[:, 1], atol=1e-12)
    np.testing.assert_allclose(cfit.stdev_unscaled[:, 0], ref.stdev_unscaled[:, 1], rtol=1e-12)


def test_p_adjust_bh_matches_r() -> None:
    # R: p.adjust(c(0.01, 0.04, NA, 0.03, 0.2, 0.02), "BH") and c(0.001, 0.5, 0.03, 0.9)
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.2, 0.02])
    want = [0.05, 0.05, np.nan, 0.05, 0.2, 0.05]
    np.testing.assert_allclose(p_adjust_bh(p), want, rtol=1e-15)
    p = np.array([0.001, 0.5, 0.03, 0.9])
    want = [0.004, 0.6666666666666666, 0.06, 0.9]
    np.testing.assert_allclose(p_adjust_bh(p), want, rtol=1e-15)
    assert np.isnan(p_adjust_bh(np.array([np.nan]))).all()


def test_input_errors() -> None:
    y, x = _data(g=20)
    with pytest.raises(InputError, match="design has"):
        limma.lm_fit(y, x[:-1])
    with pytest.raises(AnalysisError, match="full column rank"):
        limma.lm_fit(y, np.column_stack([x, x[:, 1]]))
    rows = _full_rank_rows(x)
    sat = limma.lm_fit(y[:, rows], x[rows])
    with pytest.raises(AnalysisError, match="no residual degrees of freedom"):
        limma.ebayes(sat)
