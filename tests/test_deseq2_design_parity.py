"""Parity of markerflow.engines.deseq2's multi-level contrasts, LRT, lfcShrink(type="normal") and
normalization-factor offsets with R DESeq2 1.38.3.

Fixtures: tests/fixtures/deseq2_design (make_fixtures.R): 1,500 genes x 12 samples of
rnaseq_simulated with a derived three-level factor ``group`` (A = sample1-6, B = sample7-9,
C = sample10-12) and the covariate ``batch``; design ~ batch + group.

Tolerances (the issue's): stat and p-value to 1e-6 relative with an absolute floor of 1e-8,
shrunken log2FoldChange and lfcSE to 1e-6 relative, padj < 0.1 sets identical. None of these
genes needs the 1e-4 gate of ../shared/notes/measured-2026-12.md (R's dispersion line search
stopping where its objective is flat to rounding): on this data the largest relative difference
of any dispersion is printed by the tests and stays below 1e-6.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerflow.engines import deseq2 as E

FIX = Path(__file__).parent / "fixtures" / "deseq2_design"
REL, FLOOR = 1e-6, 1e-8


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / name, sep="\t")


@pytest.fixture(scope="module")
def data():
    counts = pd.read_csv(FIX / "counts.tsv.gz", sep="\t", index_col=0)
    cd = pd.read_csv(FIX / "coldata.tsv", sep="\t")
    assert list(cd["sample"]) == list(counts.columns)
    g = cd["group"].to_numpy()
    b = cd["batch"].to_numpy()
    one = np.ones(len(cd))
    # R's model.matrix(~ batch + group): Intercept, batch_b2_vs_b1, group_B_vs_A, group_C_vs_A
    X = np.column_stack([one, b == "b2", g == "B", g == "C"]).astype(float)
    return counts.to_numpy(float), X, g, b


@pytest.fixture(scope="module")
def fit(data):
    y, X, _, _ = data
    return E.run_deseq(y, X)


GROUP = (2, 3)  # X columns of group B and C (A is the reference)
LEVEL = {"A": None, "B": 2, "C": 3}


def _contrast(num: str, den: str) -> E.LevelContrast:
    return E.LevelContrast(GROUP, LEVEL[num], LEVEL[den])


def _close(mine, ref, rel=REL, floor=FLOOR, what=""):
    mine, ref = np.asarray(mine, float), np.asarray(ref, float)
    assert np.array_equal(np.isnan(mine), np.isnan(ref)), f"{what}: NA pattern differs"
    ok = ~np.isnan(ref)
    err = np.abs(mine[ok] - ref[ok])
    tol = np.maximum(rel * np.abs(ref[ok]), floor)
    worst = float(np.max(err / np.maximum(np.abs(ref[ok]), floor))) if ok.any() else 0.0
    print(f"{what}: max rel err {worst:.2e}")
    assert np.all(err <= tol), f"{what}: {int(np.sum(err > tol))} values beyond tolerance"
    return worst


def _calls(padj, alpha=0.1):
    return set(np.flatnonzero(np.nan_to_num(np.asarray(padj, float), nan=1.0) < alpha))


def _check_results(out: E.WaldResults, ref: pd.DataFrame, what: str, lfc=True):
    if lfc:
        _close(out.log2_fold_change, ref["log2FoldChange"], what=f"{what} log2FoldChange")
        _close(out.lfc_se, ref["lfcSE"], what=f"{what} lfcSE")
    _close(out.stat, ref["stat"], what=f"{what} stat")
    _close(out.pvalue, ref["pvalue"], what=f"{what} pvalue")
    assert _calls(out.padj) == _calls(ref["padj"]), f"{what}: padj < 0.1 sets differ"
    assert np.array_equal(np.isnan(out.padj), ref["padj"].isna().to_numpy()), f"{what}: padj NA"


def test_fit_matches_r(fit):
    ref = _read("fit.tsv.gz")
    sf = _read("sizefactors.tsv")
    np.testing.assert_allclose(fit.size_factors, sf["sizeFactor"], rtol=1e-12)
    _close(fit.dispersion, ref["dispersion"], what="dispersion")
    _close(fit.max_cooks, ref["maxCooks"], what="maxCooks")


@pytest.mark.parametrize(
    "name,num,den", [("B_vs_A", "B", "A"), ("C_vs_A", "C", "A"), ("C_vs_B", "C", "B")]
)
def test_wald_level_contrasts(data, fit, name, num, den):
    y, X, _, _ = data
    out = E.results(fit, X, y, contrast=_contrast(num, den))
    _check_results(out, _read(f"wald_{name}.tsv.gz"), f"wald {name}")


def test_contrast_all_zero_groups_get_zero_lfc(data, fit):
    """Genes 11-13 have only zeros in B and C, genes 21-22 in A and B (make_fixtures.R)."""
    y, X, _, _ = data
    cb = E.results(fit, X, y, contrast=_contrast("C", "B"))
    ba = E.results(fit, X, y, contrast=_contrast("B", "A"))
    assert np.all(cb.log2_fold_change[10:13] == 0) and np.all(cb.pvalue[10:13] == 1)
    assert np.all(ba.log2_fold_change[20:22] == 0) and np.all(ba.stat[20:22] == 0)
    # reversing the contrast negates the estimate and keeps the p-value
    bc = E.results(fit, X, y, contrast=_contrast("B", "C"))
    np.testing.assert_allclose(bc.log2_fold_change, -cb.log2_fold_change, rtol=0, atol=0)
    np.testing.assert_allclose(bc.pvalue, cb.pvalue, rtol=1e-12)


def test_wald_numeric_contrast(data, fit):
    y, X, _, _ = data
    out = E.results(fit, X, y, contrast=np.array([0.0, 1.0, 0.5, 0.5]))
    _check_results(out, _read("wald_numeric.tsv.gz"), "wald numeric")


def test_level_contrast_equals_its_numeric_vector(data, fit):
    y, X, _, _ = data
    a = E.results(fit, X, y, contrast=_contrast("C", "A"))
    b = E.results(fit, X, y, contrast=np.array([0.0, 0.0, 0.0, 1.0]))
    np.testing.assert_allclose(a.lfc_se, b.lfc_se, rtol=1e-12)
    # a numeric contrast with one sign has no all-zero rule (R contrastAllZeroNumeric)
    zero = a.log2_fold_change == 0
    assert zero.any() and not np.any(b.log2_fold_change[zero] == 0)
    np.testing.assert_allclose(a.log2_fold_change[~zero], b.log2_fold_change[~zero], rtol=1e-12)


def test_lrt_vs_reduced_batch(data):
    """DESeq(test="LRT", reduced=~batch): LR statistic, chi-square(2) p-value, padj; the LFC of
    results() is the full model's last coefficient, and a contrast's LFC keeps the LRT p-value."""
    y, X, _, _ = data
    res = E.run_deseq(y, X, reduced=X[:, :2])
    assert res.lrt_df == 2
    ref = _read("lrt_batch.tsv.gz")
    out = E.results(res, X, y, test="LRT")
    _check_results(out, ref, "LRT ~batch")
    cb = E.results(res, X, y, test="LRT", contrast=_contrast("C", "B"))
    _close(cb.log2_fold_change, ref["lfc_C_vs_B"], what="LRT contrast C vs B lfc")
    _close(cb.lfc_se, ref["lfcSE_C_vs_B"], what="LRT contrast C vs B lfcSE")
    _close(cb.stat, ref["stat_C_vs_B"], what="LRT contrast C vs B stat")
    assert _calls(cb.padj) == _calls(ref["padj_C_vs_B"])


def test_lrt_vs_intercept(data):
    """Design ~group vs ~1 (the reduced fit takes DESeq2's closed intercept-only form)."""
    y, _, g, _ = data
    X = np.column_stack([np.ones(len(g)), g == "B", g == "C"]).astype(float)
    res = E.run_deseq(y, X, reduced=np.ones((len(g), 1)))
    _check_results(E.results(res, X, y, test="LRT"), _read("lrt_intercept.tsv.gz"), "LRT ~1")


def test_lrt_needs_a_smaller_reduced_design(data):
    y, X, _, _ = data
    with pytest.raises(ValueError, match="fewer columns"):
        E.run_deseq(y[:50], X, reduced=X)
    res = E.run_deseq(y[:200], X)
    with pytest.raises(ValueError, match="reduced"):
        E.results(res, X, y[:200], test="LRT")


def _lengths(name):
    return pd.read_csv(FIX / name, sep="\t", index_col=0).to_numpy(float)


def test_normalization_factors_from_lengths(data):
    y, _, _, _ = data
    nf = E.normalization_factors_from_lengths(y, _lengths("avgtxlength.tsv.gz"))
    ref = pd.read_csv(FIX / "nf_factors.tsv.gz", sep="\t", index_col=0).to_numpy(float)
    np.testing.assert_allclose(nf, ref, rtol=1e-12)
    bad = _lengths("avgtxlength.tsv.gz")
    bad[3, 5] = 0.0
    with pytest.raises(ValueError, match="gene row 3, sample column 5"):
        E.normalization_factors_from_lengths(y, bad)


@pytest.mark.parametrize("name,num,den", [("B_vs_A", "B", "A"), ("C_vs_B", "C", "B")])
def test_deseq_with_normalization_factors(data, name, num, den):
    y, X, _, _ = data
    nf = E.normalization_factors_from_lengths(y, _lengths("avgtxlength.tsv.gz"))
    res = E.run_deseq(y, X, norm_factors=nf)
    ref = _read(f"nf_{name}.tsv.gz")
    _close(res.dispersion, ref["dispersion"], what=f"nf {name} dispersion")
    _close(res.base_mean, ref["baseMean"], what=f"nf {name} baseMean")
    _check_results(E.results(res, X, y, contrast=_contrast(num, den)), ref, f"nf {name}")


def test_normalization_factors_with_outlier_replacement():
    """8 v 8 with injected outliers (tests/fixtures/counts): counts replaced by trimmed mean x nf
    and refitted, as R."""
    counts = pd.read_csv(FIX.parent / "counts" / "counts.tsv.gz", sep="\t", index_col=0)
    cd = pd.read_csv(FIX.parent / "counts" / "coldata.tsv", sep="\t")
    y = counts.to_numpy(float)
    X = np.column_stack([np.ones(len(cd)), cd["condition"] == "B"]).astype(float)
    nf = E.normalization_factors_from_lengths(y, _lengths("nf_outliers_avgtxlength.tsv.gz"))
    res = E.run_deseq(y, X, norm_factors=nf)
    ref = _read("nf_outliers_results.tsv.gz")
    assert res.replace.sum() == ref["replace"].sum() == 11
    np.testing.assert_array_equal(res.replace, ref["replace"].to_numpy(bool))
    _close(res.dispersion, ref["dispersion"], what="nf outliers dispersion")
    out = E.results(res, X, y, single_factor_two_levels=True)
    _check_results(out, ref, "nf outliers")


def _prior(which):
    ref = _read("shrink_prior.tsv")
    return ref.loc[ref["shrink"] == which, "betaPriorVar"].to_numpy(float)


def test_lfc_shrink_normal_coef(data, fit):
    """lfcShrink(coef="group_B_vs_A", type="normal"): the standard model matrix."""
    y, X, _, _ = data
    out = E.lfc_shrink_normal(fit, X, y, coef=2)
    np.testing.assert_allclose(out.beta_prior_var, _prior("coef_B_vs_A"), rtol=1e-10)
    ref = _read("shrink_coef_B_vs_A.tsv.gz")
    _close(out.log2_fold_change, ref["log2FoldChange"], what="shrink coef log2FoldChange")
    _close(out.lfc_se, ref["lfcSE"], what="shrink coef lfcSE")


def test_lfc_shrink_normal_contrast_uses_expanded_matrix(data, fit):
    """lfcShrink(contrast=c("group","C","B"), type="normal"): the expanded model matrix
    (Intercept, batchb1, batchb2, groupA, groupB, groupC), priors averaged over levels."""
    y, X, _, _ = data
    out = E.lfc_shrink_normal(fit, X, y, contrast=_contrast("C", "B"), factors=[(1,), GROUP])
    assert out.model_matrix.shape == (12, 6)
    np.testing.assert_allclose(out.beta_prior_var, _prior("contrast_C_vs_B"), rtol=1e-10)
    ref = _read("shrink_contrast_C_vs_B.tsv.gz")
    _close(out.log2_fold_change, ref["log2FoldChange"], what="shrink contrast log2FoldChange")
    _close(out.lfc_se, ref["lfcSE"], what="shrink contrast lfcSE")
    assert np.all(out.log2_fold_change[10:13] == 0)  # both groups all zero


def test_lfc_shrink_normal_refuses_interactions(data, fit):
    from markerflow.errors import AnalysisError

    y, X, _, _ = data
    with pytest.raises(AnalysisError, match="interactions"):
        E.lfc_shrink_normal(fit, X, y, coef=2, has_interaction=True)


def test_weighted_upper_quantile_matches_hmisc_rule():
    # ties are summed; the order statistic 1 + (n - 1) * 0.95 falls between two values
    x = np.array([0.1, -0.5, 0.5, 2.0, -3.0, 0.2, 0.7, 1.1, -0.05, 0.3])
    w = np.array([1.0, 2.0, 2.0, 0.5, 0.25, 1.0, 1.0, 1.0, 3.0, 1.0])
    # R: DESeq2:::matchWeightedUpperQuantileForVariance(x, w) = 1.1977285752001423
    assert E.weighted_upper_quantile_var(x, w) == pytest.approx(1.1977285752001423, rel=1e-14)


def test_threaded_fit_beta_with_normalization_factors(data, fit):
    """Gene blocks in threads (n_cpus=2, >= 2,000 genes) split the nf matrix with the counts
    (dispersion 0.3 for all: IRLS converges everywhere, keeping the test fast)."""
    y, X, _, _ = data
    nf = E.normalization_factors_from_lengths(y, _lengths("avgtxlength.tsv.gz"))
    keep = ~fit.all_zero
    yy, nn = (np.vstack([a[keep], a[keep]])[:2000] for a in (y, nf))
    disp = np.full(2000, 0.3)
    one = E.fit_beta(yy, nn, X, disp, loglik=True)
    two = E.fit_beta(yy, nn, X, disp, loglik=True, n_cpus=2)
    for f in ("beta", "cov", "loglik", "hat"):
        np.testing.assert_allclose(getattr(one, f), getattr(two, f), rtol=1e-10, err_msg=f)
