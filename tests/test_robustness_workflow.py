"""End to end through Snakemake: bad input fails cleanly, runs are deterministic, and a killed run
resumes to the same bytes.

- Bad input (fast): the message names the file/key/sample, the exit status is non-zero and no
  output of the failed job remains (Snakemake deletes them; scripts write atomically).
- Determinism across runs, hash seeds and core counts: the frozen rerun of the example as shipped
  (``tests/test_provenance.py``, slow).
- Interrupt safety (slow): SIGKILL of snakemake's whole process group after a seeded number of
  finished jobs (+ a seeded delay), ``--unlock``, rerun with ``--rerun-incomplete``: the outputs
  equal an uninterrupted run's, and no temporary file is left behind.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from workflow_utils import (
    PROJECT_DIR,
    example_workdir,
    make_workdir,
    run_snakemake,
    snakemake_command,
)

pytestmark = pytest.mark.workflow

GSE22528 = PROJECT_DIR / "resources" / "example" / "GSE22528"


def edit_sheet(workdir: Path, which: str, **cells: str) -> None:
    path = workdir / "config" / "cohorts.tsv"
    sheet = pd.read_csv(path, sep="\t", dtype=str)
    for column, value in cells.items():
        sheet.loc[sheet["cohort"] == which, column] = value
    sheet.to_csv(path, sep="\t", index=False)


def files_under(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- bad input, parse


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda wd: _config(wd, "seed: 20261123", "seed: twenty"),
            r"'twenty' is not of type 'integer'[\s\S]*\['seed'\]",
        ),
        (
            lambda wd: edit_sheet(wd, "GSE22528", cohort="../GSE22528"),
            r"cohorts.tsv: line 4: cohort ID '../GSE22528' is not allowed",
        ),
        (
            lambda wd: edit_sheet(wd, "GSE22528", samples="../../etc/passwd"),
            r"cohort GSE22528: `samples` file '../../etc/passwd' does not exist",
        ),
        (
            lambda wd: _config(wd, "results: results", "results: /tmp/markerflow-results"),
            r"config `results`: path '/tmp/markerflow-results' points outside",
        ),
    ],
    ids=["config-wrong-type", "cohort-id-traversal", "sheet-path-outside", "results-outside"],
)
def test_study_errors_stop_before_any_job(tmp_path, edit, expected):
    workdir = make_workdir(tmp_path / "wd")
    edit(workdir)
    result = run_snakemake(workdir, "--cores", "1", timeout=300)
    assert result.returncode != 0
    assert re.search(expected, result.stderr), result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not (workdir / "results").exists()


def _config(workdir: Path, old: str, new: str) -> None:
    path = workdir / "config" / "config.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


# --------------------------------------------------------------------------- bad input, at run


def _bad_matrix(workdir: Path, edit) -> str:
    matrix = pd.read_csv(GSE22528 / "GSE22528_subset_1000genes.tsv", sep="\t", dtype=str)
    matrix = edit(matrix)
    (workdir / "data").mkdir()
    matrix.to_csv(workdir / "data" / "matrix.tsv", sep="\t", index=False)
    edit_sheet(workdir, "GSE22528", matrix="data/matrix.tsv")
    return "data/matrix.tsv"


def _set_cell(matrix, row, column, value):
    matrix.loc[row, column] = value
    return matrix


def test_infinite_value_fails_ingest_without_outputs(tmp_path):
    workdir = make_workdir(tmp_path / "wd")
    _bad_matrix(workdir, lambda m: _set_cell(m, 2, "norm3", "Inf"))
    result = run_snakemake(
        workdir, "--cores", "1", "results/ingest/GSE22528/samples.tsv", timeout=600
    )
    assert result.returncode != 0
    message = "data/matrix.tsv: infinite value in row 'HSPA6', sample 'norm3'"
    assert message in result.stderr, result.stderr[-3000:]
    assert message in (workdir / "results/logs/ingest/GSE22528.log").read_text()
    assert "Traceback" not in result.stderr
    assert files_under(workdir / "results" / "ingest") == []


def test_one_sample_group_fails_ingest_without_outputs(tmp_path):
    workdir = make_workdir(tmp_path / "wd")
    sheet = pd.read_csv(GSE22528 / "GSE22528_samples.tsv", sep="\t", dtype=str)
    sheet.loc[sheet["sample"].isin(["norm2", "norm3", "norm4", "norm5"]), "group"] = "smoker"
    (workdir / "data").mkdir()
    sheet.to_csv(workdir / "data" / "samples.tsv", sep="\t", index=False)
    edit_sheet(workdir, "GSE22528", samples="data/samples.tsv")
    result = run_snakemake(
        workdir, "--cores", "1", "results/ingest/GSE22528/samples.tsv", timeout=600
    )
    assert result.returncode != 0
    assert "cohort GSE22528: 1 'control' sample(s) left" in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert files_under(workdir / "results" / "ingest") == []


@pytest.mark.slow
def test_analysis_error_in_de_removes_all_its_outputs(tmp_path):
    """A constant matrix passes ingest, QC and gene mapping; DE fails and leaves none of its four
    outputs (table, matrix, plot, summary), while the upstream outputs stay complete."""
    workdir = make_workdir(tmp_path / "wd")
    _bad_matrix(workdir, lambda m: m.assign(**{c: "5.0" for c in m.columns[1:]}))
    result = run_snakemake(
        workdir, "--cores", "1", "results/asthma_vs_control/de/GSE22528/de.tsv", timeout=600
    )
    assert result.returncode != 0
    assert "cohort GSE22528: every gene has the same value in all samples" in result.stderr
    assert "Traceback" not in result.stderr
    assert (
        not (workdir / "results/asthma_vs_control/de/GSE22528").exists()
        or files_under(workdir / "results/asthma_vs_control/de/GSE22528") == []
    )
    assert "expression.parquet" in files_under(workdir / "results/genes/GSE22528")
    assert not list((workdir / "results").rglob("*.tmp"))


# ----------------------------------------------------------------- determinism and interrupts


def result_hashes(workdir: Path) -> dict[str, str]:
    """sha256 of every TSV and Parquet under results/ (logs and figures excluded)."""
    results = workdir / "results"
    hashes = {}
    for path in sorted(results.rglob("*")):
        if path.suffix in (".tsv", ".parquet") and "logs" not in path.relative_to(results).parts:
            hashes[str(path.relative_to(results))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


@pytest.fixture(scope="module")
def reference(example_run) -> dict[str, str]:
    """The shared example run (``--cores 2``, tests/conftest.py): the interrupted runs below set
    up their study as it does (``example_workdir``)."""
    hashes = result_hashes(example_run.parent)
    assert len(hashes) > 20
    return hashes


def diff(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def _finished_jobs(stderr_path: Path) -> tuple[int, int]:
    found = re.findall(r"(\d+) of (\d+) steps", stderr_path.read_text(errors="replace"))
    return (int(found[-1][0]), int(found[-1][1])) if found else (0, 0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_killed_run_resumes_to_identical_outputs(reference, tmp_path, seed):
    rng = random.Random(seed)
    workdir = example_workdir(tmp_path / "wd")
    n_total = _dry_run_jobs(workdir)
    kill_after = rng.randint(1, max(1, n_total - 3))
    delay = rng.uniform(0.0, 2.0)
    stderr_path = tmp_path / "interrupted.stderr"
    cmd = snakemake_command(workdir, "--cores", "2")
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=dict(os.environ, PYTHONHASHSEED="0"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 3600
        while proc.poll() is None and _finished_jobs(stderr_path)[0] < kill_after:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # wait up to `delay` more, but kill while at least three jobs remain: the last jobs
        # (manifest, summary, all) take well under a second, and a kill after them tests nothing
        until = time.monotonic() + delay
        while time.monotonic() < until and _finished_jobs(stderr_path)[0] < n_total - 3:
            time.sleep(0.05)
        killed = proc.poll() is None
        if killed:
            os.killpg(proc.pid, signal.SIGKILL)  # snakemake and every job it started
        proc.wait()
    assert killed, f"the run finished before the kill after {kill_after} jobs (seed {seed})"
    done_before = _finished_jobs(stderr_path)[0]
    assert done_before < n_total
    unlock = run_snakemake(workdir, "--unlock", timeout=300)
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    rerun = run_snakemake(workdir, "--cores", "2", "--rerun-incomplete", timeout=3600)
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    assert diff(reference, result_hashes(workdir)) == [], (seed, kill_after, delay, done_before)
    assert not list((workdir / "results").rglob("*.tmp"))


def _dry_run_jobs(workdir: Path) -> int:
    result = run_snakemake(workdir, "-n", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"^total\s+(\d+)", result.stdout + result.stderr, flags=re.M)
    assert match, (result.stdout + result.stderr)[-3000:]
    return int(match.group(1))
