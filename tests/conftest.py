"""Shared pytest fixtures: where the project and the reference data live."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
#: ../shared beside the clone (CI layout); MARKERFLOW_SHARED overrides.
SHARED_DIR = Path(os.environ.get("MARKERFLOW_SHARED", PROJECT_DIR.parent / "shared"))


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return PROJECT_DIR


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        message = (
            f"reference data not found at {SHARED_DIR}: put the shared/ folder beside the clone "
            "or set MARKERFLOW_SHARED"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {message}", pytrace=False)  # CI must not pass by skipping
        pytest.skip(message)
    return SHARED_DIR


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "reference"


@pytest.fixture(scope="session")
def example_run(tmp_path_factory) -> Path:
    """The example study with its one `asthma_vs_control` comparison (every cohort serves it), run
    once per test session and shared by the fast workflow tests: its results/. The example's
    three level-wise comparisons add GSE27011-only chains that double the jobs; the slow suite
    runs the example as shipped (``full_example_run``)."""
    from workflow_utils import keep_comparisons, make_workdir, run_snakemake

    workdir = make_workdir(tmp_path_factory.mktemp("example"))
    keep_comparisons(workdir, "asthma_vs_control")
    # GSEA by permutations only (columns as multilevel's): multilevel GO BP costs ~25 s CPU per
    # analysis; the engine has its own tests and the slow suite runs the example as shipped.
    config_path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["enrichment"]["gsea"]["method"] = "simple"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir / "results"


@pytest.fixture(scope="session")
def full_example_run(tmp_path_factory) -> Path:
    """The example study exactly as shipped (its four comparisons), for the slow tests."""
    from workflow_utils import make_workdir, run_snakemake

    workdir = make_workdir(tmp_path_factory.mktemp("full_example"))
    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir / "results"


# GEO files served by the local GEO stand-in (tests/test_fetch.py, tests/test_geo_workflow.py)
@pytest.fixture(scope="session")
def matrix_bytes(shared_dir: Path) -> bytes:
    return (
        shared_dir / "data/geo/GSE27011/GSE27011_series_matrix.RECONSTRUCTED.txt.gz"
    ).read_bytes()


@pytest.fixture(scope="session")
def annot_bytes(shared_dir: Path) -> bytes:
    """GPL6244 probe->symbol table in GEO's .annot layout (header block, platform_table)."""
    table = pd.read_csv(
        shared_dir / "data/geo/platform_annotations/GPL6244_soft.tsv.gz",
        sep="\t",
        dtype=str,
        keep_default_na=False,
    )
    lines = [
        "^Annotation",
        "!Annotation_date = Jun 10 2023",
        "!Annotation_platform = GPL6244",
        "!Annotation_platform_title = [HuGene-1_0-st] Affymetrix Human Gene 1.0 ST Array "
        "[transcript (gene) version]",
        "!Annotation_platform_organism = Homo sapiens",
        "#ID = Platform reference identifier",
        "#Gene title = Entrez Gene name",
        "#Gene symbol = Entrez Gene symbol",
        "#Gene ID = Entrez Gene identifier",
        "!platform_table_begin",
        "ID\tGene title\tGene symbol\tGene ID",
    ]
    lines += [f"{p}\t\t{s}\t" for p, s in zip(table["probe_id"], table["symbol"], strict=True)]
    lines.append("!platform_table_end")
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
