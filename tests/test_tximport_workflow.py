"""Issue 17 item 5: a cohort of salmon files (source `tximport`) runs through ingest and DE."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workflow_utils import make_workdir, run_snakemake, single_comparison

from markerflow.io.tables import read_matrix

pytestmark = pytest.mark.workflow

FIX = Path(__file__).parent / "fixtures" / "tximport"


@pytest.mark.slow
def test_tximport_cohort_runs(tmp_path):
    workdir = make_workdir(tmp_path / "wd")
    single_comparison(workdir)
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
