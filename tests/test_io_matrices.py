"""The one features x samples matrix reader (markerflow.io.matrices) and the error mapping."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerflow.errors import InputError, name_first
from markerflow.io.matrices import read_feature_matrix, validate_counts
from markerflow.io.tables import read_tsv, reading, sha256_file, write_matrix


def _write(path, text, gz=False):
    if gz:
        with gzip.open(path, "wt") as h:
            h.write(text)
    else:
        path.write_text(text)
    return path


GOOD = "gene_id\ts1\ts2\ts3\ts4\nG1\t10\t0\t5\t7\nG2\t3\t4\t8\t1\nG3\t100\t90\t80\t70\n"


def _read(path):
    """Counts with their annotation, as the count-matrix reader returned them."""
    read = read_feature_matrix(path, integer=True)
    return read.matrix, read.annotation


def _matrix(path):
    return read_feature_matrix(path).matrix


def test_reads_tsv_gz_and_csv(tmp_path):
    c, ann = _read(_write(tmp_path / "c.tsv.gz", GOOD, gz=True))
    assert c.dtypes.unique().tolist() == [np.dtype("int64")]
    assert list(c.columns) == ["s1", "s2", "s3", "s4"] and ann.shape[1] == 0
    c2, _ = _read(_write(tmp_path / "c.csv", GOOD.replace("\t", ",")))
    pd.testing.assert_frame_equal(c, c2)


def test_annotation_columns_are_separated(tmp_path):
    text = (
        "ensembl_gene_id\tsymbol\ta_Asthma\tb_Control\n"
        "ENSG00000188976\tNOC2L\t1308\t1145\nENSG00000187961\tKLHL17\t247\t191\n"
    )
    c, ann = _read(_write(tmp_path / "c.tsv", text))
    assert list(c.columns) == ["a_Asthma", "b_Control"]
    assert list(ann.columns) == ["symbol"] and ann.loc["ENSG00000188976", "symbol"] == "NOC2L"


def test_gse85567_file_reads(shared_dir):
    path = shared_dir / "data" / "geo" / "GSE85567" / "GSE85567_normcounts_filtered.tsv.gz"
    c, ann = _read(path)
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
        _read(_write(tmp_path / "c.tsv", text))
    msg = str(err.value)
    for e in expect:
        assert e in msg
    assert "c.tsv" in msg and "s3" in msg


def test_floats_from_dataframe_named():
    m = pd.DataFrame({"s1": [1.0, 2.2], "s2": [3.0, 4.0]}, index=["A", "B"])
    with pytest.raises(InputError, match=r"non-integer.*B/s1"):
        validate_counts(m, "x.tsv")
    ok = validate_counts(pd.DataFrame({"s1": [1.0, 2.0]}, index=["A", "B"]), "x.tsv")
    assert ok["s1"].dtype == np.int64


def test_duplicate_sample_ids(tmp_path):
    text = GOOD.replace("s4", "s2")
    with pytest.raises(InputError, match=r"c.tsv: duplicate sample columns in the header: s2"):
        _read(_write(tmp_path / "c.tsv", text))
    m = pd.DataFrame([[1, 2]], columns=["x", "x"], index=["G"])
    with pytest.raises(InputError, match="duplicate sample IDs: x"):
        validate_counts(m, "m")


def test_duplicate_gene_ids(tmp_path):
    text = GOOD.replace("G3", "G1")
    with pytest.raises(InputError, match=r"c.tsv: 1 duplicate feature IDs, e.g. G1"):
        _read(_write(tmp_path / "c.tsv", text))


@pytest.mark.parametrize(
    "text,match",
    [
        ("", "empty"),
        ("gene_id\ts1\ts2\n", "no feature \\(gene/probe\\) rows"),
        ("gene_id\nG1\nG2\n", "no sample columns"),
    ],
)
def test_empty_files(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        _read(_write(tmp_path / "c.tsv", text))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        _read(tmp_path / "nope.tsv")


def test_parquet_matrix_input_matches_tsv(tmp_path: Path) -> None:
    """read_feature_matrix reads a Parquet matrix (first column = IDs) like the same TSV."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(8, 1, (50, 4)), columns=[f"S{i}" for i in range(4)])
    frame.insert(0, "ID_REF", [f"{1000 + i}_at" for i in range(50)])
    frame.to_csv(tmp_path / "m.tsv", sep="\t", index=False, float_format="%.17g")
    frame.to_parquet(tmp_path / "m.parquet", index=False)
    frame.set_index("ID_REF").to_parquet(tmp_path / "indexed.parquet")  # pandas index stored
    expected = _matrix(tmp_path / "m.tsv")
    for name in ("m.parquet", "indexed.parquet"):
        got = _matrix(tmp_path / name)
        pd.testing.assert_frame_equal(got, expected)
        assert got.index.name == "feature_id"
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match=r"broken\.parquet"):
        _matrix(tmp_path / "broken.parquet")
    with pytest.raises(InputError, match="does not exist"):
        _matrix(tmp_path / "absent.parquet")


def test_named_leading_annotation_column_even_if_numeric(tmp_path):
    """A leading column named like annotation (``length``) is not a sample, though numeric."""
    text = "gene_id\tlength\ts1\ts2\nG1\t1200\t5\t6\nG2\t800\t7\t8\n"
    c, ann = _read(_write(tmp_path / "c.tsv", text))
    assert list(c.columns) == ["s1", "s2"] and ann["length"].tolist() == [1200, 800]
    plain = read_feature_matrix(tmp_path / "c.tsv")
    assert list(plain.matrix.columns) == ["s1", "s2"] and plain.matrix.dtypes.iloc[0] == np.float64


def test_text_column_anywhere_is_annotation_and_mostly_numeric_text_is_an_error(tmp_path):
    text = "id\ts1\tnote\ts2\np1\t1.5\tx\t2\np2\t2.5\ty\t3\np3\t3\tz\t4\n"
    read = read_feature_matrix(_write(tmp_path / "m.tsv", text))
    assert list(read.matrix.columns) == ["s1", "s2"] and list(read.annotation.columns) == ["note"]
    broken = "id\ts1\ts2\np1\t1\t2\np2\t2\tx3\np3\t3\t4\n"
    with pytest.raises(
        InputError, match=r"m2.tsv: non-numeric value 'x3' in sample 's2', row 'p2'"
    ):
        read_feature_matrix(_write(tmp_path / "m2.tsv", broken))


def test_empty_feature_id_names_the_line(tmp_path):
    text = "id\ts1\ts2\np1\t1\t2\n\t2\t3\nNA\t3\t4\n"
    with pytest.raises(InputError, match=r"m.tsv: empty or NA feature ID on line\(s\) 3, 4"):
        read_feature_matrix(_write(tmp_path / "m.tsv", text))


def test_infinite_value_in_a_float_matrix(tmp_path):
    text = "id\ts1\ts2\np1\t1\t2\np2\t-inf\t3\n"
    with pytest.raises(InputError, match=r"m.tsv: infinite value in row 'p2', sample 's1'"):
        read_feature_matrix(_write(tmp_path / "m.tsv", text))


def test_reading_maps_errors_to_input_errors(tmp_path):
    """One translation of pandas/gzip/decoding errors, naming the file (and the line if known)."""
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("a\tb\n1\t2\nx\xe9\t3\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin.tsv: is not UTF-8 text \(invalid byte on line 3"):
        read_tsv(latin)
    with pytest.raises(InputError, match=r"nope.tsv: file does not exist"):
        read_tsv(tmp_path / "nope.tsv")
    with pytest.raises(InputError, match=r"empty.tsv: sample sheet is empty"):
        with reading(_write(tmp_path / "empty.tsv", ""), "sample sheet"):
            pd.read_csv(tmp_path / "empty.tsv", sep="\t")
    bad = _write(tmp_path / "bad.tsv", 'a\tb\n"1\t2\n')
    with pytest.raises(InputError, match=r"bad.tsv: is not a valid tab-separated table"):
        read_tsv(bad)
    gz = tmp_path / "cut.tsv.gz"
    gz.write_bytes(gzip.compress(b"a\tb\n" + b"1\t2\n" * 50000)[:-100])
    with pytest.raises(InputError, match=r"cut.tsv.gz: cannot be read: corrupt or truncated gzip"):
        read_tsv(gz)
    with pytest.raises(InputError, match=r"is a directory, not a file"):
        with reading(tmp_path, "platform table"):
            tmp_path.joinpath().open().read()


def test_sha256_file_streams(tmp_path):
    import hashlib

    data = bytes(range(256)) * 5000
    (tmp_path / "a.bin").write_bytes(data)
    assert sha256_file(tmp_path / "a.bin") == hashlib.sha256(data).hexdigest()


def test_name_first():
    assert name_first([]) == ""
    assert name_first(["a", "b"]) == "a, b"
    assert name_first(range(8)) == "0, 1, 2, 3, 4 (and 3 more)"
    assert name_first(range(8), n=2) == "0, 1 (and 6 more)"


def test_matrix_writer_groups_small_blocks_into_row_groups(tmp_path: Path) -> None:
    """Issue 20: blocks smaller than min_rows are appended to one row group (whole blocks only,
    the last group may be smaller), the values and read_matrix(rows=) are unchanged, a block
    changed by its caller after write() does not change the file, and blocks built from their
    arrays (not pandas) give write_matrix's bytes; a block unlike the first is an error."""
    import pyarrow.parquet as pq

    from markerflow.io.tables import MatrixWriter, read_matrix

    rng = np.random.default_rng(7)
    full = pd.DataFrame(rng.normal(size=(23, 6)), index=pd.Index([f"G{i:02d}" for i in range(23)], name="gene"),
                        columns=[f"s{j}" for j in range(6)])  # fmt: skip
    full.iloc[4, 2] = np.nan
    for min_rows, groups in ((1, [3, 3, 3, 3, 3, 3, 3, 2]), (7, [9, 9, 5]), (100, [23])):
        path = tmp_path / f"m{min_rows}.parquet"
        with MatrixWriter(path, min_rows=min_rows) as writer:
            for a in range(0, 23, 3):
                values = np.asfortranarray(full.to_numpy()[a : a + 3])
                writer.write(
                    pd.DataFrame(values, index=full.index[a : a + 3], columns=full.columns)
                )
                values[:] = -1.0  # the caller reuses its buffer
        meta = pq.ParquetFile(path).metadata
        assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == groups
        pd.testing.assert_frame_equal(read_matrix(path), full, check_exact=True)
        wanted = ["G22", "G01", "G10", "absent"]
        pd.testing.assert_frame_equal(read_matrix(path, wanted), full.loc[["G01", "G10", "G22"]],
                                      check_exact=True)  # fmt: skip
        assert writer._direct  # later blocks built from their arrays, not by from_pandas
    write_matrix(full, tmp_path / "whole.parquet")  # one row group: the same bytes
    assert (tmp_path / "m100.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    with pytest.raises(ValueError, match="differ from the first"):
        with MatrixWriter(tmp_path / "bad.parquet", min_rows=100) as writer:
            writer.write(full.iloc[:3])
            writer.write(full.iloc[3:6].rename(columns={"s0": "other"}))
    with pytest.raises(ValueError, match="differ from the first"):
        with MatrixWriter(tmp_path / "bad.parquet", min_rows=100) as writer:
            writer.write(full.iloc[:3])
            writer.write(full.iloc[3:6].fillna(0).astype({"s1": "int64"}))
    assert not (tmp_path / "bad.parquet").exists()
