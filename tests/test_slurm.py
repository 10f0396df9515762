"""SLURM: the profile's resource requests, and a real single-node SLURM cluster.

- test_dry_run_lists_resources_for_every_job (fast): `snakemake -n --profile profiles/slurm` on a
  small generated study (3 cohorts x 30 samples x 2,000 probes) shows a numeric mem_mb and
  runtime for every job, also those whose inputs do not exist yet (workflow/rules/sizing.smk);
  benchmarks/scale/slurm_dryrun.py does the same at 100 cohorts.
- test_slurm_run_matches_local_run (slow): runs tests/slurm/run_slurm_test.sh (root on Debian:
  installs/starts SLURM, runs a generated 5-cohort study with `snakemake --profile
  profiles/slurm`, checks the sbatch jobs, compares sha256 of every TSV/Parquet with a local
  `--cores 2` run). Elsewhere the script prints "SKIPPED: <reason>" and this test skips.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR / "benchmarks" / "scale"))

from generate import generate_study  # noqa: E402
from slurm_dryrun import dry_run as slurm_dry_run  # noqa: E402
from slurm_dryrun import parse_dryrun, report, resource_table  # noqa: E402

SCRIPT = PROJECT_DIR / "tests" / "slurm" / "run_slurm_test.sh"
#: Hard limit for the whole script (install, cluster, SLURM run, local run, comparison).
TOTAL_TIMEOUT = 1200


#: rules every job of which must show its requests (the study-level chain and LOCO included)
DRY_RUN_RULES = {
    "ingest", "genes", "de", "merge", "meta", "enrichment", "candidates", "signature",
    "signature_validate", "guards", "performance", "validation_loco", "validation_out_of_cohort",
    "tables_workbook", "provenance_manifest",
}  # fmt: skip


@pytest.mark.timeout(120)
def test_dry_run_lists_resources_for_every_job(tmp_path: Path) -> None:
    study = generate_study(
        tmp_path / "study", n_arrays=3, n_validation=1, samples=30, n_probes=2000,
        n_markers=10, seed=3,
    )  # fmt: skip
    output, _wall, status = slurm_dry_run(study)
    assert status == 0, output[-3000:]
    jobs = parse_dryrun(output)
    table = resource_table(jobs)
    assert DRY_RUN_RULES <= {row["rule"] for row in table}
    lines, ok = report(table)
    assert ok, "\n".join(lines)
    for job in jobs:
        if job.rule in ("all", "enrichment_all"):
            continue
        assert "<TBD>" not in job.resources.get("mem_mb", "<TBD>"), job
        assert "<TBD>" not in job.resources.get("runtime", "<TBD>"), job
        assert "<TBD>" not in job.resources.get("disk_mb", "<TBD>"), job
    # sized by the data: a discovery cohort's 2,000 x 30 source matrix is ~0.5 float64 MB; the
    # study-level requests add the cohorts' sizes to the rules' bases
    ingest = next(row for row in table if row["rule"] == "ingest")
    assert 500 <= ingest["mem_min"] <= 1000
    # the merge's path runs first, so the merge overlaps enrichment (MERGE_PATH_PRIORITY)
    priorities = {job.rule: job.priority for job in jobs}
    assert {r: priorities[r] for r in ("ingest", "genes", "de", "merge")} == dict.fromkeys(
        ("ingest", "genes", "de", "merge"), 1
    )
    assert priorities["enrichment"] == 0 and priorities["meta"] == 0


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.workflow
def test_slurm_run_matches_local_run():
    env = dict(os.environ, SNAKEMAKE=str(Path(sys.executable).with_name("snakemake")))
    # The script bounds itself (SLURM_TEST_TOTAL, default 1140 s); this is the backstop. SIGTERM
    # first so that its EXIT trap stops the daemons it started.
    proc = subprocess.Popen(
        ["bash", str(SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PROJECT_DIR,
    )
    try:
        stdout, stderr = proc.communicate(timeout=TOTAL_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            stdout, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
        pytest.fail(f"SLURM test exceeded {TOTAL_TIMEOUT} s; last output:\n{stdout[-3000:]}")
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED: ")]
    if result.returncode == 0 and skipped:
        pytest.skip(skipped[0].removeprefix("SKIPPED: "))
    assert result.returncode == 0, (result.stdout[-6000:], result.stderr[-4000:])
    assert "PASSED:" in result.stdout, result.stdout[-3000:]
    print(result.stdout)
