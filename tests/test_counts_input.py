"""Malformed count input fails with messages that name the offending genes/samples."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from markerflow.errors import InputError
from markerflow.stages import counts as C


def _write(path, text, gz=False):
    if gz:
        with gzip.open(path, "wt") as h:
            h.write(text)
    else:
        path.write_text(text)
    return path


GOOD = "gene_id\ts1\ts2\ts3\ts4\nG1\t10\t0\t5\t7\nG2\t3\t4\t8\t1\nG3\t100\t90\t80\t70\n"


def test_reads_tsv_gz_and_csv(tmp_path):
    c, ann = C.read_count_matrix(_write(tmp_path / "c.tsv.gz", GOOD, gz=True))
    assert c.dtypes.unique().tolist() == [np.dtype("int64")]
    assert list(c.columns) == ["s1", "s2", "s3", "s4"] and ann.shape[1] == 0
    c2, _ = C.read_count_matrix(_write(tmp_path / "c.csv", GOOD.replace("\t", ",")))
    pd.testing.assert_frame_equal(c, c2)


def test_annotation_columns_are_separated(tmp_path):
    text = (
        "ensembl_gene_id\tsymbol\ta_Asthma\tb_Control\n"
        "ENSG00000188976\tNOC2L\t1308\t1145\nENSG00000187961\tKLHL17\t247\t191\n"
    )
    c, ann = C.read_count_matrix(_write(tmp_path / "c.tsv", text))
    assert list(c.columns) == ["a_Asthma", "b_Control"]
    assert list(ann.columns) == ["symbol"] and ann.loc["ENSG00000188976", "symbol"] == "NOC2L"


def test_gse85567_file_reads(shared_dir):
    path = shared_dir / "data" / "geo" / "GSE85567" / "GSE85567_normcounts_filtered.tsv.gz"
    c, ann = C.read_count_matrix(path)
    assert c.shape == (10734, 85) and list(ann.columns) == ["symbol"]


@pytest.mark.parametrize(
    "cell,expect",
    [
        ("2.5", ["non-integer", "G2/s3"]),
        ("-3", ["negative", "G2/s3"]),
        ("NA", ["missing", "G2/s3"]),
        ("inf", ["infinite", "G2/s3"]),
        ("abc", ["non-numeric", "G2/s3"]),
    ],
)
def test_bad_cells_are_named(tmp_path, cell, expect):
    text = GOOD.replace("G2\t3\t4\t8", f"G2\t3\t4\t{cell}")
    with pytest.raises(InputError) as err:
        C.read_count_matrix(_write(tmp_path / "c.tsv", text))
    msg = str(err.value)
    for e in expect:
        assert e in msg
    assert "c.tsv" in msg and "s3" in msg


def test_floats_from_dataframe_named():
    m = pd.DataFrame({"s1": [1.0, 2.2], "s2": [3.0, 4.0]}, index=["A", "B"])
    with pytest.raises(InputError, match=r"non-integer.*B/s1"):
        C.validate_counts(m, "x.tsv")
    ok = C.validate_counts(pd.DataFrame({"s1": [1.0, 2.0]}, index=["A", "B"]), "x.tsv")
    assert ok["s1"].dtype == np.int64


def test_duplicate_sample_ids(tmp_path):
    text = GOOD.replace("s4", "s2")
    with pytest.raises(InputError, match=r"duplicate column \(sample\) IDs.*s2"):
        C.read_count_matrix(_write(tmp_path / "c.tsv", text))
    m = pd.DataFrame([[1, 2]], columns=["x", "x"], index=["G"])
    with pytest.raises(InputError, match="duplicate sample IDs: x"):
        C.validate_counts(m, "m")


def test_duplicate_gene_ids(tmp_path):
    text = GOOD.replace("G3", "G1")
    with pytest.raises(InputError, match=r"1 duplicate gene IDs, e.g. G1"):
        C.read_count_matrix(_write(tmp_path / "c.tsv", text))


@pytest.mark.parametrize(
    "text,match",
    [
        ("", "empty"),
        ("gene_id\ts1\ts2\n", "no gene rows"),
        ("gene_id\nG1\nG2\n", "no sample columns"),
    ],
)
def test_empty_files(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        C.read_count_matrix(_write(tmp_path / "c.tsv", text))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        C.read_count_matrix(tmp_path / "nope.tsv")


def test_sheet_matrix_mismatch_names_samples():
    counts = pd.DataFrame(np.ones((2, 3), dtype=int), columns=["s1", "s2", "s9"], index=["a", "b"])
    sheet = pd.DataFrame({"sample": ["s1", "s2", "s3"], "condition": ["x", "y", "y"]})
    with pytest.raises(InputError) as err:
        C.check_sheet_matches(counts, sheet)
    msg = str(err.value)
    assert "in the sheet but not in the count matrix: s3" in msg
    assert "in the count matrix but not in the sheet: s9" in msg
    sheet2 = pd.DataFrame({"sample": ["s2", "s1"]})
    out = C.check_sheet_matches(counts, sheet2, allow_extra=True)
    assert list(out.columns) == ["s2", "s1"]


def test_map_to_symbols_versions_sum_and_unmapped():
    table = pd.DataFrame(
        {
            "entrez": [7157, 1, 2, 3],
            "symbol": ["TP53", "A1BG", "DUP", "DUP"],
            "ensembl": ["ENSG00000141510", "ENSG00000121410", "ENSG00000000001", "ENSG00000000002"],
            "genename": "",
            "gene_type": "protein-coding",
        }
    )
    counts = pd.DataFrame(
        {"s1": [1, 2, 3, 4, 5], "s2": [10, 20, 30, 40, 50]},
        index=[
            "ENSG00000141510.17",
            "ENSG00000121410",
            "ENSG00000000001.3",
            "ENSG00000000002.1",
            "ENSG99999999999.1",
        ],
    )
    out, rep = C.map_to_symbols(counts, table)
    assert rep["id_type"] == "ensembl" and rep["n_unmapped"] == 1 and rep["n_collapsed"] == 1
    assert rep["unmapped_examples"] == ["ENSG99999999999.1"]
    assert out.index.name == "gene"
    assert out.loc["DUP"].tolist() == [7, 70] and out.loc["TP53"].tolist() == [1, 10]
    sym, rep2 = C.map_to_symbols(out, table, id_type="symbol")
    assert rep2["n_known_symbols"] == 3 and sym.shape == out.shape
    with pytest.raises(InputError, match="none of the"):
        C.map_to_symbols(counts.iloc[[4]], table)


def test_map_with_shipped_table(project_dir):
    table = pd.read_csv(project_dir / "resources" / "annotation" / "hs_gene_ids.tsv.gz", sep="\t")
    counts = pd.DataFrame({"s1": [5, 6]}, index=["ENSG00000188976.11", "ENSG00000187961"])
    out, rep = C.map_to_symbols(counts, table)
    assert list(out.index) == ["KLHL17", "NOC2L"] and rep["n_unmapped"] == 0


def test_filter_low_counts_smallest_group():
    counts = pd.DataFrame(
        [[10, 10, 0, 0, 0], [10, 10, 10, 0, 0], [9, 50, 50, 50, 50]],
        index=["lo", "keep", "borderline"],
        columns=list("abcde"),
    )
    cond = pd.Series(["x", "x", "y", "y", "y"], index=list("abcde"))
    out, rep = C.filter_low_counts(counts, cond)
    assert rep["min_samples"] == 2 and list(out.index) == ["lo", "keep", "borderline"]
    out3, rep3 = C.filter_low_counts(counts, cond, min_samples=3)
    assert list(out3.index) == ["keep", "borderline"] and rep3["n_after"] == 2
