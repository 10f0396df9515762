"""R-exact numerics (markerflow.rcompat) against R's own answers.

Fixtures: tests/fixtures/rcompat/*.tsv, written with %.17g by make_fixtures.R (R 4.2.2, limma
3.54.1; regenerate with ``make fixtures``). Tolerance 1e-12 relative unless a test says why not.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from markerflow.rcompat import distributions as D
from markerflow.rcompat.lowess import lowess
from markerflow.rcompat.padjust import p_adjust_bh
from markerflow.rcompat.roots import zeroin
from markerflow.rcompat.special import trigamma_inverse
from markerflow.rcompat.splines import NaturalSpline
from markerflow.rcompat.summaries import mad, mean, mean_trim, trimmed_mean

FIX = Path(__file__).parent / "fixtures" / "rcompat"
RTOL = 1e-12


def _table(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / name, sep="\t", dtype=str, keep_default_na=False)


def _vec(cell: str) -> np.ndarray:
    return np.array([np.nan if v == "NA" else float(v) for v in cell.split(",")])


LOWESS = _table("lowess.tsv")


@pytest.mark.parametrize("row", range(len(LOWESS)))
def test_lowess_matches_r(row: int) -> None:
    # 1e-12 relative to the scale of y: R sums sequentially, numpy pairwise, and fitted values
    # that cancel to ~0 carry absolute (not relative) rounding of the order of |y|.
    r = LOWESS.iloc[row]
    x, y, want = _vec(r.x), _vec(r.y), _vec(r.fitted)
    got = lowess(x, y, f=float(r.f), iter=int(r["iter"]), delta=float(r.delta))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * np.max(np.abs(y)))


def test_lowess_default_delta_and_tiny_inputs() -> None:
    x = np.array([3.0, 1.0, 2.0, 7.0, 5.0])
    y = np.array([1.0, 3.0, 2.0, 8.0, 4.0])
    np.testing.assert_array_equal(lowess(x, y), lowess(x, y, delta=0.01 * 6.0))
    np.testing.assert_array_equal(lowess(np.array([1.0]), np.array([5.0])), [5.0])


def test_natural_spline_fit_matches_r() -> None:
    # ns's basis is defined up to a rotation of the spline space, so compare fitted values and
    # predictions of a least-squares fit (the projection, which is unique), as limma uses it.
    for _, r in _table("ns.tsv").iterrows():
        x, y, newx = _vec(r.x), _vec(r.y), _vec(r.newx)
        ns = NaturalSpline(x, int(r.df))
        b = ns.basis(x)
        coef, *_ = np.linalg.lstsq(b, y, rcond=None)
        np.testing.assert_allclose(b @ coef, _vec(r.fitted), rtol=1e-11)  # lstsq vs R's QR
        np.testing.assert_allclose(ns.basis(newx) @ coef, _vec(r.predicted), rtol=1e-11)


def test_trigamma_inverse_matches_r() -> None:
    # limma's Newton iteration stops at a relative step < 1e-8: ours takes the same steps
    for _, r in _table("trigamma_inverse.tsv").iterrows():
        assert trigamma_inverse(float(r.x)) == pytest.approx(float(r.value), rel=RTOL)


def test_p_adjust_bh_matches_r_bit_for_bit() -> None:
    for _, r in _table("p_adjust_bh.tsv").iterrows():
        got, want = p_adjust_bh(_vec(r.p)), _vec(r.padj)
        np.testing.assert_array_equal(got, want)  # exact, NaN in the same places


def test_p_adjust_bh_is_scipys_on_nan_free_input() -> None:
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(size=500) ** 4, np.full(20, 0.01), [0.0, 1.0]])
    np.testing.assert_array_equal(p_adjust_bh(p), stats.false_discovery_control(p))
    for n in (1, 2, 3, 20_000):  # the numpy port, sizes incl. scipy's size-1 shortcut, many ties
        q = np.round(rng.uniform(size=n) ** 3, 3)
        np.testing.assert_array_equal(p_adjust_bh(q), stats.false_discovery_control(q))
    assert np.isnan(p_adjust_bh(np.array([np.nan, np.nan]))).all()
    assert p_adjust_bh(np.array([])).size == 0


def test_mean_trim_and_mad_match_r() -> None:
    for _, r in _table("mean_mad.tsv").iterrows():
        x, trim = _vec(r.x), float(r.trim)
        want = float(r["mean"])
        # R sums in long double: with cancellation (1e10 + 1 - 1e10) the double two-pass mean
        # is off by the rounding of the sum, so those compare at 1e-12 of max |x|
        atol = RTOL * np.max(np.abs(x))
        assert mean_trim(x, trim) == pytest.approx(want, rel=RTOL, abs=atol)
        assert float(trimmed_mean(x[None, :], trim)[0]) == pytest.approx(want, rel=RTOL, abs=atol)
        if trim == 0:
            assert mean(x) == pytest.approx(want, rel=RTOL, abs=atol)
        assert mad(x) == pytest.approx(float(r.mad), rel=RTOL)


TAILS = _table("log_tails.tsv")
# Rows where the ports deviate from R today (found by this fixture, not yet fixed; limma's
# parity data never reach them): the chi-square branch of pf_log (df2 = Inf) has no far-tail
# continued fraction (-inf below log 1e-300); qt/qf between log p = -20 and -600 go through
# scipy's ppf of exp(log p) (~1e-9 relative); qf's Newton iteration gives NaN where R's answer
# is 0, Inf or near the double range (log p <= -1500).
KNOWN_DEVIATIONS = {
    83,
    91,
    104,
    106,
    107,
    109,
    110,
    118,
    119,
    121,
    122,
    123,
    124,
    126,
    128,
    130,
    132,
    133,
    134,
    136,
    137,
    138,
    139,
    140,
}


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(i, marks=pytest.mark.xfail(strict=True, reason="known deviation, see above"))
        if i in KNOWN_DEVIATIONS
        else i
        for i in range(len(TAILS))
    ],
)
def test_log_tails_match_r(row: int) -> None:
    r = TAILS.iloc[row]
    x, d1, want = float(r.x), float(r.df1), float(r.value)
    d2 = math.inf if r.df2 == "Inf" else (float(r.df2) if r.df2 != "NA" else math.nan)
    fun = r.fun
    if fun == "pt_upper":
        got = float(D.t_logsf(x, d1))
    elif fun in ("pf_lower", "pf_upper"):
        got = float(D.pf_log(x, d1, d2, lower=fun == "pf_lower"))
    elif fun == "qt_upper":
        got = float(D.qt_upper_log(np.array([x]), d1)[0])
    else:
        got = float(D.qf(np.array([x]), d1, d2, lower=fun == "qf_lower", log_p=True)[0])
    # R's pbeta is TOMS 708; scipy's (Boost) and the log-scale continued fraction agree with it to
    # ~1e-13 relative, the far-tail quantiles inherit that through Newton's method: 1e-10
    assert got == pytest.approx(want, rel=1e-10, abs=1e-300)


def test_zeroin_matches_r_uniroot() -> None:
    fs = {
        "cubic": lambda v: v**3 - 2 * v - 5,
        "cosx": lambda v: math.cos(v) - v,
        "expx": lambda v: math.exp(v) - 10,
    }
    for _, r in _table("uniroot.tsv").iterrows():
        f = fs[r.fun]
        lo, hi = float(r.lower), float(r.upper)
        got = zeroin(f, lo, hi, f(lo), f(hi), float(r.tol))
        assert got == pytest.approx(float(r.root), rel=RTOL)  # same iterates as R_zeroin2


def test_hypergeom_sf_and_beta_ppf_without_scipy_stats_are_scipys_bit_for_bit() -> None:
    """hypergeom_sf (ORA) and beta_ppf (GSEA's simple-error bounds) equal scipy.stats' on ORA- and
    GSEA-like grids with the edges: k below / at / above the support, nothing drawn, q = 0 / 1,
    a or b = 0."""
    rng = np.random.default_rng(21)
    good = rng.integers(0, 600, 4000)
    draws = rng.integers(0, 3000, 4000)
    k = rng.integers(-2, 250, 4000)
    for total in (20_000, 3_000):
        want = stats.hypergeom.sf(k, total, good, draws)
        np.testing.assert_array_equal(D.hypergeom_sf(k, total, good, draws), want)
    n_more = np.arange(0, 1001)
    for q in (0.025, 0.975, 0.0, 1.0, 0.5):
        for a, b in ((n_more, 1000 - n_more + 1), (n_more + 1, 1000 - n_more)):
            np.testing.assert_array_equal(D.beta_ppf(q, a, b), stats.beta.ppf(q, a, b))


def test_t_tails_without_scipy_stats_are_scipys_bit_for_bit() -> None:
    """t_sf / t_isf / t_logsf (scipy.special only, issue 20) equal scipy.stats.t's on a grid with
    the edges: q = 0, +-inf, NaN; p = 0, 1, tiny; df = 1, fractional, large, inf."""
    rng = np.random.default_rng(20)
    q = np.concatenate([rng.normal(0, 4, 2000), [0.0, np.inf, -np.inf, np.nan, 1e-300, 40.0]])
    p = np.concatenate([rng.uniform(size=2000), [0.0, 1.0, 1e-300, 1e-10, 0.5, np.nan]])
    for df in (1.0, 2.5, 7.0, 1e6, np.inf):
        np.testing.assert_array_equal(D.t_sf(q, df), stats.t.sf(q, df))
        np.testing.assert_array_equal(D.t_isf(p, df), stats.t.isf(p, df))
        pos = q[q >= 0]
        with np.errstate(divide="ignore"):
            want = stats.t.logsf(pos, df)
        keep = want >= D.LOG_UNDERFLOW  # below, t_logsf replaces scipy's underflow on purpose
        np.testing.assert_array_equal(D.t_logsf(pos, df)[keep], want[keep])
    dfs = rng.uniform(0.5, 50, q.size)
    np.testing.assert_array_equal(D.t_sf(q, dfs), stats.t.sf(q, dfs))


def test_normal_chi2_and_fisher_tails_without_scipy_stats_are_scipys_bit_for_bit() -> None:
    """norm_sf / chi2_sf / fisher_combine (the meta-analysis' tails, issue 20: no scipy.stats on a
    LOCO fold's path) equal scipy.stats' on wide grids with the tails and edges: z = 0, -0, +-inf,
    NaN, |z| up to 1e300; chi^2 statistic 0, negative, denormal, inf, NaN, df 1..39; Fisher rows of
    1..24 p-values down to 1e-300, from a strided view (the meta stage passes one)."""
    rng = np.random.default_rng(22)
    z = np.concatenate([rng.normal(0, 5, 50_000), rng.normal(0, 40, 5_000),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 37.5, 38.5, 40.0, 1e300, -1e300]])  # fmt: skip
    np.testing.assert_array_equal(D.norm_sf(z), stats.norm.sf(z))
    q = np.concatenate([rng.exponential(5, 50_000), rng.exponential(300, 5_000),
                        [0.0, -0.0, -1.0, np.inf, np.nan, 1e-300, 1e300, 5e-324]])  # fmt: skip
    df = rng.integers(1, 40, q.size).astype(np.float64)
    np.testing.assert_array_equal(D.chi2_sf(q, df), stats.chi2.sf(q, df))
    for k in range(1, 25):
        p = np.clip(rng.uniform(0, 1, (2000, k + 3)) ** rng.uniform(0.2, 30, (2000, 1)), 1e-300, 1)
        view = p[np.arange(2000)][:, :k]
        want = stats.combine_pvalues(view, method="fisher", axis=1).pvalue
        np.testing.assert_array_equal(D.fisher_combine(view), want)
