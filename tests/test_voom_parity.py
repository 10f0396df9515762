"""R parity of the edgeR / limma-voom engines (issue 17, acceptance 1 and 2).

References: tests/fixtures/voom/make_fixtures.R (R 4.2.2, limma 3.54.1, edgeR 3.40.2) on
../shared/data/reference/rnaseq_simulated (5,000 x 12, ~condition, filterByExpr by group) and on
every 4th gene of resources/example/GSE85567 (2,684 x 85, design Intercept + Gender + Age (scaled)
+ condition, filterByExpr by design). Tolerances (relative): TMM 1e-12, cpm 1e-12, voom weights
and voom / limma-trend t and P.Value 1e-8, voomWithQualityWeights sample weights and t 1e-6.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerflow.engines import edger, limma
from markerflow.engines import voom as voom_mod
from markerflow.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "voom"


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / name, sep="\t")


def _rel(actual, expected) -> float:
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.fixture(scope="module", params=["sim", "gse"])
def case(request, reference_dir):
    """(name, counts genes x samples, design, group or None, use-design-for-filter)."""
    name = request.param
    if name == "sim":
        sim = reference_dir / "rnaseq_simulated"
        counts = pd.read_csv(sim / "counts.tsv.gz", sep="\t", index_col=0)
        cd = pd.read_csv(sim / "coldata.tsv", sep="\t").set_index("sample_id").loc[counts.columns]
        x = np.column_stack([np.ones(counts.shape[1]), (cd["condition"] == "B").to_numpy(float)])
        return name, counts.to_numpy(np.float64), x, cd["condition"].to_numpy()
    counts = pd.read_csv(FIXTURES / "gse_counts.tsv.gz", sep="\t", index_col=0)
    x = _read("gse_design.tsv.gz").iloc[:, 1:].to_numpy(np.float64)
    return name, counts.to_numpy(np.float64), x, None


@pytest.fixture(scope="module")
def kept(case):
    name, y, x, group = case
    keep = edger.filter_by_expr(y, group=group, design=None if group is not None else x)
    ck = y[keep]
    lib = ck.sum(axis=0) * edger.calc_norm_factors(ck)
    return name, ck, x, lib


def test_tmm_and_cpm(case):
    name, y, _, _ = case
    ref = _read(f"{name}_norm.tsv.gz")
    nf = edger.calc_norm_factors(y)
    assert _rel(nf, ref["tmm"]) < 1e-12
    assert np.all(edger.calc_norm_factors(y, method="none") == 1)
    eff = y.sum(axis=0) * nf
    raw = _read(f"{name}_cpm.tsv.gz").iloc[:, 1:]
    assert _rel(edger.cpm(y[: len(raw)], eff), raw) < 1e-12
    lg = _read(f"{name}_logcpm.tsv.gz").iloc[:, 1:]
    assert _rel(edger.cpm(y[: len(lg)], eff, log=True, prior_count=2), lg) < 1e-12


def test_filter_by_expr(case):
    name, y, x, group = case
    ref = _read(f"{name}_keep.tsv.gz")["keep"].to_numpy().astype(bool)
    keep = edger.filter_by_expr(y, group=group, design=None if group is not None else x)
    assert np.array_equal(keep, ref)
    if name == "sim":
        assert 0 < keep.sum() < keep.size  # the filter removes genes here


def test_voom_weights_and_moderated_t(kept):
    name, ck, x, lib = kept
    assert _rel(lib / ck.sum(axis=0), _read(f"{name}_kept_norm.tsv.gz")["tmm_kept"]) < 1e-12
    v = voom_mod.voom(ck, x, lib_size=lib)
    w_ref = _read(f"{name}_voom_weights.tsv.gz").iloc[:, 1:]
    assert _rel(v.weights[: len(w_ref)], w_ref) < 1e-8
    e_ref = _read(f"{name}_voom_E.tsv.gz").iloc[:, 1:]
    assert _rel(v.expression[: len(e_ref)], e_ref) < 1e-12
    fit = limma.ebayes(limma.lm_fit(v.expression, x, weights=v.weights))
    ref = _read(f"{name}_fits.tsv.gz")
    j = x.shape[1] - 1
    assert _rel(fit.coefficients[:, j], ref["voom_logFC"]) < 1e-8
    assert _rel(fit.sigma, ref["voom_sigma"]) < 1e-8
    assert _rel(fit.t[:, j], ref["voom_t"]) < 1e-8
    assert _rel(fit.p_value[:, j], ref["voom_P"]) < 1e-8


def test_limma_trend(kept):
    name, ck, x, lib = kept
    logcpm = edger.cpm(ck, lib, log=True, prior_count=3)
    fit = limma.ebayes(limma.lm_fit(logcpm, x), trend=True)
    ref = _read(f"{name}_fits.tsv.gz")
    j = x.shape[1] - 1
    assert _rel(fit.t[:, j], ref["trend_t"]) < 1e-8
    assert _rel(fit.p_value[:, j], ref["trend_P"]) < 1e-8


def test_voom_with_quality_weights(kept):
    name, ck, x, lib = kept
    v = voom_mod.voom_with_quality_weights(ck, x, lib_size=lib)
    assert v.sample_weights is not None
    assert _rel(v.sample_weights, _read(f"{name}_kept_norm.tsv.gz")["array_weight"]) < 1e-6
    w_ref = _read(f"{name}_vqw_weights.tsv.gz").iloc[:, 1:]
    assert _rel(v.weights[: len(w_ref)], w_ref) < 1e-6
    fit = limma.ebayes(limma.lm_fit(v.expression, x, weights=v.weights))
    ref = _read(f"{name}_fits.tsv.gz")
    j = x.shape[1] - 1
    assert _rel(fit.t[:, j], ref["vqw_t"]) < 1e-6
    assert _rel(fit.p_value[:, j], ref["vqw_P"]) < 1e-6


def test_weighted_lm_fit_matches_per_gene_wls_with_missing_values():
    """Weighted lm_fit vs a direct per-gene weighted least squares, with NaN and zero weights."""
    rng = np.random.default_rng(7)
    g, n = 60, 10
    x = np.column_stack([np.ones(n), np.repeat([0.0, 1.0], n // 2), rng.normal(size=n)])
    y = rng.normal(size=(g, n)) + 3
    w = rng.uniform(0.2, 3, size=(g, n))
    y[3, 2] = np.nan
    w[5, 7] = 0.0
    y[8, :8] = np.nan  # 2 observations: no residual df
    fit = limma.lm_fit(y, x, weights=w)
    for i in (0, 3, 5):
        obs = np.isfinite(y[i]) & (w[i] > 0)
        sw = np.sqrt(w[i, obs])
        beta, rss, *_ = np.linalg.lstsq(x[obs] * sw[:, None], y[i, obs] * sw, rcond=None)
        assert np.allclose(fit.coefficients[i], beta, rtol=1e-12)
        df = obs.sum() - 3
        assert fit.df_residual[i] == df
        assert np.isclose(fit.sigma[i], np.sqrt(rss[0] / df), rtol=1e-12)
    assert np.isnan(fit.sigma[8]) and fit.df_residual[8] == 0
    # array weights (one per sample) equal the same weights given as a matrix
    aw = rng.uniform(0.5, 2, size=n)
    a = limma.lm_fit(y[:3], x, weights=aw)
    b = limma.lm_fit(y[:3], x, weights=np.tile(aw, (3, 1)))
    assert np.allclose(a.coefficients, b.coefficients, rtol=1e-12)
    assert np.allclose(a.sigma, b.sigma, rtol=1e-12)
    with pytest.raises(InputError):
        limma.lm_fit(y, x, weights=np.ones((g, n + 1)))


def test_bad_counts_are_input_errors():
    with pytest.raises(InputError):
        edger.calc_norm_factors(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(InputError):
        voom_mod.voom(np.array([[1.0, -1.0], [2.0, 3.0], [4.0, 5.0]]))
    with pytest.raises(InputError):
        edger.cpm(np.ones((3, 2)), lib_size=np.array([1.0, 0.0]))


def test_rank_trimming_equals_average_ranks():
    """The O(n) trimming of TMM selects exactly the values whose average rank is in range."""
    from scipy.stats import rankdata

    from markerflow.engines.edger import _rank_within

    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        v = rng.integers(0, 6, n).astype(float)  # many ties
        lo = int(rng.integers(0, n + 2))
        hi = int(rng.integers(0, n + 2))
        r = rankdata(v)
        assert np.array_equal(_rank_within(v, lo, hi), (r >= lo) & (r <= hi))


@pytest.mark.parametrize(
    ("method", "column", "label"),
    [
        ("voom", "voom", "limma-voom"),
        ("limma_trend", "trend", "limma-trend"),
        ("voom_quality_weights", "vqw", "limma-voom-qw"),
    ],
)
def test_stage_limma_counts_on_gse85567_matches_r(method, column, label):
    """de.cohort_de with de.counts.method = voom / limma_trend / voom_quality_weights on the
    GSE85567 fixture genes (design Gender + Age + condition, as the example) equals R."""
    from markerflow.contracts import DE_COLUMNS
    from markerflow.stages.de import cohort_de

    counts = pd.read_csv(FIXTURES / "gse_counts.tsv.gz", sep="\t", index_col=0)
    sheet = pd.read_csv(
        Path(__file__).parents[1] / "resources/example/GSE85567/GSE85567_samples.tsv", sep="\t"
    )
    sheet = pd.DataFrame(
        {
            "sample": sheet["column"],
            "condition": sheet["Status"],
            "batch": "b1",
            "Gender": sheet["Gender"],
            "Age": sheet["Age"],
        }
    )
    table, matrix = cohort_de(
        counts,
        sheet,
        "counts",
        "Asthma",
        "Control",
        ["Gender", "Age"],
        {"trend": False, "robust": False, "proportion": 0.01},
        {"method": method},
        cohort="GSE85567",
    )
    assert tuple(table.columns[: len(DE_COLUMNS)]) == DE_COLUMNS
    assert set(table["method"]) == {label}
    ref = _read("gse_fits.tsv.gz")
    assert list(table["gene"]) == list(ref["gene"])
    assert _rel(table["stat"], ref[f"{column}_t"]) < (1e-6 if column == "vqw" else 1e-8)
    assert _rel(table["pvalue"], ref[f"{column}_P"]) < (1e-6 if column == "vqw" else 1e-8)
    assert _rel(table["log2fc"], ref[f"{column}_logFC"]) < 1e-6
    assert np.allclose(table["se"], np.abs(table["log2fc"] / table["stat"]), rtol=1e-10)
    assert matrix.shape == counts.shape and matrix.index.name == "gene"
    if column == "voom":  # downstream matrix = voom's E (all samples are in the two groups)
        e_ref = _read("gse_voom_E.tsv.gz").set_index("gene")
        got = matrix.loc[e_ref.index, e_ref.columns]
        assert _rel(got, e_ref) < 1e-12
    assert table["hedges_g"].notna().all()


def test_genes_stage_uses_filter_by_expr_for_limma_methods(reference_dir):
    from markerflow.stages.genes import filter_by_expr

    sim = reference_dir / "rnaseq_simulated"
    counts = pd.read_csv(sim / "counts.tsv.gz", sep="\t", index_col=0)
    cd = pd.read_csv(sim / "coldata.tsv", sep="\t").set_index("sample_id")["condition"]
    kept, report = filter_by_expr(counts, cd)
    ref = _read("sim_keep.tsv.gz")["keep"].to_numpy().astype(bool)
    assert list(kept.index) == list(counts.index[ref])
    assert report["n_after"] == int(ref.sum()) and report["filter"] == "filterByExpr"


def test_lowess_fit_points_carry_the_whole_curve():
    """approx through lowess's locally fitted points equals approx through all of its output."""
    from markerflow.rcompat.interpolate import approx_rule2_ties_mean
    from markerflow.rcompat.lowess import lowess, lowess_fit_points

    rng = np.random.default_rng(11)
    x = np.round(rng.normal(5, 2, 3000), 2)  # with ties
    y = np.sqrt(np.abs(np.sin(x))) + rng.normal(0, 0.1, x.size)
    line = lowess(x, y, f=0.5)
    knots = np.argsort(x, kind="stable")[lowess_fit_points(x, f=0.5)]
    assert knots.size < x.size / 10
    xout = rng.uniform(-3, 13, 5000)
    full = approx_rule2_ties_mean(x, line, xout)
    short = approx_rule2_ties_mean(x[knots], line[knots], xout)
    assert np.allclose(short, full, rtol=1e-13, atol=1e-15)
