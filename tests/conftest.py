"""Shared pytest fixtures: where the project and the reference data live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
#: ../shared beside the clone (CI layout); MARKERFLOW_SHARED overrides.
SHARED_DIR = Path(os.environ.get("MARKERFLOW_SHARED", PROJECT_DIR.parent / "shared"))


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return PROJECT_DIR


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DIR} (set MARKERFLOW_SHARED)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "reference"


@pytest.fixture(scope="session")
def example_run(tmp_path_factory) -> Path:
    """The example study run once per test session (shared by the workflow tests): its results/."""
    from workflow_utils import make_workdir, run_snakemake

    workdir = make_workdir(tmp_path_factory.mktemp("example"))
    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir / "results"
