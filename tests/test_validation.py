"""Cohort-level validation (issue 15): LOCO with the whole chain refitted, frozen signatures.

Library level, no Snakemake: synthetic cohorts (tests/synthetic.py), limma DE tables per cohort.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from synthetic import study_cohorts

from markerflow.stages.cohorts import load_cohort
from markerflow.stages.de import array_de
from markerflow.stages.validation import (
    ChainSettings,
    DiscoveryInput,
    in_sample_only,
    loco_fold,
    out_of_cohort_table,
    rank_stability,
    run_loco,
    select_signature,
    validate_frozen,
)


def settings(method: str = "forward_search", seed: int = 7, **kw) -> ChainSettings:
    base = {"case_label": "case", "control_label": "control", "seed": seed, "method": method,
            "preselect": 150, "stability_subsamples": 20, "pool_size": 30, "max_genes": 10,
            "weights": {"pathway": 0.5, "expression": 0.25}}  # fmt: skip
    return ChainSettings(**(base | kw))


def discovery_inputs(cohorts, names) -> dict[str, DiscoveryInput]:
    return {
        c: DiscoveryInput(cohorts[c][0], cohorts[c][1],
                          array_de(cohorts[c][0], cohorts[c][1], "case", "control", cohort=c))
        for c in names
    }  # fmt: skip


def as_cohort(expr_sheet, name=""):
    return load_cohort(*expr_sheet, "case", "control", name=name)


def run_study(seed: int, method: str, *, n_genes: int = 1000, n_planted: int = 0):
    cohorts, truth = study_cohorts(seed, n_genes=n_genes, n_planted=n_planted)
    disc = discovery_inputs(cohorts, ("D1", "D2", "D3"))
    s = settings(method, seed=seed)
    main = select_signature(disc, s)
    folds = run_loco(disc, s)
    ooc = out_of_cohort_table(
        {f.heldout: (f.scores, f.selection.signature, f.selection.cohorts) for f in folds}
    )
    perf, _ = validate_frozen(
        main.frozen,
        {c: as_cohort(cohorts[c], c) for c in disc},
        {c: as_cohort(cohorts[c], c) for c in ("V1", "V2")},
        ooc,
    )
    return main, folds, perf, truth


# ------------------------------------------------------------ nothing fitted on a cohort scores it
@pytest.mark.parametrize("method", ["forward_search", "logistic"])
def test_heldout_cohort_cannot_change_its_fold(method):
    cohorts, _ = study_cohorts(3, n_genes=400, n_planted=20)
    names = ("D1", "D2", "D3")
    s = settings(method, seed=3)
    fold = loco_fold(discovery_inputs(cohorts, names), "D2", s)
    # the held-out cohort's expression replaced and its labels permuted, its DE table recomputed
    expr, sheet = cohorts["D2"]
    rng = np.random.default_rng(0)
    changed = dict(cohorts)
    changed["D2"] = (
        expr + rng.normal(0, 2.0, expr.shape),
        sheet.assign(condition=rng.permutation(sheet["condition"].to_numpy())),
    )
    fold2 = loco_fold(discovery_inputs(changed, names), "D2", s)
    assert json.dumps(fold.selection.frozen, sort_keys=True) == json.dumps(
        fold2.selection.frozen, sort_keys=True
    )
    pd.testing.assert_frame_equal(fold.selection.signature, fold2.selection.signature)
    pd.testing.assert_frame_equal(fold.selection.candidates, fold2.selection.candidates)
    pd.testing.assert_frame_equal(fold.selection.meta, fold2.selection.meta)
    assert fold.selection.cohorts == ("D1", "D3")
    assert not fold.scores["score"].equals(fold2.scores["score"])  # the scored cohort did change


def test_heldout_not_a_discovery_cohort_is_named():
    from markerflow.errors import InputError

    cohorts, _ = study_cohorts(1, ("D1", "D2"), n_genes=100)
    with pytest.raises(InputError, match="'D9'"):
        loco_fold(discovery_inputs(cohorts, ("D1", "D2")), "D9", settings())


# ------------------------------------------------------------------------ tables and their labels
def test_tables_are_labelled_and_pooled():
    main, folds, perf, _ = run_study(5, "forward_search", n_genes=600, n_planted=20)
    assert set(perf["kind"]) == {"in-sample", "out-of-cohort", "external"}
    assert perf.loc[perf["kind"] == "in-sample", "cohort"].tolist() == ["D1", "D2", "D3"]
    ooc = perf[perf["kind"] == "out-of-cohort"].set_index("cohort")
    assert list(ooc.index) == ["D1", "D2", "D3", "pooled", "weighted_mean"]
    assert ooc.loc["D1", "trained_on"] == "D2;D3"
    assert (ooc["ci_method"].str.len() > 0).all()
    assert not perf["note"].str.contains("cross-valid", case=False).any()
    assert not in_sample_only(perf)
    # a table with only in-sample rows says so
    cohorts, _ = study_cohorts(5, ("D1",), n_genes=300, n_planted=10)
    one = discovery_inputs(cohorts, ("D1",))
    sel = select_signature(one, settings())
    alone, _ = validate_frozen(sel.frozen, {"D1": as_cohort(cohorts["D1"])}, {}, None)
    assert in_sample_only(alone) and alone["kind"].tolist() == ["in-sample"]
    assert alone["note"].iloc[0].startswith("in-sample only")
    stab = rank_stability({f.heldout: f.selection.candidates for f in folds}, top_n=30)
    assert stab["frequency"].between(0, 1).all() and (stab["n_folds"] == 3).all()
    assert main.frozen["discovery_cohorts"] == ["D1", "D2", "D3"]


def test_candidates_and_signature_call_nothing_cross_validated():
    main, _, _, _ = run_study(2, "logistic", n_genes=400)
    text = " ".join(map(str, main.candidates.columns))
    assert "cv_" not in text and "cross" not in text


# ------------------------------------------------------------------------------------ planted
@pytest.mark.parametrize("method", ["forward_search", "logistic"])
def test_planted_study(method):
    main, _, perf, truth = run_study(11, method, n_genes=2000, n_planted=30)
    top = set(main.candidates.head(30)["gene"])
    precision = len(top & truth) / 30
    ext = perf[perf["kind"] == "external"].set_index("cohort")
    ooc = perf[perf["kind"] == "out-of-cohort"].set_index("cohort")
    print(f"{method}: precision@30 {precision:.2f}\n{perf.to_string()}")
    assert precision >= 0.8
    assert (ext["auc"] > 0.9).all()
    assert (ooc["auc"] > 0.9).all()


# ---------------------------------------------------------------------------------- null study
@pytest.mark.slow
@pytest.mark.parametrize("method", ["forward_search", "logistic"])
def test_null_study(method):
    """Pure noise, 3 discovery + 2 validation cohorts, 20 vs 20, 20 data seeds.

    Per seed, the out-of-cohort figure (``weighted_mean``) and both validation intervals must
    contain 0.5 in >= 18 of 20 seeds. The 60 per-cohort out-of-cohort intervals (each an exact
    null test: the fold never saw its cohort) must not miss 0.5 more often than a 95 % interval
    allows (one-sided exact binomial test against 5 %, p > 0.01; DeLong is slightly liberal at
    20 vs 20). The ``pooled`` row's DeLong interval treats the folds as independent (they are not;
    see markerflow.stages.validation): its coverage is printed, only its AUC is checked. No figure
    is called cross-validated; in-sample rows are never validation.
    """
    from scipy import stats

    pooled_ok = weighted_ok = ext_seeds = 0
    cohort_ok = ext_ok = 0
    pooled = []
    for seed in range(20):
        main, _, perf, _ = run_study(1000 + seed, method, n_genes=2000)
        covers = (perf["ci_low"] <= 0.5) & (perf["ci_high"] >= 0.5)
        by = perf.assign(covers=covers).set_index("cohort")
        ooc = by[by["kind"] == "out-of-cohort"]
        pooled_ok += int(ooc.loc["pooled", "covers"])
        weighted_ok += int(ooc.loc["weighted_mean", "covers"])
        cohort_ok += int(ooc.loc[["D1", "D2", "D3"], "covers"].sum())
        ext_ok += int(by.loc[by["kind"] == "external", "covers"].sum())
        ext_seeds += int(by.loc[by["kind"] == "external", "covers"].all())
        pooled.append(ooc.loc["pooled", "auc"])
        assert not perf["note"].str.contains("cross-valid", case=False).any()
        assert not any("cv" in c.split("_") for c in main.candidates.columns)
        assert (perf.loc[perf["kind"] == "in-sample", "role"] == "discovery").all()
    print(f"{method}: pooled out-of-cohort covers 0.5 in {pooled_ok}/20 seeds, weighted mean "
          f"{weighted_ok}/20, per-cohort {cohort_ok}/60, external {ext_ok}/40 "
          f"({ext_seeds}/20 seeds); mean pooled "
          f"out-of-cohort AUC {np.mean(pooled):.3f}")  # fmt: skip
    assert weighted_ok >= 18 and ext_seeds >= 18
    misses = 60 - cohort_ok
    assert stats.binomtest(misses, 60, 0.05, alternative="greater").pvalue > 0.01, misses
    assert abs(np.mean(pooled) - 0.5) < 0.05


# ------------------------------------------------------ a fold's ComBat without the merged matrix
def fold_study(seed: int = 4):
    """Three cohorts: one with an internal batch, one with a third condition, a missing value
    and its genes in another order with an extra gene."""
    cohorts, _ = study_cohorts(seed, ("D1", "D2", "D3"), n_genes=500, n_planted=20)
    e2, s2 = cohorts["D2"]
    cohorts["D2"] = (e2, s2.assign(batch=np.where(np.arange(len(s2)) % 2, "a", "b")))
    e3, s3 = cohorts["D3"]
    e3 = e3.iloc[::-1].copy()
    e3.loc["EXTRA"] = 5.0
    e3.iloc[10, 3] = np.nan
    s3 = s3.assign(condition=np.where(np.arange(len(s3)) % 7 == 0, "other", s3["condition"]))
    cohorts["D3"] = (e3, s3)
    return cohorts


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"mean_only": True}, {"reference_batch": "D2:a"}, {"parametric": False}],
    ids=["param", "meanonly", "ref", "nonparam"],
)
def test_fold_combat_equals_merge_and_correct(kwargs):
    from markerflow.stages.merge import merge_and_correct
    from markerflow.stages.validation import fold_combat

    cohorts = fold_study()
    mats = {c: e for c, (e, _) in cohorts.items()}
    sheets = {c: s for c, (_, s) in cohorts.items()}
    want = merge_and_correct(mats, sheets, **kwargs)
    fold = fold_combat(mats, sheets, **kwargs)
    assert list(fold.genes) == list(want.expression.index)
    pd.testing.assert_frame_equal(fold.samples, want.samples)
    genes = list(want.expression.index[::3])
    got = fold.adjusted(genes)
    diff = np.abs(got.to_numpy() - want.expression.loc[got.index].to_numpy()).max()
    assert diff <= 1e-12
    assert list(got.columns) == list(want.expression.columns)


def test_fold_candidates_equal_the_merged_path():
    """select_signature's candidates equal rank_candidates on the full ComBat-merged matrix."""
    from markerflow.stages.candidates import rank_candidates
    from markerflow.stages.merge import merge_and_correct
    from markerflow.stages.meta import meta_analysis

    cohorts = fold_study(6)
    names = ("D1", "D2", "D3")
    disc = discovery_inputs(cohorts, names)
    s = settings(seed=6)
    sel = select_signature(disc, s)
    merged = merge_and_correct({c: cohorts[c][0] for c in names},
                               {c: cohorts[c][1] for c in names})  # fmt: skip
    mc = load_cohort(merged.expression, merged.samples, "case", "control", name="merged")
    meta = meta_analysis({c: disc[c].de for c in names})
    want = rank_candidates(meta, {c: as_cohort(cohorts[c], c) for c in names},
                           merged=mc.expression, merged_is_case=mc.is_case, enrichment=[],
                           weights=dict(s.weights), seed=s.seed, fdr_threshold=s.fdr,
                           preselect=s.preselect, n_subsamples=s.stability_subsamples)  # fmt: skip
    pd.testing.assert_frame_equal(sel.candidates, want, check_exact=False, rtol=1e-10)
    assert list(sel.candidates["gene"]) == list(want["gene"])
