"""Issue 19, class 5: data changed silently. Every alteration is counted; implausible data stop.

Each case runs a stage the way its workflow script does (compute, then write) into a scratch
``results`` folder and asserts the exact message and that the folder stays empty on failure, or
the recorded alteration on success (tests/README.md, "Round two: data and cache").
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic import expression_frame, write_text

from markerflow.errors import AnalysisError, InputError
from markerflow.io.tables import write_matrix, write_tsv
from markerflow.stages import qc
from markerflow.stages.de import cohort_de
from markerflow.stages.genes import map_cohort_genes

PROJECT = Path(__file__).resolve().parents[2]
ARRAYS = {"trend": False, "robust": False, "proportion": 0.01}
COUNTS = {"cooks_filter": True, "independent_filter": True, "alpha": 0.1}


def sheet(columns, n_case: int | None = None) -> pd.DataFrame:
    columns = list(columns)
    n_case = len(columns) // 2 if n_case is None else n_case
    return pd.DataFrame(
        {
            "sample": columns,
            "cohort": "C1",
            "condition": ["case"] * n_case + ["control"] * (len(columns) - n_case),
            "batch": "1",
        }
    )


def linear(n_genes: int = 30, seed: int = 1) -> pd.DataFrame:
    """Intensities on a linear scale (GEO2R's rule says: take log2)."""
    expression, _ = expression_frame(n_genes=n_genes, seed=seed)
    return 2.0**expression


def run_genes(out: Path, expression, samples, data_type="array", annotation=None, **kw):
    """genes_map.py's body: compute, then write the three outputs (nothing before success)."""
    try:
        genes, mapping, alterations, _ = map_cohort_genes(
            expression, samples, data_type, annotation, cohort="C1", **kw
        )
    except (InputError, AnalysisError):
        assert not out.exists() or not any(out.iterdir()), "partial output left"
        raise
    write_matrix(genes, out / "expression.parquet")
    write_tsv(mapping, out / "mapping.tsv")
    write_tsv(alterations, out / "alterations.tsv")
    return genes, alterations


def run_qc(out: Path, expression, samples, mode="auto", data_type="array"):
    try:
        per_sample, summary, _, _ = qc.cohort_qc(expression, samples, data_type, mode, 3.0, "C1")
    except (InputError, AnalysisError):
        assert not out.exists() or not any(out.iterdir()), "partial output left"
        raise
    write_tsv(per_sample, out / "samples_qc.tsv")
    write_tsv(summary, out / "summary.tsv")


def run_de(out: Path, expression, samples, data_type="array"):
    expression = expression.rename_axis("gene")
    try:
        table, _ = cohort_de(
            expression, samples, data_type, "case", "control", [], ARRAYS, COUNTS, cohort="C1"
        )
    except (InputError, AnalysisError):
        assert not out.exists() or not any(out.iterdir()), "partial output left"
        raise
    write_tsv(table, out / "de.tsv")


# ------------------------------------------------------------------ the examples


def test_log2_yes_on_values_at_or_below_zero_is_counted_and_reported(tmp_path, caplog):
    expression = linear()
    expression.iloc[0:3, 0] = 0.0
    expression.iloc[5, 1:3] = -4.0
    with caplog.at_level(logging.WARNING):
        genes, alterations = run_genes(tmp_path, expression, sheet(expression.columns),
                                       log2_mode="yes")  # fmt: skip
    row = alterations.iloc[0]
    assert row["alteration"] == "values <= 0 set to missing before log2 (GEO2R)"
    assert (row["cells"], row["features"], row["samples"]) == (5, 4, 3)
    assert row["examples"] == "P0/GSM100=0; P1/GSM100=0; P2/GSM100=0"
    assert (
        "cohort C1: log2 set 5 value(s) <= 0 to missing (GEO2R), in 4 of 30 features and 3 of 8 "
        "samples; e.g. P0/GSM100=0; P1/GSM100=0; P2/GSM100=0"
    ) in caplog.text
    assert int(genes.isna().sum().sum()) == 5  # the cells reported are the cells missing
    written = pd.read_csv(tmp_path / "alterations.tsv", sep="\t")
    assert written["cells"].tolist() == [5]


def test_huge_values_with_log2_no_stop_with_a_named_reason(tmp_path):
    expression, _ = expression_frame()
    expression.iloc[2, 3] = 1e300
    with pytest.raises(InputError) as err:
        run_genes(tmp_path, expression, sheet(expression.columns), log2_mode="no")
    assert str(err.value) == (
        "cohort C1: 1 value(s) exceed 1e+06 in absolute value (largest 1e+300; e.g. "
        "P2/GSM103=1e+300), but no log2 is taken (log2: no); values on a log2 scale stay below "
        "about 50\n  What to do: set `log2: yes` for this cohort if the values are linear "
        "intensities or counts; otherwise check the matrix for corrupt values"
    )
    with pytest.raises(InputError, match=r"^cohort C1: 1 value\(s\) exceed 1e\+06"):
        run_qc(tmp_path, expression, sheet(expression.columns), mode="no")


def test_all_missing_sample_is_named_not_an_index_error(tmp_path):
    expression, _ = expression_frame()
    expression["GSM102"] = np.nan
    message = (
        "cohort C1: 1 sample(s) have no value at all (as read): GSM102\n  What to do: remove the "
        "sample(s) from the sample sheet (or check the matrix column and the log2 setting)"
    )
    with pytest.raises(InputError) as err:
        run_qc(tmp_path, expression, sheet(expression.columns))
    assert str(err.value) == message
    with pytest.raises(InputError) as err:
        run_genes(tmp_path, expression, sheet(expression.columns))
    assert str(err.value) == message


def test_gse34608_with_the_gpl6480_table_warns_with_the_share(tmp_path, shared_dir, caplog):
    matrix = shared_dir / "data/tb/GSE34608/GSE34608_expr_assay_curated.tsv.gz"
    table = shared_dir / "data/geo/platform_annotations/GPL6480_soft.tsv.gz"
    if not (table.exists() and matrix.exists()):
        pytest.skip(f"{table} or {matrix} missing")
    expression = pd.read_csv(matrix, sep="\t", index_col=0)
    with caplog.at_level(logging.WARNING):
        genes, alterations = run_genes(tmp_path, expression, sheet(expression.columns),
                                       annotation=table, log2_mode="no")  # fmt: skip
    row = alterations.set_index("stage").loc["genes"]
    share = re.match(r"([\d.]+)% of (\d+) rows", row["examples"])
    assert share is not None and int(share.group(2)) == len(expression) == 30812
    assert float(share.group(1)) < 30  # the Agilent probe rows only; the symbol rows stay unmapped
    assert "(genes.min_annotated_share = 0.5)" in row["examples"]
    assert f"{len(genes)} genes left" in row["examples"]
    assert "cohort C1: the annotation maps only" in caplog.text
    assert "check that it is the table of this cohort's platform (GPL)" in caplog.text


TWO_PLATFORM_SOFT = """^PLATFORM = GPL96
!Platform_geo_accession = GPL96
!platform_table_begin
ID\tGene Symbol
P0\tGPL96GENE0
P1\tGPL96GENE1
!platform_table_end
^PLATFORM = GPL97
!Platform_geo_accession = GPL97
!platform_table_begin
ID\tGene Symbol
{rows}!platform_table_end
"""


def two_platform_soft(tmp_path: Path, n: int = 30) -> Path:
    rows = "".join(f"P{i}\tGENE{i}\n" for i in range(n))
    return write_text(tmp_path / "GSE1_family.soft", TWO_PLATFORM_SOFT.format(rows=rows))


def test_soft_with_several_platforms_picks_the_cohorts_platform(tmp_path):
    expression, _ = expression_frame()
    soft = two_platform_soft(tmp_path / "in")
    genes, alterations = run_genes(tmp_path / "out", expression, sheet(expression.columns),
                                   annotation=soft, platform="GPL97")  # fmt: skip
    assert len(genes) == 30 and genes.index[0] == "GENE0"
    assert alterations.empty


def test_soft_with_several_platforms_and_no_platform_lists_them(tmp_path):
    expression, _ = expression_frame()
    soft = two_platform_soft(tmp_path / "in")
    with pytest.raises(InputError) as err:
        run_genes(tmp_path / "out", expression, sheet(expression.columns), annotation=soft)
    assert str(err.value) == (
        f"{soft}: annotation file holds 2 platform tables (GPL96, GPL97); which one matches the "
        "cohort is not known\n  What to do: set the cohort sheet's `platform` column to the "
        "cohort's GPL (the series matrix's !Series_platform_id), or give a table of that "
        "platform alone"
    )


# ------------------------------------------------------------------ further cases (designed)


def test_soft_with_several_platforms_none_of_them_the_cohorts(tmp_path):
    expression, _ = expression_frame()
    soft = two_platform_soft(tmp_path / "in")
    with pytest.raises(InputError) as err:
        run_genes(tmp_path / "out", expression, sheet(expression.columns), annotation=soft,
                  platform="GPL570")  # fmt: skip
    assert str(err.value) == (
        f"{soft}: annotation file holds platform tables GPL96, GPL97, but not one of the "
        "cohort's platform GPL570\n  What to do: give the annotation table of the cohort's "
        "platform"
    )


def test_log2_yes_on_log_scale_values_warns_and_is_recorded(tmp_path, caplog):
    expression, _ = expression_frame()
    with caplog.at_level(logging.WARNING):
        _, alterations = run_genes(tmp_path, expression, sheet(expression.columns),
                                   log2_mode="yes")  # fmt: skip
    assert alterations["alteration"].tolist() == ["log2 forced on values that look log-scaled"]
    assert "log2: yes on values that already look log-scaled" in caplog.text


def test_sample_emptied_by_log2_is_named(tmp_path):
    expression = linear()
    expression["GSM101"] = -1.0
    with pytest.raises(InputError) as err:
        run_qc(tmp_path, expression, sheet(expression.columns), mode="yes")
    assert str(err.value).startswith(
        "cohort C1: 1 sample(s) have no value at all (after values <= 0 became missing for "
        "log2): GSM101\n"
    )


def test_feature_emptied_by_log2_is_counted(tmp_path):
    expression = linear()
    expression.iloc[7, :] = 0.0
    _, alterations = run_genes(tmp_path, expression, sheet(expression.columns), log2_mode="auto")
    assert alterations["alteration"].tolist() == [
        "values <= 0 set to missing before log2 (GEO2R)",
        "features with no value left after log2 (not tested)",
    ]
    assert alterations.iloc[1][["cells", "features", "examples"]].tolist() == [8, 1, "P7"]


def test_log2_no_on_values_that_look_linear_warns_and_is_recorded(tmp_path, caplog):
    expression = linear()  # intensities in the hundreds: GEO2R would take log2
    with caplog.at_level(logging.WARNING):
        _, alterations = run_genes(tmp_path, expression, sheet(expression.columns),
                                   log2_mode="no")  # fmt: skip
    assert alterations["alteration"].tolist() == [
        "log2 not taken on values that look linear (log2: no)"
    ]
    assert "GEO2R's quantile rule would transform them" in caplog.text


def test_huge_negative_values_are_implausible_too(tmp_path):
    expression, _ = expression_frame()
    expression.iloc[1, 1] = -3e6
    with pytest.raises(InputError, match=r"largest 3e\+06; e\.g\. P1/GSM101=-3e\+06"):
        run_genes(tmp_path, expression, sheet(expression.columns), log2_mode="no")


def test_all_missing_matrix_names_every_sample(tmp_path):
    expression, _ = expression_frame()
    expression[:] = np.nan
    with pytest.raises(InputError, match=r"8 sample\(s\) have no value at all \(as read\): GSM100"):
        run_qc(tmp_path, expression, sheet(expression.columns))


def test_duplicate_sample_columns_reaching_qc(tmp_path):
    expression, _ = expression_frame()
    expression.columns = ["GSM100", "GSM100", *expression.columns[2:]]
    with pytest.raises(InputError) as err:
        run_qc(tmp_path, expression, sheet(expression.columns))
    assert str(err.value) == (
        "cohort C1 (qc): duplicate sample columns: GSM100\n  What to do: every sample column "
        "needs a unique ID"
    )


def test_duplicate_gene_rows_reaching_de(tmp_path):
    expression, _ = expression_frame()
    expression.index = ["P0", "P0", *expression.index[2:]]
    with pytest.raises(InputError) as err:
        run_de(tmp_path, expression, sheet(expression.columns))
    assert str(err.value) == (
        "cohort C1 (de): 1 duplicate row IDs, e.g. P0\n  What to do: each gene or probe must "
        "appear once"
    )


def test_matrix_without_rows_reaching_qc(tmp_path):
    expression, _ = expression_frame()
    with pytest.raises(InputError, match=r"^cohort C1 \(qc\): the matrix is empty \(0 rows x 8"):
        run_qc(tmp_path, expression.iloc[:0], sheet(expression.columns))


def test_count_sample_without_reads_is_named(tmp_path):
    rng = np.random.default_rng(3)
    counts = pd.DataFrame(rng.poisson(50, (40, 6)), index=[f"G{i}" for i in range(40)],
                          columns=[f"S{i}" for i in range(6)])  # fmt: skip
    counts["S4"] = 0
    with pytest.raises(InputError) as err:
        run_genes(tmp_path, counts, sheet(counts.columns), data_type="counts")
    assert str(err.value) == (
        "cohort C1 (genes): 1 sample(s) have no reads at all (every count 0): S4\n  What to do: "
        "remove the sample(s) from the sample sheet: a library of size 0 has no size factor "
        "for DESeq2"
    )


def test_count_matrix_with_one_gene_is_an_analysis_error(tmp_path):
    counts = pd.DataFrame([[10, 12, 11, 30, 31, 29]], index=["G1"],
                          columns=[f"S{i}" for i in range(6)])  # fmt: skip
    with pytest.raises(AnalysisError) as err:
        run_de(tmp_path, counts, sheet(counts.columns), data_type="counts")
    assert str(err.value).startswith(
        "DESeq2 cannot fit this count matrix (1 genes x 6 samples): all gene-wise dispersion "
        "estimates are near the minimum; R DESeq2 stops at the same point"
    )


def test_annotation_share_threshold_is_a_setting(tmp_path):
    expression, _ = expression_frame()
    table = write_text(
        tmp_path / "in" / "ann.tsv",
        "probe_id\tsymbol\n" + "".join(f"P{i}\tGENE{i}\n" for i in range(6)),
    )
    _, low = run_genes(tmp_path / "a", expression, sheet(expression.columns), annotation=table)
    assert low["examples"].tolist() == [
        "20.0% of 30 rows have a gene symbol in ann.tsv (genes.min_annotated_share = 0.5); 6 "
        "genes left"
    ]
    _, off = run_genes(tmp_path / "b", expression, sheet(expression.columns), annotation=table,
                       min_annotated_share=0.2)  # fmt: skip
    assert off.empty


def test_clean_array_cohort_has_an_empty_alterations_table(tmp_path):
    expression, _ = expression_frame()
    _, alterations = run_genes(tmp_path, expression, sheet(expression.columns))
    assert alterations.empty
    assert (
        (tmp_path / "alterations.tsv")
        .read_text()
        .startswith("cohort\tstage\tlevel\talteration\tcells\tfeatures\tsamples\texamples\n")
    )


def test_alterations_appear_in_the_report_qc_verdict(tmp_path):
    from markerflow.report.summary import summary_page

    results = tmp_path / "results"
    expression = linear()
    expression.iloc[0:3, 0] = 0.0
    run_genes(results / "genes" / "C1", expression, sheet(expression.columns), log2_mode="yes")
    run_qc(results / "qc" / "C1", expression, sheet(expression.columns), mode="yes")
    files = [p for p in results.rglob("*") if p.is_file()]
    page = summary_page(files, results, {"study": {"name": "s"}}, [{"cohort": "C1"}])
    assert (
        "C1: values &lt;= 0 set to missing before log2 (GEO2R) (3 cells, 3 features, 1 samples; "
        "P0/GSM100=0; P1/GSM100=0; P2/GSM100=0)"
    ) in page
    assert "1 data alteration(s), listed below" in page


# ------------------------------------------------------------ found by the fuzz tests (slow suite)


def test_row_with_more_fields_than_the_header_is_named(tmp_path):
    from markerflow.io.study import read_sample_sheet

    path = write_text(tmp_path / "samples.tsv", "sample\tstatus\nS1\tasthma\tx\tY\nS2\thealthy\n")
    with pytest.raises(InputError) as err:  # was: S1/asthma silently became a two-level index
        read_sample_sheet(path)
    assert str(err.value) == (
        f"{path}: sample sheet has a row with more fields than the header line (a tab or quote "
        "too many, or two lines run together)\n  What to do: make every row have as many fields "
        "as the header"
    )


def test_platform_table_with_a_shifted_first_row_is_named(tmp_path):
    from markerflow.io import geo

    path = write_text(tmp_path / "GPL1.tsv", "ID\tGene Symbol\nP1\tA\textra\nP2\tB\n")
    with pytest.raises(InputError, match=r"platform table has a row with more fields than"):
        geo.read_platform_table(path)


def test_cohort_sheet_path_too_long_for_the_file_system(tmp_path):
    from markerflow.io.study import _require_file

    with pytest.raises(InputError) as err:  # was: OSError [Errno 36] File name too long
        _require_file("x" * 5000 + ".tsv", "matrix", "C1", tmp_path)
    assert str(err.value) == (
        "cohort C1: `matrix` path cannot be used (File name too long)\n  What to do: fix the "
        "`matrix` cell of cohort C1 in the cohort sheet"
    )
