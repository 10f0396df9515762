"""Validation cohorts stay locked (issue 15): read from the workflow's DAG, no file of a validation
cohort is an ancestor of the candidates, the signature build/freeze or any leave-one-cohort-out
output. A dry run (`snakemake -n -F`) lists every job with its input and output files; the test
walks the file graph backwards from each protected output."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from workflow_utils import PROJECT_DIR, make_workdir, run_snakemake


def dry_run_jobs(workdir) -> list[dict[str, list[str]]]:
    proc = run_snakemake(workdir, "-n", "-F", "--cores", "1", timeout=300)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    jobs, job = [], None
    for line in (proc.stdout + proc.stderr).splitlines():
        head = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line.strip())
        if head:
            job = {"rule": head.group(1), "input": [], "output": []}
            jobs.append(job)
            continue
        field = re.match(r"^\s+(input|output): (.*)$", line)
        if job is not None and field:
            job[field.group(1)] = [f.strip() for f in field.group(2).split(",") if f.strip()]
    return jobs


def ancestors(jobs, targets: list[str]) -> set[str]:
    producer = {out: job for job in jobs for out in job["output"]}
    seen: set[str] = set()
    stack = list(targets)
    while stack:
        path = stack.pop()
        job = producer.get(path)
        if job is None:
            continue
        for inp in job["input"]:
            if inp not in seen:
                seen.add(inp)
                stack.append(inp)
    return seen


@pytest.fixture(scope="module")
def example_jobs(tmp_path_factory):
    return dry_run_jobs(make_workdir(tmp_path_factory.mktemp("dag")))


def test_validation_cohorts_never_reach_selection(example_jobs):
    sheet = pd.read_csv(PROJECT_DIR / "config" / "cohorts.tsv", sep="\t", dtype=str)
    validation = sheet.loc[sheet["role"] == "validation"]
    locked = set(validation["cohort"])
    locked_files = {f for col in ("matrix", "samples") for f in validation[col].dropna()}
    assert locked, "the example needs a validation cohort for this test"
    outputs = [o for job in example_jobs for o in job["output"]]
    # every comparison's selection side (results/<comparison>/...)
    selection = re.compile(
        r"^results/[^/]+/(candidates/|validation/|signature/signature\.(tsv|frozen\.json)$)"
    )
    protected = [o for o in outputs if selection.match(o)]
    avc = "results/asthma_vs_control"
    assert any("/loco/" in o for o in protected) and f"{avc}/candidates/candidates.tsv" in protected
    for target in protected:
        up = ancestors(example_jobs, [target])
        leaked = sorted(f for f in up if f in locked_files or any(f"/{c}/" in f for c in locked))
        assert not leaked, f"{target} depends on validation-cohort file(s) {leaked}"
    # the walk does find validation files where they belong (the validate step reads them)
    perf = ancestors(example_jobs, [f"{avc}/signature/performance.tsv"])
    assert any(f"/{c}/" in f for f in perf for c in locked)
    assert f"{avc}/signature/signature.frozen.json" in perf
    rules = {job["rule"] for job in example_jobs}
    assert {"validation_loco", "validation_out_of_cohort", "signature_validate"} <= rules
