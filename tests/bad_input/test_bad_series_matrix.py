"""Broken GEO series matrices and platform (GPL) tables end in an InputError naming file and place."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import expression_frame, series_matrix_text, truncated_gzip, write_text

from markerflow.errors import InputError
from markerflow.io import geo


@pytest.fixture
def good():
    expression, pheno = expression_frame(n_genes=12)
    return expression, {"disease": list(pheno["status"])}


def write(tmp_path, text, name="GSE1_series_matrix.txt", gz=False):
    return write_text(tmp_path / (name + (".gz" if gz else "")), text, gz=gz)


def test_good_file_parses(tmp_path, good):
    expression, chars = good
    path = write(tmp_path, series_matrix_text(expression, chars), gz=True)
    series = geo.read_series_matrix(path)
    np.testing.assert_array_equal(series.expression.to_numpy(), expression.to_numpy())
    assert list(series.samples["disease"]) == chars["disease"]


def test_empty_file(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(InputError, match=r"GSE1_series_matrix.txt: .*not a GEO series matrix"):
        geo.read_series_matrix(path)


def test_truncated_gzip(tmp_path, good):
    path = truncated_gzip(tmp_path / "GSE1_series_matrix.txt.gz", series_matrix_text(*good))
    with pytest.raises(InputError, match=r"GSE1_series_matrix.txt.gz: .*corrupt or truncated gzip"):
        geo.read_series_matrix(path)


def test_not_utf8(tmp_path, good):
    text = series_matrix_text(*good).replace("synthetic series", "s\u00e9rie")
    path = write(tmp_path, text.encode("latin-1"))
    with pytest.raises(
        InputError, match=r"GSE1_series_matrix.txt: is not UTF-8 text \(invalid byte on line \d+\)"
    ):
        geo.read_series_matrix(path)


def test_non_numeric_value_names_probe_and_sample(tmp_path, good):
    expression, chars = good
    text = series_matrix_text(expression, chars).replace(
        '"P3"\t' + f"{expression.iat[3, 0]:.17g}", '"P3"\tabc', 1
    )
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=r"non-numeric value 'abc' in sample GSM100, row 'P3'"):
        geo.read_series_matrix(path)


@pytest.mark.parametrize("token", ["inf", "-Inf", "Infinity"])
def test_infinite_value_names_probe_and_sample(tmp_path, good, token):
    expression, chars = good
    text = series_matrix_text(expression, chars).replace(
        '"P5"\t' + f"{expression.iat[5, 0]:.17g}", f'"P5"\t{token}', 1
    )
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=r"infinite value .* at probe 'P5', sample 'GSM100'"):
        geo.read_series_matrix(path)


def test_duplicate_probe_ids(tmp_path, good):
    expression, chars = good
    expression = expression.rename(index={"P7": "P2"})
    path = write(tmp_path, series_matrix_text(expression, chars))
    with pytest.raises(InputError, match=r"duplicate feature IDs in the table \(first: P2\)"):
        geo.read_series_matrix(path)


def test_duplicate_sample_ids(tmp_path, good):
    expression, chars = good
    expression.columns = [*expression.columns[:-1], expression.columns[0]]
    path = write(tmp_path, series_matrix_text(expression, chars))
    with pytest.raises(InputError, match=r"duplicate sample accessions: GSM100"):
        geo.read_series_matrix(path)


def test_table_columns_differ_from_header(tmp_path, good):
    expression, chars = good
    text = series_matrix_text(expression, chars).replace('"ID_REF"\t"GSM100"', '"ID_REF"\t"GSM999"')
    path = write(tmp_path, text)
    with pytest.raises(
        InputError, match=r"table column\(s\) GSM999 are not among the !Sample_geo_accession values"
    ):
        geo.read_series_matrix(path)


def test_characteristics_line_with_missing_cell(tmp_path, good):
    expression, chars = good
    chars = {"disease": chars["disease"][:-1]}
    path = write(tmp_path, series_matrix_text(expression, chars))
    with pytest.raises(
        InputError, match=r"!Sample_characteristics_ch1 has 7 values but other lines have 8"
    ):
        geo.read_series_matrix(path)


def test_missing_table_end_is_truncation(tmp_path, good):
    text = series_matrix_text(*good).replace("!series_matrix_table_end\n", "")
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=r"no !series_matrix_table_end line \(file truncated\?\)"):
        geo.read_series_matrix(path)


def test_empty_table_points_to_supplementary_files(tmp_path, good):
    expression, chars = good
    path = write(tmp_path, series_matrix_text(expression.iloc[:0], chars))
    with pytest.raises(InputError, match=r"(?s)empty expression table.*supplementary files"):
        geo.read_series_matrix(path)


def test_ten_megabyte_header_field(tmp_path, good):
    """A 10 MB !Series_summary cell is read (csv's 128 kB field limit must not be a traceback)."""
    expression, chars = good
    text = series_matrix_text(expression, chars)
    huge = "x" * (10 * 1024 * 1024)
    text = text.replace(
        "!Series_geo_accession", f'!Series_summary\t"{huge}"\n!Series_geo_accession'
    )
    series = geo.read_series_matrix(write(tmp_path, text))
    assert len(series.series["summary"]) == len(huge)
    assert series.expression.shape == expression.shape


# ------------------------------------------------------------------ platform / annotation tables


def test_gpl_empty_file(tmp_path):
    path = write_text(tmp_path / "GPL1.tsv", "")
    with pytest.raises(InputError, match=r"GPL1.tsv: .*empty"):
        geo.read_platform_table(path)


def test_gpl_without_symbol_column(tmp_path):
    path = write_text(tmp_path / "GPL1.tsv", "ID\tSEQUENCE\nP1\tACGT\n")
    with pytest.raises(
        InputError, match=r"GPL1.tsv: platform table of GPL1 has no gene-symbol column"
    ):
        geo.read_platform_table(path)


def test_gpl_truncated_gzip(tmp_path):
    text = "ID\tGene Symbol\n" + "".join(f"P{i}\tG{i}\n" for i in range(5000))
    path = truncated_gzip(tmp_path / "GPL1.tsv.gz", text)
    with pytest.raises(InputError, match=r"GPL1.tsv.gz: .*corrupt or truncated gzip"):
        geo.read_platform_table(path)


def test_gpl_not_utf8(tmp_path):
    path = write_text(tmp_path / "GPL1.tsv", "ID\tGene Symbol\nP1\tCAF\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"GPL1.tsv: is not UTF-8"):
        geo.read_platform_table(path)


def test_gpl_conflicting_duplicate_probe(tmp_path):
    path = write_text(tmp_path / "GPL1.tsv", "ID\tGene Symbol\nP1\tA\nP2\tB\nP1\tC\n")
    with pytest.raises(InputError, match=r"GPL1.tsv: probe ID .P1. .* \(A, C\)"):
        geo.read_platform_table(path)


def test_gpl_identical_duplicate_rows_are_merged(tmp_path, caplog):
    path = write_text(tmp_path / "GPL1.tsv", "ID\tGene Symbol\nP1\tA\nP2\tB\nP1\tA\n")
    table = geo.read_platform_table(path)
    assert table.to_dict() == {"P1": "A", "P2": "B"}
    assert "repeated" in caplog.text
