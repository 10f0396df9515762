"""Issue 17 item 3 wiring: ``de.counts.lfc_shrink: normal`` adds DESeq2's ``lfcShrink(type =
"normal")`` columns to the counts DE table.

R reference: tests/fixtures/deseq2_design (DESeq2 1.38.3, ~ batch + group with three levels):
``lfcShrink(dds, contrast = c("group", "C", "B"), type = "normal")``, the test the stage runs for
C vs B in a three-level cohort. Tolerance: 1e-6 relative (floor 1e-8), the issue's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerflow.plots.de import volcano
from markerflow.stages import counts as C
from markerflow.stages.de import cohort_de

FIX = Path(__file__).parent / "fixtures" / "deseq2_design"


@pytest.fixture(scope="module")
def cohort():
    counts = pd.read_csv(FIX / "counts.tsv.gz", sep="\t", index_col=0)
    sheet = pd.read_csv(FIX / "coldata.tsv", sep="\t").rename(columns={"group": "condition"})
    return counts, sheet


@pytest.fixture(scope="module")
def table(cohort):
    counts, sheet = cohort
    cfg = {"method": "deseq2", "cooks_filter": True, "independent_filter": True, "alpha": 0.1,
           "lfc_shrink": "normal"}  # fmt: skip
    arrays = {"trend": False, "robust": False, "proportion": 0.01}
    de, _ = cohort_de(counts, sheet, "counts", "C", "B", [], arrays, cfg, cohort="x",
                      levels=["A", "B", "C"])  # fmt: skip
    return de


def _close(mine, ref, what):
    mine, ref = np.asarray(mine, float), np.asarray(ref, float)
    assert np.array_equal(np.isnan(mine), np.isnan(ref)), what
    ok = ~np.isnan(ref)
    err = np.abs(mine[ok] - ref[ok]) / np.maximum(np.abs(ref[ok]), 1e-8)
    print(f"{what}: max rel err {err.max():.1e}")
    assert err.max() < 1e-6, what


def test_shrunken_columns_match_r(table):
    ref = pd.read_csv(FIX / "shrink_contrast_C_vs_B.tsv.gz", sep="\t", index_col=0)
    ref = ref.loc[table["gene"]]
    _close(table["log2fc_shrunk"], ref["log2FoldChange"], "log2fc_shrunk")
    _close(table["se_shrunk"], ref["lfcSE"], "se_shrunk")
    mle = pd.read_csv(FIX / "wald_C_vs_B.tsv.gz", sep="\t", index_col=0).loc[table["gene"]]
    _close(table["log2fc"], mle["log2FoldChange"], "log2fc stays the MLE")
    shrunk, raw = table["log2fc_shrunk"].abs(), table["log2fc"].abs()
    assert shrunk.median() < raw.median()  # towards 0 overall (not gene by gene: a refit)


def test_no_columns_unless_asked(cohort):
    counts, sheet = cohort
    de = C.deseq2(counts.iloc[:300], sheet, "C", "B", batch=True, levels=["A", "B", "C"])
    assert "log2fc_shrunk" not in de.columns
    with pytest.raises(Exception, match="lfc_shrink"):
        C.deseq2(counts.iloc[:300], sheet, "C", "B", levels=["A", "B", "C"], lfc_shrink="apeglm")


def test_volcano_plots_the_shrunken_fold_change(table):
    fig = volcano(table, "x")
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("shrunken log2 fold change")
    xs = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections])
    plotted = table.dropna(subset=["log2fc", "pvalue"])["log2fc_shrunk"].to_numpy()
    assert np.allclose(np.sort(xs), np.sort(plotted[~np.isnan(plotted)]))
