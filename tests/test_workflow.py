"""The example study runs end to end through Snakemake, and its results make biological sense."""

from __future__ import annotations

import pandas as pd
import pytest

from markerflow.contracts import DE_COLUMNS, SAMPLE_COLUMNS
from markerflow.io.tables import read_matrix

pytestmark = pytest.mark.workflow

COHORTS = ("GSE85567", "GSE27011", "GSE22528")
#: The example's two-level comparison (every cohort serves it): results/asthma_vs_control/...
AVC = "asthma_vs_control"


def test_every_cohort_has_its_outputs(example_run):
    for cohort in COHORTS:
        for path in (
            f"ingest/{cohort}/expression.parquet",
            f"ingest/{cohort}/samples.tsv",
            f"qc/{cohort}/summary.tsv",
            f"qc/{cohort}/pca.png",
            f"genes/{cohort}/expression.parquet",
            f"{AVC}/de/{cohort}/de.tsv",
            f"{AVC}/de/{cohort}/normalized.parquet",
            f"{AVC}/de/{cohort}/samples.tsv",
            f"{AVC}/de/{cohort}/volcano.png",
            f"{AVC}/de/{cohort}/summary.tsv",
        ):
            assert (example_run / path).stat().st_size > 0, path


def test_de_tables_follow_the_contract(example_run):
    for cohort in COHORTS:
        de = pd.read_csv(example_run / AVC / f"de/{cohort}/de.tsv", sep="\t")
        assert tuple(de.columns[: len(DE_COLUMNS)]) == DE_COLUMNS
        assert de["gene"].is_unique
        assert de["pvalue"].dropna().between(0, 1).all()
        samples = pd.read_csv(example_run / f"ingest/{cohort}/samples.tsv", sep="\t")
        assert tuple(samples.columns[:4]) == SAMPLE_COLUMNS
        levels = {"healthy", "mild", "severe"} if cohort == "GSE27011" else {"asthma", "control"}
        assert set(samples["condition"]) == levels
        # the comparison's sheet: mild + severe pooled as asthma, healthy as control
        pooled = pd.read_csv(example_run / AVC / f"de/{cohort}/samples.tsv", sep="\t")
        assert set(pooled["condition"]) == {"asthma", "control"} and len(pooled) == len(samples)


def test_phenotype_mapping_of_gse27011(example_run):
    samples = pd.read_csv(example_run / "ingest/GSE27011/samples.tsv", sep="\t")
    assert samples["condition"].value_counts().to_dict() == {
        "mild": 19,
        "healthy": 18,
        "severe": 17,
    }
    pooled = pd.read_csv(example_run / AVC / "de/GSE27011/samples.tsv", sep="\t")
    assert pooled["condition"].value_counts().to_dict() == {"asthma": 36, "control": 18}
    genes = read_matrix(example_run / "genes/GSE27011/expression.parquet")
    assert genes.index.name == "gene" and genes.index.is_unique
    assert genes.shape[1] == 54


@pytest.mark.slow
def test_level_wise_comparisons_of_gse27011(full_example_run):
    """The example's three level-wise comparisons run on GSE27011 alone, each on its two levels'
    samples; the other cohorts are skipped with the reason."""
    for name, sizes in (("severe_vs_healthy", (17, 18)), ("mild_vs_healthy", (19, 18)),
                        ("severe_vs_mild", (17, 19))):  # fmt: skip
        de = pd.read_csv(full_example_run / name / "de/GSE27011/de.tsv", sep="\t")
        assert (de["n_case"].iloc[0], de["n_control"].iloc[0]) == sizes, name
        skipped = pd.read_csv(full_example_run / name / "skipped_cohorts.tsv", sep="\t")
        assert skipped["cohort"].tolist() == ["GSE85567", "GSE22528"], name
        assert (full_example_run / name / "signature/signature.tsv").stat().st_size > 0


def test_th2_signature_is_up_in_asthmatic_epithelium(example_run):
    """Acceptance (issue 2): SERPINB2, POSTN, MUC5AC and CDH26 are up in GSE85567 asthma."""
    de = pd.read_csv(example_run / AVC / "de/GSE85567/de.tsv", sep="\t").set_index("gene")
    for gene in ("SERPINB2", "POSTN", "MUC5AC", "CDH26"):
        assert de.at[gene, "log2fc"] > 0, gene
        assert de.at[gene, "pvalue"] < 0.05, (gene, de.at[gene, "pvalue"])


def test_signature_frozen_and_performance_labelled(example_run):
    """Issue 15: the signature is frozen with the sha256 of its inputs; every performance row has
    a kind; each discovery cohort has a leave-one-cohort-out fold."""
    import json

    frozen = json.loads((example_run / AVC / "signature/signature.frozen.json").read_text())
    assert frozen["discovery_cohorts"] == ["GSE85567", "GSE27011"]
    assert all(len(h) == 64 for h in frozen["inputs"].values())
    assert not any("GSE22528" in path for path in frozen["inputs"])
    perf = pd.read_csv(example_run / AVC / "signature/performance.tsv", sep="\t")
    assert perf["kind"].tolist().count("in-sample") == 2
    assert set(perf["kind"]) == {"in-sample", "out-of-cohort", "external"}
    ooc = pd.read_csv(example_run / AVC / "validation/out_of_cohort.tsv", sep="\t")
    assert ooc["cohort"].tolist() == ["GSE85567", "GSE27011", "pooled", "weighted_mean"]
    assert (ooc["kind"] == "out-of-cohort").all()
    for cohort in ("GSE85567", "GSE27011"):
        for name in ("signature.tsv", "signature.frozen.json", "score.tsv"):
            assert (example_run / AVC / f"validation/loco/{cohort}/{name}").stat().st_size > 0
    stability = pd.read_csv(example_run / AVC / "validation/rank_stability.tsv", sep="\t")
    assert stability["frequency"].between(0, 1).all()
    candidates = pd.read_csv(example_run / AVC / "candidates/candidates.tsv", sep="\t")
    joined = candidates.set_index("gene")["rank_stability"]
    assert joined.between(0, 1).all()
    listed = stability.set_index("gene")["frequency"]
    common = listed.index.intersection(joined.index)
    assert len(common) and (joined[common] == listed[common]).all()


def test_loco_chain_is_the_main_chain(example_run):
    """The fold chain (markerflow.stages.validation.select_signature) on *all* discovery cohorts
    reproduces the main rules' candidates and signature: a fold is the same chain, not a copy."""
    import yaml
    from workflow_utils import PROJECT_DIR

    from markerflow.io.gmt import read_gmt
    from markerflow.io.tables import read_tsv
    from markerflow.stages.columnar import read_summary
    from markerflow.stages.validation import (
        ChainSettings,
        SummarisedInput,
        chain_settings,
        select_signature,
    )

    # the effective config of the run (schema defaults filled in)
    config = yaml.safe_load((example_run / "provenance/config.frozen.yaml").read_text())
    sheet = {"dtype": {"sample": str, "batch": str}}
    inputs = {  # as validation_loco.py: the DE job's columnar summaries + matrix rows
        c: SummarisedInput(
            read_summary(example_run / AVC / f"de/{c}/genes.parquet",
                         example_run / AVC / f"de/{c}/de.parquet"),
            read_tsv(example_run / AVC / f"de/{c}/samples.tsv", **sheet),
            example_run / AVC / f"de/{c}/normalized.parquet",
        )
        for c in ("GSE85567", "GSE27011")
    }  # fmt: skip
    sets = {k: read_gmt(PROJECT_DIR / v) for k, v in config["enrichment"]["libraries"].items()}
    sel = select_signature(inputs, ChainSettings(**chain_settings(config)), sets)
    main = read_tsv(example_run / AVC / "candidates/candidates.tsv", dtype={"gene": str})
    assert sel.candidates["gene"].tolist() == main["gene"].tolist()
    sig = read_tsv(example_run / AVC / "signature/signature.tsv", dtype={"gene": str})
    assert sel.signature["gene"].tolist() == sig["gene"].tolist()


def test_local_run_has_no_job_rate_limit(example_run):
    """The Snakefile's onstart turns off Snakemake's job rate limit in a local run: with it, every
    finished job adds a scheduler pass per timespan for the rest of the run (docs/scaling.md)."""
    logs = sorted((example_run.parent / ".snakemake" / "log").glob("*.snakemake.log"))
    assert logs, "no Snakemake log"
    assert "job rate limit is off" in logs[-1].read_text(encoding="utf-8")
