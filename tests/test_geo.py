"""Series matrix / platform table parsing and GEO2R's log2 rule (markerflow.io.geo)."""

from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerflow.errors import InputError
from markerflow.io import geo

FIXTURES = Path(__file__).parent / "fixtures" / "geo"
QUIRKY = FIXTURES / "quirky_series_matrix.txt"


@pytest.fixture(scope="module")
def gse27011_path(shared_dir: Path) -> Path:
    return shared_dir / "data/geo/GSE27011/GSE27011_series_matrix.RECONSTRUCTED.txt.gz"


@pytest.fixture(scope="module")
def gse27011(gse27011_path: Path) -> geo.SeriesMatrix:
    return geo.read_series_matrix(gse27011_path)


# ------------------------------------------------------------------------- the real example file


def test_gse27011_shape_and_groups(gse27011: geo.SeriesMatrix) -> None:
    expr, samples = gse27011.expression, gse27011.samples
    assert expr.shape == (28231, 54)
    assert expr.index.name == "feature_id"
    assert (expr.dtypes == np.float64).all()
    assert list(expr.columns) == list(samples.index)
    assert samples.index.name == "sample"
    assert samples.index[0] == "GSM665386" and samples.index[-1] == "GSM665439"
    assert samples["source_name"].value_counts().to_dict() == {
        "Mild asthma": 19,
        "Healthy control": 18,
        "Severe asthma": 17,
    }
    assert {"title", "geo_accession", "platform_id", "tissue", "age", "sex"} <= set(samples)
    assert (samples["platform_id"] == "GPL6244").all()
    assert gse27011.series["geo_accession"] == "GSE27011"
    assert gse27011.characteristic_keys == {"tissue": "tissue", "age": "age", "sex": "sex"}


def test_gse27011_values_match_plain_matrix(gse27011: geo.SeriesMatrix, shared_dir: Path) -> None:
    plain = pd.read_csv(
        shared_dir / "data/geo/GSE27011/GSE27011_expression_matrix.tsv.gz",
        sep="\t",
        index_col=0,
        dtype={"ID_REF": str},
    )
    plain.index = plain.index.astype(str)
    got = gse27011.expression.loc[plain.index, plain.columns]
    assert np.isnan(got.to_numpy()).sum() == 0
    np.testing.assert_allclose(got.to_numpy(), plain.to_numpy(), rtol=0, atol=1e-12)
    # RMA values are already log2: GEO2R would not transform them
    assert not geo.needs_log2(got.to_numpy())


def test_gse27011_header_only_is_fast_and_equal(
    gse27011: geo.SeriesMatrix, gse27011_path: Path
) -> None:
    start = time.perf_counter()
    header = geo.read_series_matrix_header(gse27011_path)
    elapsed = time.perf_counter() - start
    pd.testing.assert_frame_equal(header, gse27011.samples)
    assert elapsed < 1.0  # reads ~12 lines of a 12 MB file


def test_gse27011_full_read_is_fast(gse27011_path: Path) -> None:
    start = time.perf_counter()
    geo.read_series_matrix(gse27011_path)
    assert time.perf_counter() - start < 10.0  # ~0.9 s measured on a shared 2-core machine


def test_gse27011_platform_coverage(gse27011: geo.SeriesMatrix, shared_dir: Path) -> None:
    table = geo.read_platform_table(
        shared_dir / "data/geo/platform_annotations/GPL6244_soft.tsv.gz"
    )
    assert table.index.name == "probe_id"
    assert len(table) == 33297
    assert int(table.notna().sum()) == 25293
    symbols = table.reindex(gse27011.expression.index)
    assert int(symbols.notna().sum()) == 24520


# --------------------------------------------------------------------------- quirky small files


@pytest.mark.parametrize("name", ["quirky_series_matrix.txt", "quirky_series_matrix_crlf.txt.gz"])
def test_quirky_series_matrix(name: str) -> None:
    series = geo.read_series_matrix(FIXTURES / name)
    expr, samples = series.expression, series.samples
    assert list(expr.index) == ["1007_s_at", "1053_at", "117_at", "AFFX-r2_P1"]
    assert list(expr.columns) == ["GSM1", "GSM2", "GSM3", "GSM4"]
    expected = np.array(
        [
            [7.5, 7.25, np.nan, 8.0],
            [5.5, np.nan, 5.75, np.nan],
            [-1.5, 3.0, 10.0, 4.125],
            [12.0, 12.5, 13.0, 13.5],
        ]
    )
    np.testing.assert_array_equal(expr.to_numpy(), expected)
    # quoted title with doubled quotes; empty source name -> missing
    assert samples.loc["GSM2", "title"] == 'ctrl "2"'
    assert samples.loc["GSM1", "source_name"] == "Airway, asthma"
    assert pd.isna(samples.loc["GSM4", "source_name"])
    # keys parsed per cell, not per line (GSM3 has them on swapped lines)
    assert samples["disease_state"].tolist() == ["asthma", "healthy", "asthma", "healthy"]
    assert samples["tissue"].tolist() == ["bronchus"] * 4
    assert samples["age_yrs"].tolist()[0] == "34"
    assert pd.isna(samples.loc["GSM2", "age_yrs"]) and pd.isna(samples.loc["GSM3", "age_yrs"])
    assert samples["characteristics_4"].tolist() == ["batch A", "batch B", "batch A", "batch B"]
    assert samples["time"].tolist()[0] == "10:30"  # only the first ':' separates the key
    assert series.characteristic_keys["disease_state"] == "Disease State"
    assert series.characteristic_keys["age_yrs"] == "age (yrs)"
    assert samples.attrs["characteristic_keys"] == series.characteristic_keys
    # repeated single fields get suffixes; protocols/processing are not columns
    assert samples["description"].tolist() == ["first", "second", "third", "fourth"]
    assert pd.isna(samples.loc["GSM2", "description_2"])
    assert "data_processing" not in samples and "treatment_protocol" not in samples
    assert samples["organism"].unique().tolist() == ["Homo sapiens"]
    assert series.series["contributor"] == ["Ann,,Smith", "Bob,,Jones"]
    assert series.series["title"] == "A quirky test series"
    header = geo.read_series_matrix_header(FIXTURES / name)
    pd.testing.assert_frame_equal(header, samples)


def _write(path: Path, text: str, *, gz: bool = False) -> Path:
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def _quirky_with(old: str, new: str, tmp_path: Path, name: str = "x_series_matrix.txt") -> Path:
    text = QUIRKY.read_text()
    assert old in text
    return _write(tmp_path / name, text.replace(old, new))


def test_no_table_rnaseq_message() -> None:
    with pytest.raises(InputError, match=r"RNA-seq.*supplementary.*GSE88888_counts") as err:
        geo.read_series_matrix(FIXTURES / "rnaseq_no_table.txt")
    assert "rnaseq_no_table.txt" in str(err.value)
    assert "source `matrix`" in str(err.value)
    # the header alone is fine (phenotypes can be checked)
    assert geo.read_series_matrix_header(FIXTURES / "rnaseq_no_table.txt").shape[0] == 2


def test_no_table_begin_line(tmp_path: Path) -> None:
    text = QUIRKY.read_text().split("!series_matrix_table_begin")[0]
    path = _write(tmp_path / "cut.txt", text)
    with pytest.raises(InputError, match="no !series_matrix_table_begin"):
        geo.read_series_matrix(path)


def test_missing_table_end(tmp_path: Path) -> None:
    path = _quirky_with("!series_matrix_table_end", "", tmp_path)
    with pytest.raises(InputError, match=r"table_end.*truncated"):
        geo.read_series_matrix(path)


def test_two_channel_rejected() -> None:
    with pytest.raises(InputError, match="two-channel") as err:
        geo.read_series_matrix(FIXTURES / "two_channel.txt")
    assert "two_channel.txt" in str(err.value)
    with pytest.raises(InputError, match="two-channel"):
        geo.read_series_matrix_header(FIXTURES / "two_channel.txt")


def test_ch2_field_alone_rejected(tmp_path: Path) -> None:
    path = _quirky_with(
        '!Sample_organism_ch1\t"Homo sapiens"', '!Sample_label_ch2\t"Cy5"', tmp_path
    )
    with pytest.raises(InputError, match=r"two-channel.*_ch2"):
        geo.read_series_matrix(path)


def test_ragged_row(tmp_path: Path) -> None:
    path = _quirky_with('"1053_at"\t5.5\t\t5.75\tNA', '"1053_at"\t5.5\t5.75\tNA', tmp_path)
    with pytest.raises(InputError, match=r"ragged.*line 27 has 4 fields.*header has 5"):
        geo.read_series_matrix(path)
    path = _quirky_with("12\t12.5\t13\t13.5", "12\t12.5\t13\t13.5\t1", tmp_path, "long.txt")
    with pytest.raises(InputError, match=r"ragged.*line 29 has 6 fields"):
        geo.read_series_matrix(path)


def test_duplicate_feature_ids(tmp_path: Path) -> None:
    path = _quirky_with('"1053_at"', '"1007_s_at"', tmp_path)
    with pytest.raises(InputError, match=r"duplicate feature IDs.*1007_s_at"):
        geo.read_series_matrix(path)


def test_duplicate_sample_accession(tmp_path: Path) -> None:
    path = _quirky_with('"GSM3"\t"GSM4"\n', '"GSM3"\t"GSM3"\n', tmp_path)
    with pytest.raises(InputError, match="duplicate sample accessions: GSM3"):
        geo.read_series_matrix(path)


def test_duplicate_table_header_column(tmp_path: Path) -> None:
    """Found by the slow fuzz test: a header line moved into the table (pandas' bare ValueError)."""
    path = _quirky_with('"ID_REF"\t"GSM1"\t"GSM2"', '"ID_REF"\t"GSM1"\t"GSM1"', tmp_path)
    with pytest.raises(InputError, match=r"duplicate sample columns in the expression table's "
                       r"header \(line 25\): GSM1") as err:  # fmt: skip
        geo.read_series_matrix(path)
    assert path.name in str(err.value)


def test_non_numeric_value_names_row_and_sample(tmp_path: Path) -> None:
    path = _quirky_with("-1.5\t3e0", "-1.5\tabc", tmp_path)
    with pytest.raises(InputError, match=r"non-numeric value 'abc' in sample GSM2, row '117_at'"):
        geo.read_series_matrix(path)


def test_header_and_table_samples_disagree(tmp_path: Path) -> None:
    path = _quirky_with('"ID_REF"\t"GSM1"', '"ID_REF"\t"GSM9"', tmp_path)
    with pytest.raises(InputError, match="GSM9 are not among"):
        geo.read_series_matrix(path)


def test_not_a_series_matrix(tmp_path: Path) -> None:
    path = _write(tmp_path / "plain.tsv", "ID\tS1\tS2\np1\t1\t2\n")
    with pytest.raises(InputError, match="not a GEO series matrix"):
        geo.read_series_matrix(path)
    with pytest.raises(InputError, match="not a GEO series matrix"):
        geo.read_series_matrix_header(path)
    with pytest.raises(InputError, match="does not exist"):
        geo.read_series_matrix(tmp_path / "absent.txt.gz")


def test_truncated_gzip_names_file(tmp_path: Path, gse27011_path: Path) -> None:
    data = gse27011_path.read_bytes()
    path = tmp_path / "GSE27011_series_matrix.txt.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"GSE27011_series_matrix.txt.gz.*corrupt or truncated"):
        geo.read_series_matrix(path)
    bad = tmp_path / "garbled.txt.gz"
    bad.write_bytes(data[:10] + b"\x00" * 200 + data[210:4000])
    with pytest.raises(InputError, match=r"garbled.txt.gz.*corrupt or truncated"):
        geo.read_series_matrix(bad)


def test_non_utf8(tmp_path: Path) -> None:
    text = QUIRKY.read_text().replace("Ann,,Smith", "Ren\u00e9,,Smith")
    path = tmp_path / "latin1.txt"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1.txt.*not UTF-8.*line 3"):
        geo.read_series_matrix(path)
    with pytest.raises(InputError, match="not UTF-8"):
        geo.read_series_matrix_header(path)


def test_plain_and_gzip_give_same_result(tmp_path: Path) -> None:
    gz = tmp_path / "q.txt.gz"
    with open(QUIRKY, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    a, b = geo.read_series_matrix(QUIRKY), geo.read_series_matrix(gz)
    pd.testing.assert_frame_equal(a.expression, b.expression)
    pd.testing.assert_frame_equal(a.samples, b.samples)


# ------------------------------------------------------------------------------ platform tables


@pytest.mark.parametrize("name", ["GPL570_mini.annot", "GPL570_mini.annot.gz"])
def test_platform_annot(name: str) -> None:
    table = geo.read_platform_table(FIXTURES / name)
    assert table.iloc[:2].tolist() == ["DDR1///MIR4640", "RFC2"]
    assert table.iloc[2:].isna().all()
    assert table.index.name == "probe_id" and table.name == "symbol"


def test_platform_soft_gene_assignment() -> None:
    table = geo.read_platform_table(FIXTURES / "GPL6244_mini_family.soft")
    assert list(table.index) == ["7896736", "7896738", "7896740", "7896742"]  # not sample tables
    assert pd.isna(table["7896736"])
    assert table["7896738"] == "OR4G2P" and table["7896740"] == "OR4F5"
    assert table["7896742"] == "GENEA /// GENEB"  # distinct genes kept: a multi-mapping probe


def test_platform_soft_agilent_and_illumina() -> None:
    agilent = geo.read_platform_table(FIXTURES / "GPL6480_mini.soft")
    assert agilent["A_24_P347411"] == "POSTN" and pd.isna(agilent["DarkCorner"])
    illumina = geo.read_platform_table(FIXTURES / "GPL10558_mini.soft")
    assert illumina.to_dict() == {"ILMN_1343291": "EEF1A1", "ILMN_1343295": "GAPDH"}


def test_platform_explicit_columns_and_errors(tmp_path: Path) -> None:
    table = geo.read_platform_table(
        FIXTURES / "GPL10558_mini.soft", id_column="ID", symbol_column="ILMN_Gene"
    )
    assert table["ILMN_1343291"] == "EEF1A1"
    with pytest.raises(InputError, match="no symbol column 'Nope'"):
        geo.read_platform_table(FIXTURES / "GPL10558_mini.soft", symbol_column="Nope")
    path = _write(tmp_path / "GPL1.txt", "ID\tSEQUENCE\np1\tACGT\n")
    with pytest.raises(InputError, match="GPL1 has no gene-symbol column"):
        geo.read_platform_table(path)
    dup = _write(tmp_path / "dup.tsv", "probe_id\tsymbol\np1\tA\np1\tB\n")
    with pytest.raises(InputError, match=r"probe ID 'p1' appears with different symbols"):
        geo.read_platform_table(dup)


def test_platform_shipped_tables(shared_dir: Path) -> None:
    base = shared_dir / "data/geo/platform_annotations"
    gpl570 = geo.read_platform_table(base / "GPL570_soft.tsv.gz")
    assert gpl570["210809_s_at"] == "POSTN" and gpl570["1007_s_at"] == "DDR1 /// MIR4640"
    gpl6480 = geo.read_platform_table(base / "GPL6480_soft.tsv.gz")
    assert gpl6480["A_24_P347411"] == "POSTN"


# ------------------------------------------------------------------------------------ log2 rule


def test_needs_log2_rule_branches() -> None:
    # q99 > 100 -> log
    assert geo.needs_log2(np.linspace(1, 1000, 1001))
    # range > 50 and q25 > 0 -> log (q99 < 100)
    x = np.concatenate([np.full(990, 2.0), np.full(9, 60.0), [99.0]])
    assert geo.needs_log2(x)
    # range > 50 but q25 <= 0 (e.g. log-ratios / centred data) -> no
    y = np.concatenate([np.full(300, -1.0), np.full(700, 5.0), [60.0]])
    assert not geo.needs_log2(y)
    # already log2
    assert not geo.needs_log2(np.linspace(2, 16, 500))
    # missing values ignored; all-missing -> False
    assert geo.needs_log2(np.array([np.nan, 1.0, 500.0, 1000.0, np.nan]))
    assert not geo.needs_log2(np.full(5, np.nan))


def test_needs_log2_quantiles_match_r_type7() -> None:
    # R: quantile(c(1, 2, 4, 8, 200), c(0, .25, .5, .75, .99, 1)) = 1 2 4 8 192.32 200
    x = np.array([1.0, 2.0, 4.0, 8.0, 200.0])
    q = np.quantile(x, [0.0, 0.25, 0.5, 0.75, 0.99, 1.0])
    np.testing.assert_allclose(q, [1, 2, 4, 8, 192.32, 200])
    assert geo.needs_log2(x)  # q99 = 192.32 > 100
    # just below the q99 threshold, range > 50 but q25 = 0 -> no
    z = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 100.0])
    assert not geo.needs_log2(z)


def test_apply_log2() -> None:
    frame = pd.DataFrame(
        [[0.0, 4.0, 1024.0], [-3.0, 8.0, 2.0]], index=["a", "b"], columns=["s1", "s2", "s3"]
    )
    logged, done = geo.apply_log2(frame)
    assert done
    expected = np.array([[np.nan, 2.0, 10.0], [np.nan, 3.0, 1.0]])
    np.testing.assert_array_equal(logged.to_numpy(), expected)
    assert list(logged.index) == ["a", "b"] and list(logged.columns) == ["s1", "s2", "s3"]
    small = frame.clip(lower=1.0) / 100
    same, done = geo.apply_log2(small)
    assert not done and same is small
    arr, done = geo.apply_log2(frame.to_numpy())
    assert done and isinstance(arr, np.ndarray)


def test_non_utf8_in_table(tmp_path: Path) -> None:
    text = QUIRKY.read_text()
    path = tmp_path / "bad_table.txt"
    path.write_bytes(text.replace("117_at", "117_\u00e4t").encode("latin-1"))
    with pytest.raises(InputError, match=r"bad_table.txt.*not UTF-8.*expression table"):
        geo.read_series_matrix(path)
