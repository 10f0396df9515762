"""Issue 17: limma_counts fits one model on all the cohort's levels and tests the comparison's
contrast (voom / voomWithQualityWeights / limma-trend + lmFit + contrasts.fit + eBayes).

R reference: tests/fixtures/voom_levels (make_fixtures.R; limma 3.54.1, edgeR 3.40.2) on the
three-level data of tests/fixtures/deseq2_design, design ~ batch + group, filterByExpr(group).
Tolerance 1e-8 relative (voom, limma-trend); 1e-6 for voomWithQualityWeights (the issue's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerflow.stages import counts as C

FIX = Path(__file__).parent / "fixtures"
TOL = {"voom": 1e-8, "voom_quality_weights": 1e-6, "limma_trend": 1e-8}
PREFIX = {"voom": "voom", "voom_quality_weights": "vqw", "limma_trend": "trend"}


@pytest.fixture(scope="module")
def data():
    ref = pd.read_csv(FIX / "voom_levels" / "fits.tsv.gz", sep="\t", index_col=0)
    counts = pd.read_csv(FIX / "deseq2_design" / "counts.tsv.gz", sep="\t", index_col=0)
    sheet = pd.read_csv(FIX / "deseq2_design" / "coldata.tsv", sep="\t")
    sheet = sheet.rename(columns={"group": "condition"})
    return counts.loc[ref.index], sheet, ref


def _rel(mine, ref) -> float:
    mine, ref = np.asarray(mine, float), np.asarray(ref, float)
    assert np.array_equal(np.isnan(mine), np.isnan(ref))
    return float(np.max(np.abs(mine - ref) / np.maximum(np.abs(ref), 1e-12)))


@pytest.mark.parametrize("method", list(TOL))
@pytest.mark.parametrize(("case", "control", "name"), [("C", "B", "C_vs_B"), ("B", "A", "B_vs_A")])
def test_one_model_on_all_levels_matches_r(data, method, case, control, name):
    counts, sheet, ref = data
    de = C.limma_counts(counts, sheet, case, control, method, batch=True,
                        levels=["A", "B", "C"])  # fmt: skip
    assert de.attrs["limma"]["levels"] == ["A", "B", "C"]
    assert len(de.attrs["limma"]["tmm_factors"]) == 12  # every sample is in the model
    assert (de["n_case"].iloc[0], de["n_control"].iloc[0]) == (
        int((sheet["condition"] == case).sum()),
        int((sheet["condition"] == control).sum()),
    )
    p = f"{PREFIX[method]}_{name}"
    worst = {
        col: _rel(de[mine], ref[f"{p}_{col}"])
        for mine, col in (("log2fc", "logFC"), ("stat", "t"), ("pvalue", "P.Value"))
    }
    print(method, name, {k: f"{v:.1e}" for k, v in worst.items()})
    assert max(worst.values()) < TOL[method], worst


def test_two_level_subset_differs_from_the_one_model(data):
    """The old rule (subset to the two levels) gives other statistics: the third level's
    samples inform the variance and the TMM factors."""
    counts, sheet, ref = data
    two = sheet[sheet["condition"].isin(["B", "C"])]
    sub = C.limma_counts(counts[two["sample"]], two, "C", "B", "voom", batch=True)
    assert _rel(sub["stat"], ref["voom_C_vs_B_t"]) > 1e-3
