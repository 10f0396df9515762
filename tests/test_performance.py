"""engines/performance: interval coverage by simulation, DeLong formulas by hand, calibration vs an
unpenalised logistic fit, thresholds, predictive values and the summary ROC."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from markerflow.engines import performance as perf


def _hand_components(x, y):
    """DeLong's (1988) definition: psi(X, Y) = 1 if X > Y, 1/2 if equal, 0 otherwise."""
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)


def test_delong_ci_matches_proc_with_ties():
    # the pROC 1.18.0 values of tests/test_signature.py (fixtures/signature/delong_proc.R)
    controls = [0.1, 0.4, 0.35, 0.8, 0.2, 0.5, 0.5, 0.05, 0.3]
    cases = [0.9, 0.5, 0.7, 0.65, 0.35, 0.95, 0.6]
    auc, var, low, high = perf.delong_ci(np.array(controls + cases), np.repeat([0, 1], [9, 7]))
    assert auc == pytest.approx(0.84920634920634919, abs=1e-12)
    assert var == pytest.approx(0.010093852355757119, abs=1e-12)
    assert low == pytest.approx(0.65229236248420874, abs=1e-12)
    assert high == 1.0


def test_paired_delong_by_hand():
    # A: cases .9 .8 .4, controls .5 .3 .2 -> V10 = (1, 1, 2/3), V01 = (2/3, 1, 1), AUC 8/9
    # B: cases 3 1 2, controls 2.5 0 1.5 -> V10 = (1, 1/3, 2/3), V01 = (1/3, 1, 2/3), AUC 2/3
    # S_AA = 2/81, S_BB = 2/27, S_AB = (0 + 1/18)/3 = 1/54 -> var(A - B) = 5/81,
    # z = (2/9) / (sqrt(5)/9) = 2/sqrt(5) (pROC roc.test(method="delong", paired=TRUE))
    is_case = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    a = np.array([0.9, 0.8, 0.4, 0.5, 0.3, 0.2])
    b = np.array([3, 1, 2, 2.5, 0, 1.5])
    auc_a, auc_b, z, p = perf.delong_paired_test(a, b, is_case)
    assert auc_a == pytest.approx(8 / 9) and auc_b == pytest.approx(2 / 3)
    assert z == pytest.approx(2 / np.sqrt(5), abs=1e-12)
    assert p == pytest.approx(2 * stats.norm.sf(2 / np.sqrt(5)), abs=1e-12)
    assert perf.delong_ci(a, is_case)[1] == pytest.approx(2 / 81, abs=1e-14)
    # identical scores: no difference to test
    assert np.isnan(perf.delong_paired_test(a, a, is_case)[3])


def test_structural_components_match_the_definition_with_ties():
    rng = np.random.default_rng(3)
    s = rng.integers(0, 4, 25).astype(float)
    is_case = rng.random(25) < 0.4
    auc, v10, v01 = perf.structural_components(s, is_case)
    hand = _hand_components(s[is_case], s[~is_case])
    assert auc[0] == pytest.approx(hand[0])
    np.testing.assert_allclose(v10[0], hand[1], atol=1e-12)
    np.testing.assert_allclose(v01[0], hand[2], atol=1e-12)


def test_newcombe_solves_its_equation_and_does_not_collapse():
    z2 = stats.norm.ppf(0.975) ** 2
    for auc in (0.0, 0.3, 0.8, 1.0):
        low, high = perf.newcombe_ci(auc, 5, 5)
        assert low <= auc <= high
        for bound in (low, high):
            if 0 < bound < 1:
                assert (auc - bound) ** 2 == pytest.approx(
                    z2 * perf.newcombe_variance(bound, 5, 5), abs=1e-12
                )
    low, high = perf.newcombe_ci(1.0, 5, 5)
    assert high == 1.0 and 0.5 < low < 0.9  # honest: AUC 1 from 5 + 5 is not [1, 1]
    assert perf.newcombe_ci(1.0, 50, 50)[0] > low  # narrows with n


@pytest.mark.parametrize(("m", "n"), [(5, 5), (10, 10), (5, 12)])
def test_newcombe_coverage_by_simulation(m, n):
    """Binormal equal-variance data, true AUC = Phi(d / sqrt 2); 3,000 cohorts per true AUC."""
    rng = np.random.default_rng(20061)
    for true_auc in (0.5, 0.75, 0.9, 0.97):
        d = np.sqrt(2) * stats.norm.ppf(true_auc)
        x = rng.normal(d, 1, (3000, m))
        y = rng.normal(0, 1, (3000, n))
        auc = (x[:, :, None] > y[:, None, :]).mean(axis=(1, 2))
        ci = perf.newcombe_ci(auc, m, n)
        coverage = np.mean((ci[:, 0] <= true_auc) & (true_auc <= ci[:, 1]))
        assert coverage >= 0.93, (m, n, true_auc, coverage)


def test_auc_interval_rule():
    rng = np.random.default_rng(0)
    small = np.repeat([True, False], 5)
    (_, low, high), method = perf.auc_interval(np.r_[np.arange(5) + 10.0, np.arange(5)], small)
    assert method.startswith("Newcombe") and low < 1 and high == 1
    big = np.repeat([True, False], 30)
    _, method = perf.auc_interval(rng.normal(size=60) + big, big)
    assert method == "DeLong"
    _, method = perf.auc_interval(np.r_[np.arange(30) + 100.0, np.arange(30)], big)
    assert method.startswith("Newcombe")  # AUC 1: DeLong would collapse


def test_youden_sens_spec_wilson_and_predictive_values():
    s = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
    is_case = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=bool)
    # J is 0.75 at cuts between .3/.4 (se 1, sp .75) and .6/.7 (se .75, sp 1): lowest cut kept
    assert perf.youden_threshold(s, is_case) == pytest.approx(0.35)
    (se, se_lo, se_hi), (sp, _, _) = perf.sens_spec(s, is_case, 0.35)
    assert (se, sp) == (1.0, 0.75)
    # Wilson for 4/4: [n / (n + z^2), 1]
    z2 = stats.norm.ppf(0.975) ** 2
    assert se_lo == pytest.approx(4 / (4 + z2)) and se_hi == 1.0
    ppv, npv = perf.predictive_values(np.array([0.9, 0.8, 0.95]), np.array([0.8, 0.7, 0.9]),
                                      np.array([0.1, 0.5]))  # fmt: skip
    assert ppv[0, 0] == pytest.approx(0.09 / (0.09 + 0.2 * 0.9))
    assert npv[1, 0] == pytest.approx(0.4 / (0.4 + 0.05))
    assert ppv[0, 1] <= ppv[0, 0] <= ppv[0, 2] and npv[1, 1] <= npv[1, 0] <= npv[1, 2]


def test_calibration_matches_unpenalised_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    lp = rng.normal(0, 1.5, 400)
    y = rng.random(400) < 1 / (1 + np.exp(-(0.4 + 0.6 * lp)))
    cal = perf.calibration(lp, y)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000).fit(lp[:, None], y)
    assert cal[1, 0] == pytest.approx(ref.coef_[0, 0], abs=1e-5)
    assert cal[1, 1] < 0.6 < cal[1, 2]
    # well calibrated lp: intercept ~ 0, slope ~ 1
    y2 = rng.random(4000) < 1 / (1 + np.exp(-np.r_[lp, lp, lp, lp, lp, lp, lp, lp, lp, lp]))
    good = perf.calibration(np.tile(lp, 10), y2)
    assert abs(good[0, 0]) < 0.15 and abs(good[1, 0] - 1) < 0.1
    separated = perf.calibration(np.r_[0.0, 1.0, 2, 3], np.r_[0, 0, 1, 1])
    assert np.isnan(separated[1]).all() and np.isfinite(separated[0]).all()


def test_summary_roc_vertical_average():
    is_case = np.repeat([True, False], 4)
    perfect = (np.r_[5.0, 6, 7, 8, 1, 2, 3, 4], is_case)
    chance = (np.r_[1.0, 3, 5, 7, 2, 4, 6, 8], is_case)
    grid, mean, low, high = perf.summary_roc([perfect, perfect])
    assert np.all(mean[1:] == 1.0)
    grid, mean, low, high = perf.summary_roc([perfect, chance])
    assert np.all(low <= mean) and np.all(mean <= high)
    # trapezoid area of the averaged step curve = mean of the two AUCs (1 and 0.375) on a fine grid
    area = np.sum(mean[1:] * np.diff(grid))
    assert area == pytest.approx((1 + 0.375) / 2, abs=0.02)
