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


def test_fit_matches_r(data, fit):
    y, X, _, _ = data
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
