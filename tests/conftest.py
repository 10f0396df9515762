"""Shared pytest fixtures: where the project and the reference data live."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
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


# ---------------------------------------------------------------- pytest-xdist work units
# `make test` / `make test-slow` run two workers with `--dist loadscope`: a unit of work is a module,
# except that every test using one of the shared example runs joins that run's unit, so one worker
# runs the study and its tests while the other goes on instead of waiting on the lock in
# `_built_once`. The worker knows a test's fixtures, the scheduler (in the controller) only its node
# id: each worker writes {node id: unit} to a directory the controller hands it. (xdist's own
# `--dist loadgroup` marks do not reach the scheduler with pytest 9.2: pytest-xdist issue #1386.)

#: session fixtures that run a whole study
SHARED_RUNS = ("full_example_run", "example_run")
_UNITS_DIR = pytest.StashKey[Path]()


def _module_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


def pytest_configure(config: pytest.Config) -> None:
    controller = not hasattr(config, "workerinput")
    if controller and getattr(config.option, "dist", "no") == "loadscope":
        config.stash[_UNITS_DIR] = Path(tempfile.mkdtemp(prefix="markerflow-xdist-units-"))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _UNITS_DIR in config.stash:
        shutil.rmtree(config.stash[_UNITS_DIR], ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """Controller side: tell each worker where to write its units."""
    if _UNITS_DIR in node.config.stash:
        node.workerinput["markerflow_units_dir"] = str(node.config.stash[_UNITS_DIR])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Worker side: the unit of every collected test (before it reports its collection)."""
    units_dir = getattr(config, "workerinput", {}).get("markerflow_units_dir")
    if units_dir is None:
        return
    units = {}
    for item in items:
        names = getattr(item, "fixturenames", ())
        units[item.nodeid] = next((run for run in SHARED_RUNS if run in names), None)
    path = Path(units_dir) / f"{config.workerinput['workerid']}.json"
    path.with_suffix(".tmp").write_text(json.dumps(units))
    path.with_suffix(".tmp").replace(path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Controller side: loadscope (a module per unit, the units with most tests first) with the
    shared runs' units read from what the workers wrote."""
    if _UNITS_DIR not in config.stash:
        return None
    from xdist.scheduler import LoadScopeScheduling

    units_dir = config.stash[_UNITS_DIR]

    class SharedRunScheduling(LoadScopeScheduling):
        units: dict[str, str | None] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.units is None:  # first call: every worker has reported its collection
                self.units = {}
                for path in sorted(units_dir.glob("*.json")):
                    self.units.update(json.loads(path.read_text()))
            return self.units.get(nodeid) or _module_of(nodeid)

    return SharedRunScheduling(config, log)


def _built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A directory that ``build`` fills, once per test run.

    Under pytest-xdist (``make test`` runs two workers) every worker is a session of its own, so a
    session fixture would run the example once per worker; here the first worker to ask builds it
    in the run's shared base directory, under an exclusive lock, and the others wait and reuse it.
    A build that fails leaves no marker: the next worker builds again and fails with its own error.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        path = tmp_path_factory.mktemp(name)
        build(path)
        return path
    path = tmp_path_factory.getbasetemp().parent / name  # pytest-N/, shared by the workers
    built = path.with_name(f"{name}.built")
    with open(path.with_name(f"{name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also on an error
        if not built.exists():
            shutil.rmtree(path, ignore_errors=True)  # what a failed build left
            path.mkdir()
            build(path)
            built.touch()
    return path


def _run_example(workdir: Path) -> None:
    from workflow_utils import run_snakemake

    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-5000:]


@pytest.fixture(scope="session")
def example_run(tmp_path_factory) -> Path:
    """The example study as ``example_workdir`` sets it up (its one `asthma_vs_control`
    comparison, GSEA by permutations), run once per test run and shared by the workflow tests:
    its results/. The slow suite also runs the example as shipped (``full_example_run``)."""
    from workflow_utils import example_workdir

    def build(path: Path) -> None:
        _run_example(example_workdir(path))

    return _built_once(tmp_path_factory, "example", build) / "results"


@pytest.fixture(scope="session")
def full_example_run(tmp_path_factory) -> Path:
    """The example study exactly as shipped (its four comparisons), for the slow tests."""
    from workflow_utils import make_workdir

    def build(path: Path) -> None:
        _run_example(make_workdir(path))

    return _built_once(tmp_path_factory, "full_example", build) / "results"


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
