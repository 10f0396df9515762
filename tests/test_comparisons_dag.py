"""Comparisons through the workflow (issue 16), on the example study: its four comparisons in the
DAG (dry run), cohorts lacking a level skipped with the reason printed and tabled, and a
comparison nothing can serve stopped before any job."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml
from workflow_utils import make_workdir, run_snakemake

pytestmark = pytest.mark.workflow

COMPARISONS = ("asthma_vs_control", "severe_vs_healthy", "mild_vs_healthy", "severe_vs_mild")
ALL = ("GSE85567", "GSE27011", "GSE22528")
SKIP = (
    "markerflow: comparison severe_vs_healthy: cohort GSE85567 skipped (no sample of the case "
    "severe or the control healthy level; levels present: asthma, control)"
)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    workdir = make_workdir(tmp_path_factory.mktemp("comparisons"))
    proc = run_snakemake(workdir, "-n", "-F", "--cores", "1", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs: dict[str, list[str]] = {}
    rule = None
    for line in (proc.stdout + proc.stderr).splitlines():
        head = re.match(r"^(?:local)?rule (\w+):$", line.strip())
        if head:
            rule = head.group(1)
        field = re.match(r"^\s+output: (.*)$", line)
        if rule and field:
            outputs.setdefault(rule, []).extend(f.strip() for f in field.group(1).split(","))
    return workdir, proc, outputs


def _pairs(paths: list[str], name: str) -> set[tuple[str, str]]:
    """(comparison, cohort) of results/<comparison>/<stage>[/loco]/<cohort>/<name> paths."""
    found = (re.match(rf"^results/([^/]+)/[a-z/]+/([^/]+)/{re.escape(name)}$", p) for p in paths)
    return {(m.group(1), m.group(2)) for m in found if m}


def test_four_comparisons_in_the_dag(dry_run):
    _, _, outputs = dry_run
    # DE per (comparison, serving cohort): all three cohorts serve the pooled comparison,
    # GSE27011 alone the three level-wise ones
    expected = {("asthma_vs_control", c) for c in ALL} | {(c, "GSE27011") for c in COMPARISONS[1:]}
    assert _pairs(outputs["de"], "de.tsv") == expected
    for rule, path in [("meta", "meta/meta.tsv"), ("candidates", "candidates/candidates.tsv"),
                       ("signature", "signature/signature.tsv"),
                       ("skipped_cohorts", "skipped_cohorts.tsv")]:  # fmt: skip
        assert {f"results/{c}/{path}" for c in COMPARISONS} <= set(outputs[rule]), rule
    # per-cohort stages once, whatever the number of comparisons
    # QC (samples_qc, summary, pca) in the genes job of each cohort
    assert sum(p.startswith("results/qc/") for p in outputs["genes"]) == 3 * len(ALL)
    # external validation and LOCO only where a validation cohort / two discovery cohorts serve
    assert [p for p in outputs["performance"] if p.endswith("clinical.tsv")] == [
        "results/asthma_vs_control/performance/clinical.tsv"
    ]
    loco = _pairs(outputs["validation_loco"], "score.tsv")
    assert loco == {("asthma_vs_control", "GSE85567"), ("asthma_vs_control", "GSE27011")}
    # the test across levels: once per cohort with >= 3 levels, outside every comparison
    assert outputs["de_ftest"] == ["results/de_ftest/GSE27011/ftest.tsv"]
    # the level-wise comparisons' models are fitted on GSE27011's three levels (designmodel);
    # the enrichment of a one-cohort comparison is that cohort's
    assert "results/severe_vs_mild/enrichment/GSE27011/GO_BP_ora.tsv" in outputs["enrichment"]


def test_skipped_cohorts_are_logged_with_the_reason(dry_run):
    workdir, proc, _ = dry_run
    assert SKIP in proc.stderr
    skipped = [line for line in proc.stderr.splitlines() if " skipped (" in line]
    assert len(skipped) == 6  # GSE85567 and GSE22528 in each of the three level-wise comparisons
    assert not any("asthma_vs_control" in line for line in skipped)
    target = "results/severe_vs_healthy/skipped_cohorts.tsv"
    result = run_snakemake(workdir, "--cores", "1", target, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(workdir / target, sep="\t")
    assert table["cohort"].tolist() == ["GSE85567", "GSE22528"]
    assert table["role"].tolist() == ["discovery", "validation"]
    assert table["reason"].iloc[0] == SKIP.split("skipped (", 1)[1].rstrip(")")
    log = (workdir / "results/logs/severe_vs_healthy/skipped_cohorts.log").read_text()
    assert "cohort GSE85567 skipped: no sample of the case severe" in log


def test_comparison_of_an_unmapped_level_stops_before_any_job(tmp_path):
    workdir = make_workdir(tmp_path / "wd")
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["comparisons"].append({"name": "moderate_vs_healthy", "case": "moderate",
                                  "control": "healthy"})  # fmt: skip
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, "-n", "--cores", "1", timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "markerflow: the study's comparisons are invalid." in output, output[-3000:]
    assert "config comparisons[4].case (moderate_vs_healthy): level(s) moderate are mapped by no " \
        "cohort" in output, output[-3000:]  # fmt: skip
    assert "rule " not in output
