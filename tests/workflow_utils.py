"""Run the workflow in a scratch directory that links the project's config and resources."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def make_workdir(tmp: Path, copy_config: bool = True) -> Path:
    """A directory where `snakemake --directory` finds config/ (copied) and resources/ (linked)."""
    tmp.mkdir(parents=True, exist_ok=True)
    if copy_config:
        shutil.copytree(PROJECT_DIR / "config", tmp / "config", dirs_exist_ok=True)
    (tmp / "resources").symlink_to(PROJECT_DIR / "resources")
    return tmp


def example_workdir(path: Path) -> Path:
    """The example study at ``path`` as the workflow tests run it (``example_run``, and the
    determinism and interrupt runs that compare with it): its one `asthma_vs_control` comparison
    (every cohort serves it; the three level-wise ones add GSE27011-only chains that double the
    jobs) and GSEA by permutations only (columns as multilevel's; multilevel GO BP costs ~25 s CPU
    per analysis, the engine has its own tests and the slow suite runs the example as shipped)."""
    workdir = make_workdir(path)
    keep_comparisons(workdir, "asthma_vs_control")
    config_path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["enrichment"]["gsea"]["method"] = "simple"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return workdir


def single_comparison(workdir: Path) -> None:
    """Drop the example's `comparisons:` from ``workdir``'s config: the study then has its one
    `<case_label>_vs_<control_label>` comparison (for tests that change the example's cohorts so
    that GSE27011's healthy/mild/severe levels are gone)."""
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config.pop("comparisons", None)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def keep_comparisons(workdir: Path, *names: str) -> None:
    """Keep only the named entries of ``workdir``'s `comparisons:` (with their pools)."""
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["comparisons"] = [c for c in config["comparisons"] if c["name"] in names]
    assert [c["name"] for c in config["comparisons"]] == list(names), names
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def snakemake_command(
    workdir: Path, *args: str, configfile: str = "config/config.yaml"
) -> list[str]:
    """The project's Snakefile run in ``workdir`` with that directory's ``configfile``."""
    return [
        SNAKEMAKE,
        "-s",
        str(PROJECT_DIR / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / configfile),
        *args,
    ]


def run_snakemake(
    workdir: Path,
    *args: str,
    timeout: int = 1800,
    env: dict[str, str] | None = None,
    configfile: str = "config/config.yaml",
) -> subprocess.CompletedProcess:
    cmd = snakemake_command(workdir, *args, configfile=configfile)
    # This checkout's library first, also where Snakemake itself imports it (unpickling a job's
    # settings) before a script's _markerflow_path runs: a venv shared by several checkouts
    # (worktrees) would otherwise give the jobs another checkout's code.
    pythonpath = os.pathsep.join(
        filter(None, [str(PROJECT_DIR / "src"), os.environ.get("PYTHONPATH")])
    )
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": pythonpath, **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
