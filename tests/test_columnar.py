"""Per-cohort columnar summary (issue 20, markerflow.stages.columnar): written once by the DE job,
read by meta, candidates and the LOCO folds instead of whole DE tables and matrices.

Every number must be the one the stages computed from the whole files before (bit for bit), and a
fold fed from summaries must equal a fold fed from whole matrices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic import study_cohorts

from markerflow.engines.combat_blocks import cell_stats
from markerflow.errors import InputError
from markerflow.io.tables import read_de_table, read_matrix, read_tsv, write_matrix, write_tsv
from markerflow.stages.candidates import cohort_mean_expression
from markerflow.stages.cohorts import load_cohort
from markerflow.stages.columnar import read_de_summary, read_summary, summarise_files, write_summary
from markerflow.stages.de import array_de
from markerflow.stages.merge import plan_merge
from markerflow.stages.signature import signature_rows
from markerflow.stages.tables import sort_by_pvalue
from markerflow.stages.validation import (
    ChainSettings,
    DiscoveryInput,
    SummarisedInput,
    select_signature,
)

SHEET = {"dtype": {"sample": str, "batch": str}}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Three cohorts written as the DE job writes them, then summarised: D2 has two batches and
    a gene with a missing value, D3 a negative minimum."""
    root = tmp_path_factory.mktemp("columnar")
    cohorts, _ = study_cohorts(5, ("D1", "D2", "D3"), n_genes=400, n_planted=20)
    expr, sheet = cohorts["D2"]
    sheet = sheet.assign(batch=np.where(np.arange(len(sheet)) % 3 == 0, "A", "B"))
    expr = expr.copy()
    expr.iloc[7, 3] = np.nan
    cohorts["D2"] = (expr, sheet)
    expr, sheet = cohorts["D3"]
    cohorts["D3"] = (expr - 9.0, sheet)
    paths = {}
    for c, (x, s) in cohorts.items():
        d = root / c
        d.mkdir()
        write_tsv(sort_by_pvalue(array_de(x, s, "case", "control", cohort=c)), d / "de.tsv")
        write_matrix(x, d / "normalized.parquet")
        write_tsv(s, d / "samples.tsv")
        summary = summarise_files(d / "de.tsv", d / "normalized.parquet", d / "samples.tsv",
                                  cohort=c, case_label="case", control_label="control")  # fmt: skip
        write_summary(summary, d / "de.parquet", d / "genes.parquet")
        paths[c] = d
    return paths


def test_summary_holds_the_numbers_the_stages_computed_from_whole_files(study) -> None:
    """de.parquet is read_de_table's frame; the gene means, completeness, minimum row and every
    cell statistic are bit-equal to what candidates, signature_rows and the fold's ComBat computed
    from the whole matrix (the fold took a row subset of the read-back matrix)."""
    for c, d in study.items():
        pd.testing.assert_frame_equal(read_de_summary(d / "de.parquet"),
                                      read_de_table(d / "de.tsv"), check_exact=True)  # fmt: skip
        s = read_summary(d / "genes.parquet", d / "de.parquet")
        matrix, sheet = read_matrix(d / "normalized.parquet"), read_tsv(d / "samples.tsv", **SHEET)
        cohort = load_cohort(matrix, sheet, "case", "control", name=c)
        want = cohort_mean_expression(cohort)
        assert s.mean_expression.index.equals(want.index)
        np.testing.assert_array_equal(s.mean_expression.to_numpy(), want.to_numpy())
        np.testing.assert_array_equal(s.complete, ~matrix.isna().any(axis=1).to_numpy())
        rows = signature_rows(cohort.expression, [])
        assert [s.minimum_gene] == list(rows.index)
        assert s.minimum == np.nanmin(cohort.expression.to_numpy())
        # the fold's former computation: merged labels, a row take of the read-back matrix
        _, merged = plan_merge({c: (matrix.index, list(matrix.columns))}, {c: sheet})
        key = pd.Series(list(zip(merged["batch"], merged["condition"], strict=True)))
        cell, cells = pd.factorize(key)
        assert [tuple(k) for k in cells] == list(s.cells)
        genes = matrix.index[s.complete][::3]
        x = matrix.to_numpy(dtype=np.float64)[matrix.index.get_indexer(genes)]
        old, new = cell_stats(x, cell, len(cells)), s.cell_rows(pd.Index(genes))
        for f in ("n", "mean", "m2", "lo", "hi"):
            np.testing.assert_array_equal(getattr(new, f), getattr(old, f))
    assert read_summary(study["D2"] / "genes.parquet").cells[0][0].startswith("D2:")


def test_fold_from_summaries_equals_the_fold_from_whole_matrices(study) -> None:
    """select_signature on SummarisedInput (summaries + matrix rows) gives the same meta table,
    candidates, signature and frozen record as on whole matrices in memory, exactly."""
    s = ChainSettings(case_label="case", control_label="control", seed=3, preselect=60,
                      stability_subsamples=10, pool_size=20, max_genes=6)  # fmt: skip
    whole, summarised = {}, {}
    for c, d in study.items():
        sheet = read_tsv(d / "samples.tsv", **SHEET)
        whole[c] = DiscoveryInput(read_matrix(d / "normalized.parquet"), sheet,
                                  read_de_table(d / "de.tsv"))  # fmt: skip
        summarised[c] = SummarisedInput(read_summary(d / "genes.parquet", d / "de.parquet"),
                                        sheet, d / "normalized.parquet")  # fmt: skip
    a, b = select_signature(whole, s), select_signature(summarised, s)
    pd.testing.assert_frame_equal(a.meta, b.meta, check_exact=True)
    pd.testing.assert_frame_equal(a.candidates, b.candidates, check_exact=True)
    pd.testing.assert_frame_equal(a.signature, b.signature, check_exact=True)
    assert a.frozen == b.frozen


def test_a_file_that_is_not_a_summary_is_a_clear_input_error(study, tmp_path) -> None:
    with pytest.raises(InputError, match=r"genes\.parquet"):
        read_summary(tmp_path / "genes.parquet")
    with pytest.raises(InputError, match=r"markerflow\.summary"):
        read_summary(study["D1"] / "normalized.parquet")
