"""Broken expression/count matrices, sample sheets and degenerate designs.

Each case ends in an InputError/AnalysisError naming the file and the row/sample, or in a documented,
logged handling (listed in tests/README.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic import expression_frame, truncated_gzip, write_text

from markerflow.errors import AnalysisError, InputError
from markerflow.io.matrices import read_feature_matrix
from markerflow.io.study import CohortSpec, read_sample_sheet
from markerflow.stages import de, ingest
from markerflow.stages.genes import map_cohort_genes

READERS = {
    "array": lambda p: read_feature_matrix(p).matrix,
    "counts": lambda p: read_feature_matrix(p, integer=True).matrix,
}


def matrix_text(rows: dict[str, list], samples=("S1", "S2", "S3")) -> str:
    return (
        "id\t"
        + "\t".join(samples)
        + "\n"
        + "".join(f"{k}\t" + "\t".join(map(str, v)) + "\n" for k, v in rows.items())
    )


GOOD = {"g1": [1, 2, 3], "g2": [4, 5, 6], "g3": [7, 8, 9]}


@pytest.mark.parametrize("reader", READERS)
def test_empty_matrix_file(tmp_path, reader):
    path = write_text(tmp_path / "m.tsv", "")
    with pytest.raises(InputError, match=r"m.tsv: .*empty"):
        READERS[reader](path)


@pytest.mark.parametrize("reader", READERS)
def test_truncated_gzip_matrix(tmp_path, reader):
    rows = {f"g{i}": [i, i + 1, i + 2] for i in range(20000)}
    path = truncated_gzip(tmp_path / "m.tsv.gz", matrix_text(rows))
    with pytest.raises(InputError, match=r"m.tsv.gz: cannot be read"):
        READERS[reader](path)


@pytest.mark.parametrize("reader", READERS)
def test_non_utf8_matrix(tmp_path, reader):
    path = write_text(
        tmp_path / "m.tsv", matrix_text(GOOD, ("S1", "S\xe92", "S3")).encode("latin-1")
    )
    with pytest.raises(InputError, match=r"m.tsv: .*UTF-8|m.tsv: cannot be read as text"):
        READERS[reader](path)


@pytest.mark.parametrize("reader", READERS)
def test_duplicate_sample_columns(tmp_path, reader):
    """pandas would silently rename the second S1 to 'S1.1'; the duplicate must be named instead."""
    path = write_text(tmp_path / "m.tsv", matrix_text(GOOD, ("S1", "S2", "S1")))
    with pytest.raises(InputError, match=r"m.tsv: duplicate .*S1"):
        READERS[reader](path)


@pytest.mark.parametrize("reader", READERS)
def test_duplicate_gene_ids(tmp_path, reader):
    path = write_text(tmp_path / "m.tsv", matrix_text(GOOD).replace("g3\t", "g1\t"))
    with pytest.raises(InputError, match=r"m.tsv: .*duplicate (feature|gene) IDs.*g1"):
        READERS[reader](path)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("token", ["inf", "-inf"])
def test_infinite_value_names_row_and_sample(tmp_path, reader, token):
    path = write_text(tmp_path / "m.tsv", matrix_text({**GOOD, "g2": [4, token, 6]}))
    with pytest.raises(InputError, match=r"m.tsv: .*infinite.*g2.*S2"):
        READERS[reader](path)


@pytest.mark.parametrize("reader", READERS)
def test_non_numeric_cell_names_row_and_sample(tmp_path, reader):
    rows = {f"g{i}": [i, i + 1, i + 2] for i in range(10)}
    rows["g4"] = [4, "x5", 6]
    path = write_text(tmp_path / "m.tsv", matrix_text(rows))
    with pytest.raises(InputError, match=r"m.tsv: non-numeric.*'x5'.*S2.*g4|m.tsv: 1 non-numeric"):
        READERS[reader](path)


@pytest.mark.parametrize("reader", ["counts"])
@pytest.mark.parametrize(
    ("cell", "what"), [("-1", "negative"), ("1.5", "non-integer"), ("NA", "missing")]
)
def test_invalid_counts_are_named(tmp_path, reader, cell, what):
    """Before the fix, ingest truncated 1.5 to 1 (int cast) and let -1 through to the genes stage."""
    path = write_text(tmp_path / "m.tsv", matrix_text({**GOOD, "g2": [4, cell, 6]}))
    with pytest.raises(InputError, match=rf"m.tsv: 1 {what} count.*g2/S2"):
        READERS[reader](path)


def test_ten_megabyte_row_id_is_read(tmp_path):
    huge = "G" * (10 * 1024 * 1024)
    path = write_text(tmp_path / "m.tsv", matrix_text({**GOOD, huge: [1, 2, 3]}))
    for read in READERS.values():
        assert read(path).shape == (4, 3)


def test_ten_megabyte_header_cell_is_read(tmp_path):
    """A 10 MB sample ID is read (no csv field-limit traceback); matching it to the sheet fails."""
    path = write_text(tmp_path / "m.tsv", matrix_text(GOOD, ("S1", "S2", "S" * 10_000_000)))
    for read in READERS.values():
        assert read(path).shape == (3, 3)


# ----------------------------------------------------------------------------------- sample sheet


def test_sample_sheet_without_sample_column(tmp_path):
    path = write_text(tmp_path / "s.tsv", "id\tgroup\nS1\ta\n")
    with pytest.raises(InputError, match=r"s.tsv: sample sheet has no column 'sample'"):
        read_sample_sheet(path)


def test_sample_sheet_duplicate_ids(tmp_path):
    path = write_text(tmp_path / "s.tsv", "sample\tgroup\nS1\ta\nS2\tb\nS1 \tb\n")
    with pytest.raises(InputError, match=r"s.tsv: duplicate sample IDs: S1"):
        read_sample_sheet(path)


def test_sample_sheet_empty_id(tmp_path):
    path = write_text(tmp_path / "s.tsv", "sample\tgroup\nS1\ta\n\tb\n")
    with pytest.raises(InputError, match=r"s.tsv: empty sample ID on line\(s\) 3"):
        read_sample_sheet(path)


def test_sample_sheet_empty_and_not_utf8(tmp_path):
    with pytest.raises(InputError, match=r"s.tsv: sample sheet is empty"):
        read_sample_sheet(write_text(tmp_path / "s.tsv", ""))
    with pytest.raises(InputError, match=r"t.tsv: is not UTF-8"):
        read_sample_sheet(write_text(tmp_path / "t.tsv", "sample\tg\nS\xe9\ta\n".encode("latin-1")))


# ------------------------------------------------------------------ matrix vs sheet, groups


def cohort_files(tmp_path, expression, pheno, data_type="array"):
    matrix = tmp_path / "matrix.tsv"
    expression.to_csv(matrix, sep="\t")
    sheet = tmp_path / "samples.tsv"
    pheno.rename_axis("sample").reset_index().to_csv(sheet, sep="\t", index=False)
    spec = CohortSpec(
        cohort="C1",
        role="discovery",
        source="matrix",
        data_type=data_type,
        condition_column="status",
        case_values=("asthma",),
        control_values=("healthy",),
        matrix=str(matrix),
        samples=str(sheet),
    )
    return spec


def test_sheet_sample_missing_from_matrix(tmp_path):
    expression, pheno = expression_frame()
    spec = cohort_files(tmp_path, expression.drop(columns=["GSM103"]), pheno)
    with pytest.raises(InputError, match=r"matrix.tsv: cohort C1: 1 sample\(s\) .* GSM103"):
        ingest.ingest_cohort(spec, "asthma", "control")


def test_matrix_sample_missing_from_sheet_is_excluded_and_logged(tmp_path, caplog):
    expression, pheno = expression_frame()
    spec = cohort_files(tmp_path, expression, pheno.drop(index=["GSM106"]))
    cohort = ingest.ingest_cohort(spec, "asthma", "control")
    assert "GSM106" not in cohort.expression.columns
    assert cohort.excluded.set_index("sample").at["GSM106", "reason"] == "not in the sample sheet"
    assert "sample GSM106 excluded: not in the sample sheet" in caplog.text


def test_no_sample_ids_match(tmp_path):
    expression, pheno = expression_frame()
    spec = cohort_files(tmp_path, expression, pheno.rename(index=lambda s: s.lower()))
    with pytest.raises(InputError, match=r"8 sample\(s\) of the sample sheet are not columns"):
        ingest.ingest_cohort(spec, "asthma", "control")


@pytest.mark.parametrize("n_case", [0, 1])
def test_group_with_fewer_than_two_samples(tmp_path, n_case):
    expression, pheno = expression_frame(n_case=n_case, n_control=5)
    spec = cohort_files(tmp_path, expression, pheno)
    with pytest.raises(
        InputError,
        match=rf"cohort C1: {n_case} 'asthma' sample\(s\) left .* at "
        r"least 2",
    ):
        ingest.ingest_cohort(spec, "asthma", "control")


def test_condition_absent_after_excluding_missing_covariates(tmp_path):
    expression, pheno = expression_frame(n_case=3, n_control=3)
    pheno["age"] = ["NA", "NA", "40", "50", "60", "70"]
    spec = cohort_files(tmp_path, expression, pheno)
    spec = CohortSpec(**{**spec.__dict__, "covariates": ("age",)})
    with pytest.raises(InputError, match=r"1 'asthma' sample\(s\) left"):
        ingest.ingest_cohort(spec, "asthma", "control")


# ------------------------------------------------------------------------ statistics, degenerate


def sheet_for(expression, n_case):
    n = expression.shape[1]
    return pd.DataFrame(
        {
            "sample": expression.columns,
            "cohort": "C1",
            "condition": ["asthma"] * n_case + ["control"] * (n - n_case),
            "batch": "1",
        }
    )


def test_constant_genes_are_not_tested(caplog):
    """Zero-variance genes get NaN statistics (logged) and do not distort the others' results."""
    expression, _ = expression_frame(n_genes=40, n_case=4, n_control=4)
    samples = sheet_for(expression, 4)
    base = de.array_de(expression, samples, "asthma", "control", cohort="C1")
    with_constant = pd.concat(
        [expression, pd.DataFrame(5.0, index=["K1", "K2"], columns=expression.columns)]
    )
    result = de.array_de(with_constant, samples, "asthma", "control", cohort="C1")
    const = result.set_index("gene").loc[["K1", "K2"]]
    assert const[["log2fc", "stat", "pvalue", "padj", "hedges_g"]].isna().all().all()
    assert (const["ave_expr"] == 5.0).all()
    pd.testing.assert_frame_equal(result.iloc[:40].reset_index(drop=True), base)
    assert "2 gene(s) constant across all samples are not tested" in caplog.text


def test_all_genes_constant_is_an_analysis_error():
    expression, _ = expression_frame(n_genes=10)
    expression[:] = 3.0
    with pytest.raises(AnalysisError, match=r"cohort C1: every gene has the same value"):
        de.array_de(expression, sheet_for(expression, 4), "asthma", "control", cohort="C1")


def test_infinite_value_in_de_input():
    expression, _ = expression_frame(n_genes=10)
    expression.iloc[2, 3] = np.inf
    with pytest.raises(
        InputError, match=r"cohort C1: infinite value in gene 'P2', sample 'GSM103'"
    ):
        de.array_de(expression, sheet_for(expression, 4), "asthma", "control", cohort="C1")


def test_missing_values_are_handled_per_gene():
    """NaN cells are allowed (limma fits each gene on its observed samples); an all-NaN gene is
    untested; n_case/n_control count the observed samples."""
    expression, _ = expression_frame(n_genes=30)
    expression.iloc[0, :] = np.nan
    expression.iloc[1, 0] = np.nan
    result = de.array_de(expression, sheet_for(expression, 4), "asthma", "control", cohort="C1")
    assert np.isnan(result.at[0, "pvalue"]) and np.isfinite(result.at[1, "pvalue"])
    assert (result.at[1, "n_case"], result.at[1, "n_control"]) == (3, 4)
    assert result["pvalue"].iloc[1:].between(0, 1).all()


def test_counts_gene_table_without_needed_columns(tmp_path):
    table = write_text(tmp_path / "ids.tsv", "id\tname\nENSG00000000003\tTSPAN6\n")
    expression = pd.DataFrame(
        {"S1": [10, 20], "S2": [30, 40], "S3": [5, 6], "S4": [7, 8]},
        index=pd.Index(["ENSG00000000003", "ENSG00000000005"]),
    )
    samples = sheet_for(expression, 2)
    with pytest.raises(InputError, match=r"ids.tsv: gene ID table lacks column\(s\) entrez, sym"):
        map_cohort_genes(expression, samples, "counts", table)


def test_counts_gene_table_truncated_gzip(tmp_path):
    text = "entrez\tsymbol\tensembl\tgene_type\n" + "".join(
        f"{i}\tG{i}\tENSG{i:011d}\tprotein-coding\n" for i in range(20000)
    )
    table = truncated_gzip(tmp_path / "ids.tsv.gz", text)
    expression = pd.DataFrame({"S1": [10], "S2": [30], "S3": [5], "S4": [7]}, index=["ENSG1"])
    with pytest.raises(InputError, match=r"ids.tsv.gz: cannot be read"):
        map_cohort_genes(expression, sheet_for(expression, 2), "counts", table)
