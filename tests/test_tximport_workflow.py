"""Issue 17 item 5: a cohort of salmon files (source `tximport`) runs through ingest and DE; the
DE rule gets the tximport lengths and its DESeq2 table equals R's DESeqDataSetFromTximport
(tests/fixtures/tximport/deseq2_salmon.tsv) to 1e-6 relative (no low-count filter, as in R)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_utils import make_workdir, run_snakemake, single_comparison

from markerflow.io.tables import read_matrix

pytestmark = pytest.mark.workflow

FIX = Path(__file__).parent / "fixtures" / "tximport"


@pytest.mark.slow
def test_tximport_cohort_runs(tmp_path):
    workdir = make_workdir(tmp_path / "wd")
    single_comparison(workdir)
    config_path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["de"]["counts"]["min_count"] = 0  # all 100 genes, as the R fixture
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    comparison = f"{config['study']['case_label']}_vs_{config['study']['control_label']}"
    data = workdir / "data"
    shutil.copytree(FIX / "salmon", data / "salmon")
    shutil.copy(FIX / "tx2gene.tsv", data / "tx2gene.tsv")
    samples = pd.read_csv(FIX / "samples.tsv", sep="\t")
    samples[samples["sample"].str.startswith("S")].to_csv(
        data / "samples.tsv", sep="\t", index=False
    )
    row = {
        "cohort": "salmon6",
        "role": "discovery",
        "source": "tximport",
        "data_type": "counts",
        "matrix": "data/salmon",
        "samples": "data/samples.tsv",
        "quant_type": "salmon",
        "tx2gene": "data/tx2gene.tsv",
        "condition_column": "condition",
        "case_values": "case",
        "control_values": "control",
    }
    pd.DataFrame([row]).to_csv(workdir / "config" / "cohorts.tsv", sep="\t", index=False)
    targets = (
        "results/ingest/salmon6/expression.parquet",
        "results/ingest/salmon6/tx_lengths.parquet",
        f"results/{comparison}/de/salmon6/de.tsv",
    )
    run = run_snakemake(workdir, "--cores", "1", *targets, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    counts = read_matrix(workdir / targets[0])
    ref = pd.read_csv(FIX / "salmon_no_counts.tsv", sep="\t", index_col=0)
    assert list(counts.columns) == [f"S{j}" for j in range(1, 7)]
    np.testing.assert_array_equal(counts.to_numpy(), np.rint(ref.loc[counts.index].to_numpy()))
    lengths = read_matrix(workdir / targets[1])
    ref_len = pd.read_csv(FIX / "salmon_no_length.tsv", sep="\t", index_col=0)
    np.testing.assert_allclose(lengths.to_numpy(), ref_len.to_numpy(), rtol=1e-10)
    de = pd.read_csv(workdir / targets[2], sep="\t", index_col="gene")
    ref_de = pd.read_csv(FIX / "deseq2_salmon.tsv", sep="\t", index_col=0).loc[de.index]
    assert len(de) == 100
    for mine, theirs in (("log2fc", "log2FoldChange"), ("se", "lfcSE"), ("pvalue", "pvalue")):
        np.testing.assert_allclose(de[mine], ref_de[theirs], rtol=1e-6, err_msg=mine)
    np.testing.assert_allclose(de["baseMean"], ref_de["baseMean"], rtol=1e-6)
