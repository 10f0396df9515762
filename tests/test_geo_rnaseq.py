"""Issue 17 item 4: a `source: geo` RNA-seq cohort (NCBI-computed raw counts + gene annotation
from GEO's download CGI, phenotypes from the series matrix) runs from a local GEO stand-in on
127.0.0.1, then offline from the cache with byte-identical outputs.

The served files have the real formats: an RNA-seq series matrix (``!Sample_*`` header, empty
table), ``GSExxx_raw_counts_GRCh38.p13_NCBI.tsv.gz`` (``GeneID`` + one integer column per GSM) and
``Human.GRCh38.p13.annot.tsv.gz`` (``GeneID Symbol Description Synonyms GeneType EnsemblGeneID
...``), with real Entrez IDs and symbols.
"""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from test_fetch import GeoServer
from workflow_utils import PROJECT_DIR, make_workdir, run_snakemake, single_comparison

from markerflow.errors import InputError
from markerflow.io import fetch

ACC = "GSE99991"
MATRIX_PATH = f"/geo/series/GSE99nnn/{ACC}/matrix/{ACC}_series_matrix.txt.gz"
COUNTS_PATH = (
    f"/geo/download/?type=rnaseq_counts&acc={ACC}&format=file"
    f"&file={ACC}_raw_counts_GRCh38.p13_NCBI.tsv.gz"
)
ANNOT_PATH = "/geo/download/?format=file&type=rnaseq_counts&file=Human.GRCh38.p13.annot.tsv.gz"
ANNOT_COLUMNS = ["GeneID", "Symbol", "Description", "Synonyms", "GeneType", "EnsemblGeneID",
                 "Status", "ChrAcc", "ChrStart", "ChrStop", "Orientation", "Length"]  # fmt: skip
N_GENES, N_SAMPLES = 300, 8


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def served_files() -> dict[str, bytes]:
    genes = pd.read_csv(PROJECT_DIR / "resources/annotation/hs_gene_ids.tsv.gz", sep="\t",
                        dtype=str, nrows=3 * N_GENES)  # fmt: skip
    genes = genes.drop_duplicates("entrez").iloc[:N_GENES].reset_index(drop=True)
    gsm = [f"GSM70{j:02d}" for j in range(N_SAMPLES)]
    group = ["asthma"] * 4 + ["healthy"] * 4
    matrix = "\n".join(
        [
            '!Series_title\t"An RNA-seq series"',
            f'!Series_geo_accession\t"{ACC}"',
            '!Series_type\t"Expression profiling by high throughput sequencing"',
            "!Sample_title\t" + "\t".join(f'"donor {j}"' for j in range(N_SAMPLES)),
            "!Sample_geo_accession\t" + "\t".join(f'"{g}"' for g in gsm),
            "!Sample_type\t" + "\t".join('"SRA"' for _ in gsm),
            "!Sample_platform_id\t" + "\t".join('"GPL20301"' for _ in gsm),
            "!Sample_characteristics_ch1\t" + "\t".join(f'"disease: {g}"' for g in group),
            "!Sample_characteristics_ch1\t" + "\t".join(f'"age: {30 + j}"' for j in range(8)),
            "!series_matrix_table_begin",
            '"ID_REF"\t' + "\t".join(f'"{g}"' for g in gsm),
            "!series_matrix_table_end",
        ]
    )
    rng = np.random.default_rng(4)
    mean = rng.gamma(1.0, 300.0, N_GENES)[:, None] * np.ones(N_SAMPLES)
    mean[:20, :4] *= 4.0
    counts = rng.negative_binomial(5, 5 / (5 + mean))
    table = pd.DataFrame(counts, columns=gsm)
    table.insert(0, "GeneID", genes["entrez"])
    annot = pd.DataFrame({c: "" for c in ANNOT_COLUMNS}, index=range(N_GENES))
    annot["GeneID"] = genes["entrez"]
    annot["Symbol"] = genes["symbol"]
    annot["Description"] = genes["genename"]
    annot["GeneType"] = genes["gene_type"]
    annot["EnsemblGeneID"] = genes["ensembl"].fillna("")
    annot["Status"] = "live"
    return {
        MATRIX_PATH: _gz(matrix + "\n"),
        COUNTS_PATH: _gz(table.to_csv(sep="\t", index=False, lineterminator="\n")),
        ANNOT_PATH: _gz(annot.to_csv(sep="\t", index=False, lineterminator="\n")),
    }


def test_rnaseq_urls_follow_geo():
    urls = fetch.rnaseq_urls("GSE164073", fetch.FetchSettings())
    assert urls["rnaseq_counts"][0] == (
        "https://www.ncbi.nlm.nih.gov/geo/download/?type=rnaseq_counts&acc=GSE164073&format=file"
        "&file=GSE164073_raw_counts_GRCh38.p13_NCBI.tsv.gz"
    )
    assert urls["rnaseq_annotation"][0] == (
        "https://www.ncbi.nlm.nih.gov/geo/download/?format=file&type=rnaseq_counts"
        "&file=Human.GRCh38.p13.annot.tsv.gz"
    )


def test_missing_counts_is_explained(tmp_path):
    files = served_files()
    del files[COUNTS_PATH]
    with GeoServer(files) as server:
        settings = fetch.FetchSettings(base_url=server.base_url, retries=0,
                                       rnaseq_url=server.base_url + "/geo/download/",
                                       cache_dir=str(tmp_path / "cache"))  # fmt: skip
        with pytest.raises(InputError, match="no NCBI-computed rnaseq counts"):
            fetch.fetch_geo_rnaseq(ACC, settings)


@pytest.mark.workflow
@pytest.mark.slow  # ~55 s: two workflow runs through DESeq2
def test_geo_rnaseq_cohort_downloads_then_runs_offline(tmp_path):
    workdir = make_workdir(tmp_path / "wd")
    single_comparison(workdir)
    row = {"cohort": "rnaseq1", "role": "discovery", "source": "geo", "data_type": "counts",
           "accession": ACC, "condition_column": "disease", "case_values": "asthma",
           "control_values": "healthy"}  # fmt: skip
    pd.DataFrame([row]).to_csv(workdir / "config" / "cohorts.tsv", sep="\t", index=False)
    targets = (
        "results/asthma_vs_control/de/rnaseq1/de.tsv",
        "results/genes/rnaseq1/expression.parquet",
    )
    files = served_files()
    with GeoServer(files) as server:
        path = workdir / "config" / "config.yaml"
        config = yaml.safe_load(path.read_text())
        config["geo"].update(base_url=server.base_url, rnaseq_url=server.base_url + "/geo/download/",
                             cache_dir="geo_cache", retries=1, timeout_s=20)  # fmt: skip
        path.write_text(yaml.safe_dump(config))
        first = run_snakemake(workdir, "--cores", "2", *targets, timeout=600)
        assert first.returncode == 0, first.stderr[-4000:]
        assert all(server.requests[p] == 1 for p in files)
    outputs = {t: (workdir / t).read_bytes() for t in targets}
    checksums = pd.read_csv(workdir / f"geo_cache/{ACC}/rnaseq/checksums.tsv", sep="\t")
    assert sorted(checksums["role"]) == ["rnaseq_annotation", "rnaseq_counts", "series_matrix"]
    ingested = pd.read_parquet(workdir / "results/ingest/rnaseq1/expression.parquet")
    assert ingested.index[:3].tolist() == ["1", "2", "3"]  # Entrez IDs kept at ingest
    samples = pd.read_csv(workdir / "results/ingest/rnaseq1/samples.tsv", sep="\t")
    assert samples["condition"].value_counts().to_dict() == {"asthma": 4, "control": 4}
    genes = pd.read_parquet(workdir / targets[1])
    assert {"A1BG", "A2M"} <= set(genes.index)  # Entrez -> Symbol through GEO's annotation

    shutil.rmtree(workdir / "results")  # server gone: rebuilt from the cache alone
    second = run_snakemake(workdir, "--cores", "2", *targets, timeout=600)
    assert second.returncode == 0, second.stderr[-4000:]
    for target, data in outputs.items():
        assert (workdir / target).read_bytes() == data, target
