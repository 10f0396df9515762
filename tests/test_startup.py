"""Start-up cost of a workflow job (issue 20): what importing a stage module loads.

Every job's script imports its stage module first; a heavy library imported at module level is
paid by every job whether it uses it or not. Checked in a fresh interpreter (``sys.modules``);
``python benchmarks/startup/run.py`` prints the CPU time per script.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
STAGES = sorted(
    p.stem for p in (SRC / "markerflow" / "stages").glob("*.py") if p.stem != "__init__"
)
#: stages whose module import must not load scipy.stats (~0.5 s): their jobs compute with numpy,
#: scipy.special/linalg (limma's t tails and BH adjustment are ported, rcompat) or load it lazily
NO_SCIPY_STATS = (
    "candidates",
    "cohorts",
    "de",
    "enrichment",
    "genes",
    "guards",
    "ingest",
    "merge",
    "meta",
    "performance",
    "provenance",
    "qc",
    "signature",
    "tximport",
)
HEAVY = ("matplotlib", "scipy.stats", "sklearn", "numba", "openpyxl", "importlib.metadata")


def _loaded(modules: list[str]) -> list[str]:
    code = (
        f"import sys, json\nsys.path.insert(0, {str(SRC)!r})\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_no_stage_module_imports_matplotlib_or_ml_libraries() -> None:
    """Stages never draw (scripts call plots/ after the stage): importing every stage module loads
    no matplotlib, scikit-learn, numba or openpyxl (those are imported inside the functions)."""
    loaded = _loaded([f"markerflow.stages.{s}" for s in STAGES])
    assert not {"matplotlib", "sklearn", "numba", "openpyxl"} & set(loaded), loaded


def test_statistics_light_stages_do_not_import_scipy_stats() -> None:
    loaded = _loaded(["markerflow", *(f"markerflow.stages.{s}" for s in NO_SCIPY_STATS)])
    assert "scipy.stats" not in loaded, loaded


def test_package_root_is_cheap() -> None:
    """``import markerflow`` reads no distribution metadata (``__version__`` is looked up lazily)."""
    assert _loaded(["markerflow", "markerflow.runner", "markerflow.errors"]) == []


def test_every_script_job_logs_its_start_up_cost(example_run):
    """The first line of each job's log is its start-up CPU (markerflow.runner.STARTUP_MESSAGE),
    which benchmarks/scale/run.py sums; a job that lost the line would vanish from that sum."""
    import re

    line = re.compile(r"start-up: ([0-9.]+) s CPU before the job's own work \(rule (\w+)\)")
    logs = [p for p in (example_run / "logs").rglob("*.log") if "benchmarks" not in p.parts]
    found = {}
    for path in logs:
        first = path.read_text(errors="replace").splitlines()[:1]
        match = line.search(first[0]) if first else None
        if match:
            found[path] = (float(match[1]), match[2])
    rules = {rule for _, rule in found.values()}
    assert {"ingest", "genes", "de", "merge", "meta", "enrichment", "candidates"} <= rules
    assert len(found) >= 0.9 * len(logs), sorted(set(map(str, logs)) - set(map(str, found)))
    # a job's start-up is interpreter + imports + Snakemake's preamble: well under its whole run
    assert all(0 < cpu < 30 for cpu, _ in found.values())
    # and its last line is its whole CPU (markerflow.runner.JOB_CPU_MESSAGE), at least the start-up
    end = re.compile(r"job CPU: ([0-9.]+) s, start-up included \(rule (\w+)\)")
    for path, (startup, rule) in found.items():
        last = end.search(path.read_text(errors="replace").splitlines()[-1])
        assert last and last[2] == rule and float(last[1]) >= startup, path


def _script_loads(script: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` the top-level imports of ``workflow/scripts/<script>.py`` load, in a
    fresh interpreter (the imports as benchmarks/startup/run.py runs them: src first)."""
    import importlib.util

    bench = SRC.parent / "benchmarks" / "startup" / "run.py"
    spec = importlib.util.spec_from_file_location("startup_bench", bench)
    assert spec is not None and spec.loader is not None
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    path = SRC.parent / "workflow" / "scripts" / f"{script}.py"
    code = (
        f"import sys, json\nsys.path.insert(0, {str(SRC)!r})\n"
        f"sys.path.insert(1, {str(path.parent)!r})\n" + run.script_imports(path) + "\n"
        f"print(json.dumps([m for m in {list(modules)!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


#: The jobs that run once per cohort or per comparison, and what their imports must not load
#: (issue 20; they import pandas/pyarrow, and numpy, matplotlib.figure, scipy.special/linalg where
#: they compute or draw with them). scipy.stats / scipy.optimize come with engines.deseq2 (an array
#: cohort's DE job never fits DESeq2), pyplot with a pyplot figure (figures use
#: plots.figure.subplots), importlib.metadata with ``from markerflow import __version__``.
SCRIPT_MUST_NOT_LOAD = {
    "ingest_cohort": ("matplotlib", "scipy", "importlib.metadata"),
    "genes_map": ("scipy", "matplotlib.pyplot", "importlib.metadata"),
    "de_cohort": ("scipy.stats", "scipy.optimize", "scipy.sparse", "matplotlib.pyplot"),
    "merge_combat": ("scipy.stats", "matplotlib.pyplot"),
    "meta_run": ("scipy.stats", "matplotlib.pyplot"),
    "guards_check": ("matplotlib", "scipy.stats"),
}


def test_per_cohort_scripts_import_only_what_they_use() -> None:
    for script, forbidden in SCRIPT_MUST_NOT_LOAD.items():
        heavy = ("sklearn", "numba", "openpyxl", *forbidden)
        assert _script_loads(script, heavy) == [], script


def test_enrichment_figures_are_drawn_without_pyplot(tmp_path) -> None:
    """The enrichment job's figures (ORA dot plot) are drawn and saved without loading pyplot
    (plots.figure.subplots): its import costs every enrichment job."""
    code = (
        "import sys, pandas as pd\n"
        f"sys.path.insert(0, {str(SRC)!r})\n"
        "from markerflow.plots.enrichment import ora_dotplot\n"
        "from markerflow.plots.figure import save_figure\n"
        "ora = pd.DataFrame({'term_name': ['a', 'b'], 'direction': ['up', 'down'], "
        "'overlap': [8, 3], 'fold_enrichment': [5.0, 2.0], 'pvalue': [1e-6, 1e-4], "
        "'padj': [1e-4, 1e-3]})\n"
        f"save_figure(ora_dotplot(ora, 'lib - C'), {str(tmp_path / 'ora.png')!r})\n"
        "print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert (tmp_path / "ora.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
