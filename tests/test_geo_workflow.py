"""Issue 5 acceptance: a `source: geo` cohort downloads through the workflow from a local GEO
stand-in on 127.0.0.1, and the same run succeeds from the cache once the server is gone."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml
from test_fetch import ANNOT_PATH, MATRIX_PATH, GeoServer
from workflow_utils import make_workdir, run_snakemake, single_comparison

pytestmark = pytest.mark.workflow

TARGETS = ("results/asthma_vs_control/de/GSE27011/de.tsv", "results/qc/GSE27011/summary.tsv")


def geo_study(workdir, base_url):
    sheet = pd.DataFrame(
        [
            {
                "cohort": "GSE27011",
                "role": "discovery",
                "source": "geo",
                "data_type": "array",
                "accession": "GSE27011",
                "condition_column": "source_name",
                "case_values": "Mild asthma;Severe asthma",
                "control_values": "Healthy control",
            }
        ]
    )
    sheet.to_csv(workdir / "config" / "cohorts.tsv", sep="\t", index=False)
    single_comparison(workdir)  # the two-level mapping: asthma_vs_control only
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["geo"].update(base_url=base_url, cache_dir="geo_cache", retries=1, timeout_s=20)
    path.write_text(yaml.safe_dump(config))


@pytest.mark.slow
def test_geo_cohort_downloads_then_runs_offline_from_cache(
    tmp_path,
    matrix_bytes,
    annot_bytes,
):
    workdir = make_workdir(tmp_path / "wd")
    with GeoServer({MATRIX_PATH: matrix_bytes, ANNOT_PATH: annot_bytes}) as server:
        geo_study(workdir, server.base_url)
        first = run_snakemake(workdir, "--cores", "2", *TARGETS, timeout=600)
        assert first.returncode == 0, first.stderr[-4000:]
        assert server.requests[MATRIX_PATH] == 1 and server.requests[ANNOT_PATH] == 1
    de_first = (workdir / TARGETS[0]).read_bytes()
    checksums = pd.read_csv(workdir / "geo_cache/GSE27011/checksums.tsv", sep="\t")
    assert sorted(checksums["role"]) == [
        "platform_table", "series_matrix", "workflow_annotation", "workflow_matrix",
    ]  # fmt: skip
    assert checksums["sha256"].str.fullmatch(r"[0-9a-f]{64}").all()

    # Server stopped: a fresh results directory is rebuilt from the cache alone.
    shutil.rmtree(workdir / "results")
    second = run_snakemake(workdir, "--cores", "2", *TARGETS, timeout=600)
    assert second.returncode == 0, second.stderr[-4000:]
    assert (workdir / TARGETS[0]).read_bytes() == de_first
    samples = pd.read_csv(workdir / "results/ingest/GSE27011/samples.tsv", sep="\t")
    assert samples["condition"].value_counts().to_dict() == {"asthma": 36, "control": 18}

    # Issue 19: the cached series matrix edited in place (a hard link to the raw download) is
    # caught at ingest on the next run, although the download step does not run again.
    cached = workdir / "geo_cache/GSE27011/series_matrix.txt.gz"
    with open(cached, "r+b") as handle:
        handle.seek(500)
        byte = handle.read(1)
        handle.seek(500)
        handle.write(bytes([byte[0] ^ 1]))
    shutil.rmtree(workdir / "results")
    third = run_snakemake(workdir, "--cores", "1", *TARGETS, timeout=600)
    assert third.returncode != 0
    log = (workdir / "results/logs/ingest/GSE27011.log").read_text()
    assert "series_matrix.txt.gz: cached GEO file changed after download: sha256" in log
    assert "download and prepare it anew" in log
    assert not list((workdir / "results/ingest").rglob("*.tsv"))
    assert not list((workdir / "results/ingest").rglob("*.parquet"))
