"""Issue 19, class 6: the cache trusts itself. Each run verifies each cached file it reads.

The local-server cases (slow drip, minimum rate, truncated-then-correct) are in tests/test_fetch.py;
here the cache as the stages meet it: a prepared GEO folder (adopted offline from files placed by
hand, so no network is needed), edited in place, or missing its checksum list. Each case asserts the
exact message and that the stage wrote nothing (tests/README.md, "Round two: data and cache").
"""

from __future__ import annotations

import gzip
import json
import socket
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from synthetic import expression_frame, series_matrix_text
from workflow_utils import PROJECT_DIR

from markerflow.errors import InputError
from markerflow.io import fetch
from markerflow.io.study import CohortSpec
from markerflow.io.tables import write_matrix, write_tsv
from markerflow.stages.genes import map_cohort_genes
from markerflow.stages.ingest import ingest_cohort

FIXTURES = PROJECT_DIR / "tests" / "fixtures" / "geo"
CONFIG_SCHEMA = str(PROJECT_DIR / "workflow" / "schemas" / "config.schema.yaml")


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def prepared(tmp_path) -> dict[str, Path]:
    """A cache folder for GSE1 (GPL570) as the geo_download rule leaves it."""
    expression, pheno = expression_frame(n_genes=20)
    expression.index = [f"{1000 + i}_at" for i in range(20)]
    text = series_matrix_text(expression, {"status": list(pheno["status"])})
    text = text.replace(
        "!Sample_channel_count",
        "!Sample_platform_id\t" + "\t".join('"GPL570"' for _ in expression.columns) + "\n"
        "!Sample_channel_count",
    )
    raw = tmp_path / "cache" / "GSE1" / "raw"
    raw.mkdir(parents=True)
    (raw / "GSE1_series_matrix.txt.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    annot = (FIXTURES / "GPL570_mini.annot").read_bytes()
    (raw / "GPL570.annot.gz").write_bytes(gzip.compress(annot, mtime=0))
    folder = tmp_path / "cache" / "GSE1"
    out = {
        "matrix_out": folder / "series_matrix.txt.gz",
        "annotation_out": folder / "annotation.tsv.gz",
        "checksums_out": folder / "checksums.tsv",
    }
    settings = fetch.FetchSettings(base_url=closed_port_url(), retries=0,
                                   cache_dir=str(tmp_path / "cache"))  # fmt: skip
    fetch.prepare_geo_series("GSE1", None, settings, **out)
    return out


def geo_spec() -> CohortSpec:
    return CohortSpec(
        cohort="C1", role="discovery", source="geo", data_type="array", condition_column="status",
        case_values=("asthma",), control_values=("healthy",), accession="GSE1",
    )  # fmt: skip


def run_ingest(out: Path, matrix: Path):
    """ingest_cohort.py's body: compute, then write (nothing before success)."""
    try:
        cohort = ingest_cohort(geo_spec(), "asthma", "control", matrix)
    except InputError:
        assert not out.exists() or not any(out.iterdir()), "partial output left"
        raise
    write_tsv(cohort.excluded, out / "excluded_samples.tsv")
    write_tsv(cohort.samples, out / "samples.tsv")
    write_matrix(cohort.expression, out / "expression.parquet")
    return cohort


def flip_a_byte(path: Path, at: int = 200) -> None:
    """Edit a file in place (same inode: a hard link sees the change too)."""
    with open(path, "r+b") as handle:
        handle.seek(at)
        byte = handle.read(1)
        handle.seek(at)
        handle.write(bytes([byte[0] ^ 1]))


def test_prepared_cache_is_verified_and_read(prepared, tmp_path):
    cohort = run_ingest(tmp_path / "results", prepared["matrix_out"])
    assert cohort.expression.shape == (20, 8)


def test_cached_series_matrix_edited_in_place_stops_ingest(prepared, tmp_path):
    flip_a_byte(prepared["matrix_out"])
    with pytest.raises(InputError) as err:
        run_ingest(tmp_path / "results", prepared["matrix_out"])
    text = str(err.value)
    listing = prepared["checksums_out"]
    assert text.startswith(
        f"{prepared['matrix_out']}: cached GEO file changed after download: sha256 "
    )
    assert f", recorded in {listing} as " in text
    assert text.endswith(
        f"What to do: delete {listing.parent} (or just this file) and run again to download and "
        "prepare it anew; to keep an edited copy, give it as a local file (source "
        "`series_matrix` / the `annotation` column) instead of a cached download"
    )
    assert not (tmp_path / "results").exists()


def test_raw_download_edited_in_place_is_caught_through_the_hard_link(prepared, tmp_path):
    raw = prepared["matrix_out"].parent / "raw" / "GSE1_series_matrix.txt.gz"
    if raw.stat().st_ino != prepared["matrix_out"].stat().st_ino:
        pytest.skip("file system without hard links: the workflow file is a copy")
    flip_a_byte(raw)
    with pytest.raises(InputError, match="cached GEO file changed after download"):
        run_ingest(tmp_path / "results", prepared["matrix_out"])


def test_cached_annotation_edited_stops_the_genes_stage(prepared, tmp_path):
    cohort = ingest_cohort(geo_spec(), "asthma", "control", prepared["matrix_out"])
    prepared["annotation_out"].write_bytes(gzip.compress(b"probe_id\tsymbol\n1000_at\tX\n"))
    out = tmp_path / "results"
    with pytest.raises(InputError, match=r"annotation\.tsv\.gz: cached GEO file changed after"):
        map_cohort_genes(cohort.expression, cohort.samples, "array", prepared["annotation_out"])
    assert not out.exists()


def test_geo_cohort_without_checksum_list_is_refused(prepared, tmp_path):
    prepared["checksums_out"].unlink()
    with pytest.raises(InputError) as err:
        run_ingest(tmp_path / "results", prepared["matrix_out"])
    assert str(err.value).startswith(
        f"{prepared['matrix_out']}: cached GEO file has no checksums.tsv beside it, so it cannot "
        "be verified\n"
    )


def test_checksum_list_without_its_columns_is_named(prepared, tmp_path):
    prepared["checksums_out"].write_text("a\tb\n1\t2\n")
    with pytest.raises(InputError) as err:
        run_ingest(tmp_path / "results", prepared["matrix_out"])
    assert str(err.value).startswith(
        f"{prepared['checksums_out']}: cache checksum list lacks role/file/sha256 columns (a, b)"
    )


def test_raw_file_edited_is_caught_when_the_download_step_runs_again(prepared, tmp_path):
    raw = prepared["matrix_out"].parent / "raw" / "GPL570.annot.gz"
    flip_a_byte(raw, at=30)
    settings = fetch.FetchSettings(base_url=closed_port_url(), retries=0,
                                   cache_dir=str(tmp_path / "cache"))  # fmt: skip
    with pytest.raises(InputError, match=r"GPL570\.annot\.gz: cached file does not match its"):
        fetch.fetch_geo_series("GSE1", None, settings)


def test_broken_manifest_is_named(prepared, tmp_path):
    manifest = prepared["matrix_out"].parent / "manifest.json"
    manifest.write_text("{not json")
    settings = fetch.FetchSettings(base_url=closed_port_url(), retries=0,
                                   cache_dir=str(tmp_path / "cache"))  # fmt: skip
    with pytest.raises(InputError, match=r"manifest\.json: download manifest is not valid JSON"):
        fetch.fetch_geo_series("GSE1", None, settings)
    manifest.write_text(json.dumps({"files": []}))
    with pytest.raises(InputError, match="download manifest has no `files` mapping"):
        fetch.fetch_geo_series("GSE1", None, settings)


def test_retries_do_not_outlive_the_deadline(tmp_path):
    waits: list[float] = []
    settings = fetch.FetchSettings(base_url=closed_port_url(), retries=5, backoff_s=30.0,
                                   deadline_s=10.0, cache_dir=str(tmp_path))  # fmt: skip
    with pytest.raises(InputError, match=r"after 1 attempt\(s\): URLError: .*refused"):
        fetch.download(settings.base_url + "/x.gz", tmp_path / "x.gz", settings,
                       sleep=waits.append)  # fmt: skip
    assert waits == []  # the first back-off (30 s) would end after the deadline: no retry
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (("geo", "deadline_s"), 0, "0 is less than or equal to the minimum of 0"),
        (("geo", "min_rate_bytes_s"), -1, "-1 is less than the minimum of 0"),
        (("geo", "deadline_s"), "1h", "'1h' is not of type 'number'"),
        (("genes", "min_annotated_share"), 1.5, "1.5 is greater than the maximum of 1"),
    ],
    ids=["deadline-zero", "rate-negative", "deadline-text", "share-above-one"],
)
def test_new_limits_are_checked_by_the_schema(key, value, message):
    config = yaml.safe_load((PROJECT_DIR / "config" / "config.yaml").read_text())
    config[key[0]][key[1]] = value
    with pytest.raises(WorkflowError) as err:
        validate(config, CONFIG_SCHEMA)
    assert message in str(err.value) and f"['{key[1]}']" in str(err.value)
