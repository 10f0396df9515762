"""Meta-analysis against metafor (R) and hand-worked formulas.

Fixture: tests/fixtures/meta/make_fixture.R (R 4.2.2, metafor 3.8-1): 6 genes x 4 cohorts, G6 not
measured in cohort C3. Hedges' g / SE are MetaIntegrator's ``.getES`` written out in R; pooled
estimates are ``metafor::rma(yi, sei, method="DL")``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from markerflow.errors import InputError
from markerflow.model.effectsize import hedges_g
from markerflow.rcompat.padjust import p_adjust_bh
from markerflow.stages.meta import META_COLUMNS, dersimonian_laird, meta_analysis

FIX = Path(__file__).parent / "fixtures" / "meta"
GENES = [f"G{i}" for i in range(1, 7)]
TOL = 1e-10


@pytest.fixture(scope="module")
def fixture_tables() -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    expr = pd.read_csv(FIX / "expression.tsv", sep="\t")
    effects = pd.read_csv(FIX / "effects.tsv", sep="\t")
    metafor = pd.read_csv(FIX / "metafor_dl.tsv", sep="\t").set_index("gene")
    tables = {}
    for cohort, part in expr.groupby("cohort", sort=True):
        values = part[GENES].to_numpy(dtype=float).T
        is_case = part["case"].to_numpy() == 1
        g, se = hedges_g(values, is_case)
        t = stats.ttest_ind(values[:, is_case], values[:, ~is_case], axis=1)
        tables[cohort] = pd.DataFrame({
            "gene": GENES, "log2fc": values[:, is_case].mean(1) - values[:, ~is_case].mean(1),
            "pvalue": t.pvalue, "hedges_g": g, "hedges_g_se": se,
            "n_case": is_case.sum(), "n_control": (~is_case).sum(),
        }).dropna(subset=["hedges_g"])  # fmt: skip
    return tables, effects, metafor


def test_hedges_g_matches_r(fixture_tables):
    tables, effects, _ = fixture_tables
    for row in effects.dropna().itertuples():
        t = tables[row.cohort].set_index("gene")
        assert t.loc[row.gene, "hedges_g"] == pytest.approx(row.g, abs=TOL, rel=TOL)
        assert t.loc[row.gene, "hedges_g_se"] == pytest.approx(row.se, abs=TOL, rel=TOL)
    assert "G6" not in set(tables["C3"]["gene"])


def test_dersimonian_laird_matches_metafor(fixture_tables):
    tables, _, metafor = fixture_tables
    meta = meta_analysis(tables, leave_one_out=False).set_index("gene").loc[GENES]
    pairs = {"pooled_effect": "effect", "pooled_se": "se", "pooled_z": "z", "pvalue": "pvalue",
             "tau2": "tau2", "q": "q", "q_pvalue": "q_pvalue", "i2": "i2"}  # fmt: skip
    for ours, theirs in pairs.items():
        np.testing.assert_allclose(meta[ours], metafor.loc[GENES, theirs], rtol=TOL, atol=TOL,
                                   err_msg=ours)  # fmt: skip
    np.testing.assert_array_equal(meta["n_cohorts"], metafor.loc[GENES, "k"])
    # the fixture covers tau2 > 0 (G1, G3, G5) and tau2 truncated at 0 (G2, G4, G6)
    assert (metafor["tau2"] > 0).sum() == 3


def test_dersimonian_laird_hand_worked():
    """rmeta::meta.summaries / metafor DL formulas written out for 3 studies."""
    g = np.array([[0.5, 1.0, 1.8]])
    se = np.array([[0.3, 0.4, 0.35]])
    w = 1 / se[0] ** 2  # 11.111.., 6.25, 8.163265..
    mu_f = (w * g[0]).sum() / w.sum()
    q = (w * (g[0] - mu_f) ** 2).sum()
    tau2 = (q - 2) / (w.sum() - (w**2).sum() / w.sum())
    ws = 1 / (se[0] ** 2 + tau2)
    mu = (ws * g[0]).sum() / ws.sum()
    res = dersimonian_laird(g, se)
    assert res["tau2"][0] == pytest.approx(tau2, rel=1e-12)
    assert res["effect"][0] == pytest.approx(mu, rel=1e-12)
    assert res["se"][0] == pytest.approx(ws.sum() ** -0.5, rel=1e-12)
    assert res["i2"][0] == pytest.approx(100 * (q - 2) / q, rel=1e-12)
    assert res["q_pvalue"][0] == pytest.approx(stats.chi2.sf(q, 2), rel=1e-12)
    # numbers of this worked example (computed once by hand with the formulas above)
    assert q == pytest.approx(7.965019, abs=1e-6)
    assert tau2 == pytest.approx(0.3605034, abs=1e-7)


def test_bh_matches_r_p_adjust():
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.2, NA, 0.5), "BH")
    p = np.array([0.01, 0.04, 0.03, 0.2, np.nan, 0.5])
    expected = [0.05, 0.2 / 3, 0.2 / 3, 0.25, np.nan, 0.5]
    np.testing.assert_allclose(p_adjust_bh(p), expected, rtol=1e-12)


def test_columns_fisher_and_sign(fixture_tables):
    tables, _, _ = fixture_tables
    meta = meta_analysis(tables)
    assert list(meta.columns[: len(META_COLUMNS)]) == list(META_COLUMNS)
    assert [c for c in meta.columns if c.startswith("g_")] == ["g_C1", "g_C2", "g_C3", "g_C4"]
    row = meta.set_index("gene").loc["G5"]
    ps = np.array([tables[c].set_index("gene").loc["G5", "pvalue"] for c in sorted(tables)])
    lfc = np.array([tables[c].set_index("gene").loc["G5", "log2fc"] for c in sorted(tables)])
    assert (lfc > 0).all()
    expected_up = stats.combine_pvalues(ps / 2, method="fisher").pvalue
    expected_down = stats.combine_pvalues(1 - ps / 2, method="fisher").pvalue
    assert row["fisher_up_p"] == pytest.approx(expected_up, rel=1e-10)
    assert row["fisher_down_p"] == pytest.approx(expected_down, rel=1e-10)
    assert row["sign_agreement"] == 1.0
    g3 = meta.set_index("gene").loc["G3"]
    signs = np.sign(g3[["g_C1", "g_C2", "g_C3", "g_C4"]].to_numpy(float))
    assert g3["sign_agreement"] == pytest.approx(np.mean(signs == np.sign(g3["pooled_effect"])))


def test_leave_one_out(fixture_tables):
    tables, _, _ = fixture_tables
    meta = meta_analysis(tables).set_index("gene")
    # brute force: rerun the whole meta-analysis without each cohort
    worst = pd.Series(0.0, index=meta.index)
    for drop in tables:
        sub = meta_analysis({c: t for c, t in tables.items() if c != drop},
                            min_cohorts=1, leave_one_out=False).set_index("gene")  # fmt: skip
        sub = sub.reindex(meta.index)
        f = sub["fdr"].where(np.sign(sub["pooled_effect"]) == np.sign(meta["pooled_effect"]), 1.0)
        worst = np.maximum(worst, f.fillna(1.0))
    np.testing.assert_allclose(meta["loo_max_fdr"], worst, rtol=1e-12)
    two = meta_analysis({c: tables[c] for c in ["C1", "C2"]})
    assert two["loo_max_fdr"].isna().all()


def test_min_cohorts_and_single_cohort(fixture_tables):
    tables, _, _ = fixture_tables
    strict = meta_analysis(tables, min_cohorts=4)
    assert "G6" not in set(strict["gene"]) and len(strict) == 5
    single = meta_analysis({"C2": tables["C2"]}).set_index("gene")
    t = tables["C2"].set_index("gene").loc[single.index]
    np.testing.assert_array_equal(single["pooled_effect"], t["hedges_g"])
    np.testing.assert_array_equal(single["pooled_se"], t["hedges_g_se"])
    np.testing.assert_allclose(single["pooled_z"], t["hedges_g"] / t["hedges_g_se"])
    np.testing.assert_array_equal(single["pvalue"], t["pvalue"])
    np.testing.assert_allclose(single["fdr"], p_adjust_bh(t["pvalue"].to_numpy()))
    assert single[["tau2", "q", "i2", "loo_max_fdr"]].isna().all().all()
    assert (single["n_cohorts"] == 1).all() and (single["sign_agreement"] == 1).all()


def test_fixed_effect_and_errors(fixture_tables):
    tables, _, _ = fixture_tables
    fe = meta_analysis(tables, method="fixed_effect", leave_one_out=False).set_index("gene")
    g = np.column_stack([tables[c].set_index("gene")["hedges_g"].reindex(GENES) for c in tables])
    se = np.column_stack(
        [tables[c].set_index("gene")["hedges_g_se"].reindex(GENES) for c in tables]
    )
    w = np.where(np.isfinite(g), 1 / se**2, 0)
    np.testing.assert_allclose(fe.loc[GENES, "pooled_effect"],
                               (w * np.nan_to_num(g)).sum(1) / w.sum(1), rtol=1e-12)  # fmt: skip
    bad = {"A": tables["C1"].drop(columns="hedges_g_se")}
    with pytest.raises(InputError, match="hedges_g_se"):
        meta_analysis(bad)
    with pytest.raises(InputError, match="min_cohorts"):
        meta_analysis(tables, min_cohorts=5)
