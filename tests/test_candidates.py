"""Candidate ranking: missing costly evidence is not 0, ties are broken by a stated rule and shown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from markerflow.errors import InputError
from markerflow.stages.candidates import COMPONENTS, COSTLY, pathway_counts, rank_candidates
from markerflow.stages.cohorts import Cohort


def _meta(effects, pvalues):
    n = len(effects)
    return pd.DataFrame({
        "gene": [f"G{i:02d}" for i in range(n)], "pooled_effect": effects, "pvalue": pvalues,
        "fdr": np.minimum(np.asarray(pvalues) * n, 1.0), "n_cohorts": 2, "sign_agreement": 1.0,
        "loo_max_fdr": np.minimum(np.asarray(pvalues) * n * 3, 1.0),
    })  # fmt: skip


def _cohorts(genes, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for k in range(2):
        x = pd.DataFrame(rng.normal(8, 1, (len(genes), 16)), index=genes)
        out[f"C{k}"] = Cohort(x, np.repeat([True, False], 8))
    return out


def test_missing_costly_evidence_is_not_counted_as_zero():
    effects = np.linspace(2.0, 0.2, 20)
    pvalues = np.geomspace(1e-8, 0.5, 20)
    meta = _meta(effects, pvalues)
    cohorts = _cohorts(meta["gene"].tolist())  # noise: the preselected genes' AUCs are poor
    table = rank_candidates(meta, cohorts, preselect=4, seed=1, weights={"expression": 0})
    table = table.set_index("gene")
    pre = table["preselected"]
    assert pre.sum() == 4 and pre[["G00", "G01", "G02", "G03"]].all()
    outside = table[~pre]
    assert outside[list(COSTLY)[:1]].isna().all().all()  # auc missing, not 0
    assert (outside["evidence_missing"] == "auc").all()
    cheap = [c for c in COMPONENTS if c not in (*COSTLY, "expression") and table[c].notna().any()]
    np.testing.assert_allclose(outside["composite"], outside[cheap].mean(axis=1), rtol=1e-12)
    # two tiers: every measured gene first, then the unmeasured ones in cheap-evidence order,
    # so G04 (meta g 1.62, the best gene outside the preselected set) leads the second tier
    assert table.loc[pre, "rank"].max() < table.loc[~pre, "rank"].min()
    assert table.loc["G04", "rank"] == 5
    second = table[~pre].sort_values("rank")
    assert second["composite"].is_monotonic_decreasing


def test_ties_are_broken_by_p_then_gene_and_reported():
    meta = _meta([1.0, 1.0, 1.0, 0.5], [1e-4, 1e-4, 1e-4, 1e-3])
    meta.loc[2, "pvalue"] = 2e-4  # same FDR/effect (same composite), larger p
    table = rank_candidates(meta, {}, weights={"consistency": 0})
    assert table["gene"].tolist() == ["G00", "G01", "G02", "G03"]
    assert table["rank_tied"].tolist() == [1, 1, 1, 4]
    assert table["n_tied"].tolist() == [3, 3, 3, 1]
    assert table["tie_break"].tolist() == ["gene symbol", "gene symbol", "meta p-value", ""]


def test_rank_stability_seam():
    meta = _meta([1.0, 0.5], [1e-4, 1e-3])
    stab = pd.DataFrame({"gene": ["G01"], "frequency": [0.75]})
    table = rank_candidates(meta, {}, rank_stability=stab).set_index("gene")
    assert table.loc["G01", "rank_stability"] == pytest.approx(0.75)
    assert table.loc["G00", "rank_stability"] == 0.0  # in no fold's top N


def test_reading_only_the_preselected_rows_gives_the_same_table(tmp_path):
    """Issue 20: gene means from whole matrices, then only the preselected genes' rows (read
    from Parquet by row group) give the table whole matrices give, byte for byte."""
    from markerflow.io.tables import MatrixWriter, read_matrix
    from markerflow.stages.candidates import cohort_mean_expression, preselected_genes

    meta = _meta(np.linspace(2.0, -1.0, 30), np.geomspace(1e-8, 0.5, 30))
    genes = meta["gene"].tolist()
    cohorts = _cohorts([*genes[::-1], "EXTRA"], seed=2)  # another order, an extra gene
    rng = np.random.default_rng(5)
    merged = pd.DataFrame(rng.normal(8, 1, (31, 32)), index=pd.Index([*genes, "X"], name="gene"))
    merged.columns = [f"s{j}" for j in range(32)]
    is_case = np.repeat([True, False], 16)
    options = {"weights": {"pathway": 0}, "fdr_threshold": 0.05, "preselect": 7}
    whole = rank_candidates(meta, cohorts, merged=merged, merged_is_case=is_case, seed=3,
                            n_subsamples=20, **options)  # fmt: skip
    means = {c: cohort_mean_expression(co) for c, co in cohorts.items()}
    pre = preselected_genes(meta, expression_means=means, **options)
    assert sorted(pre) == sorted(whole.loc[whole["preselected"], "gene"])
    with MatrixWriter(tmp_path / "merged.parquet", min_rows=1) as writer:  # 8 row groups
        for a in range(0, 31, 4):
            writer.write(merged.iloc[a : a + 4])
    part = {c: Cohort(co.expression.loc[[g for g in co.expression.index if g in pre]], co.is_case)
            for c, co in cohorts.items()}  # fmt: skip
    table = rank_candidates(meta, part, merged=read_matrix(tmp_path / "merged.parquet", pre),
                            merged_is_case=is_case, seed=3, n_subsamples=20,
                            expression_means=means, **options)  # fmt: skip
    pd.testing.assert_frame_equal(table, whole, check_exact=True)


def test_pathway_counts_direction_repeats_and_unknown_genes():
    genes = pd.Series(["A", "B", "C"])
    direction = pd.Series(["up", "down", "up"])
    ora = pd.DataFrame({
        "padj": [0.01, 0.01, 0.2, 0.01],
        "direction": ["up", "down", "up", "both"],
        "genes": ["A;B;C;A;Z", "A;B", "A;B;C", "B;C"],
    })  # fmt: skip
    # term 1 (up): A, C (B is down; A listed twice counts once; Z unknown); term 2 (down): B;
    # term 3 not significant; term 4 (no up/down): B, C
    assert pathway_counts(genes, direction, [ora], 0.05).tolist() == [1.0, 2.0, 2.0]
    plain = ora.drop(columns="direction")
    assert pathway_counts(genes, direction, [plain, None], 0.05).tolist() == [2.0, 3.0, 2.0]
    with pytest.raises(InputError, match="gene 'A' more than once"):
        pathway_counts(pd.Series(["A", "A"]), direction.iloc[:2], [ora], 0.05)
