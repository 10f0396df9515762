"""Start-up cost of every workflow job: the imports of each ``workflow/scripts/*.py`` adapter.

Every Snakemake job runs one adapter script; before its first line of work the interpreter starts
and the script's top-level imports run (markerflow modules and, through them, numpy, pandas,
scipy, matplotlib, ...). This benchmark measures that fixed cost per script: each script's
top-level ``import``/``from ... import`` statements (read with ``ast``; ``_markerflow_path`` is
replaced by putting the checkout's ``src`` first on ``sys.path``) run in a fresh interpreter,
``--repeat`` times, and the smallest user+system CPU time and wall time are kept (the least
disturbed run on a shared machine). A bare ``python -c pass`` runs in the same loop, so the ratio
column is comparable between runs made under different load. The heavy-module columns say which of
matplotlib, scipy.stats, pandas, numba, openpyxl, sklearn the imports loaded (``python -X
importtime`` on one script's imports shows where the time goes).

Snakemake's own script preamble (unpickling the ``snakemake`` object, ~0.1 s) is not included.

    python benchmarks/startup/run.py [--root CHECKOUT] [--repeat 3] [--scripts de_cohort qc_cohort]
"""

from __future__ import annotations

import argparse
import ast
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
HEAVY = ("matplotlib", "scipy.stats", "pandas", "numba", "openpyxl", "sklearn")


def script_imports(path: Path) -> str:
    """The top-level import statements of one adapter script, as source lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.Import) and node.names[0].name == "_markerflow_path":
                continue
            lines.append(ast.unparse(node))
    return "\n".join(lines)


def run_once(code: str) -> tuple[float, float, str]:
    """CPU seconds (user+system of the child), wall seconds and the child's stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, out


def measure(code: str, repeat: int) -> tuple[float, float, str]:
    runs = [run_once(code) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=PROJECT_DIR, help="checkout to measure")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scripts", nargs="*", help="script names (default: every script)")
    args = parser.parse_args()
    root = args.root.resolve()
    scripts = sorted((root / "workflow" / "scripts").glob("*.py"))
    scripts = [s for s in scripts if not s.name.startswith("_")]
    if args.scripts:
        scripts = [s for s in scripts if s.stem in set(args.scripts)]
    probe = (
        "import sys\nprint(','.join(m for m in " + repr(HEAVY) + " if m in sys.modules) or '-')\n"
    )
    bare_cpu, bare_wall, _ = measure("pass", args.repeat)
    print(f"checkout {root}; min of {args.repeat} runs; bare `python -c pass`: "
          f"{bare_cpu:.3f} s CPU, {bare_wall:.3f} s wall")  # fmt: skip
    print(f"{'script':<28} {'CPU s':>7} {'wall s':>7} {'CPU/bare':>9}  heavy modules loaded")
    total = 0.0
    for script in scripts:
        code = (
            f"import sys\nsys.path.insert(0, {str(root / 'src')!r})\n"
            f"sys.path.insert(1, {str(script.parent)!r})\n" + script_imports(script) + "\n" + probe
        )
        cpu, wall, out = measure(code, args.repeat)
        total += cpu
        ratio = cpu / bare_cpu if bare_cpu > 0 else float("nan")
        print(f"{script.stem:<28} {cpu:7.3f} {wall:7.3f} {ratio:9.1f}  {out.strip()}")
    print(f"{'mean':<28} {total / max(len(scripts), 1):7.3f}")


if __name__ == "__main__":
    main()
