"""SLURM dry run at scale: the resources `profiles/slurm` requests for every job of a large study.

Generates (once; reused when present) the 100-cohort study of issue 20, acceptance 4 - 90 array
cohorts (GPL570-like, 54,675 probes) + 10 RNA-seq cohorts (60,000 Ensembl IDs) x 500 samples,
~10 GB of Parquet - with benchmarks/scale/generate.py, runs

    snakemake -n --profile profiles/slurm --workflow-profile none

in it (nothing is submitted, no job runs), parses the job list and prints per rule: jobs, mem_mb
and runtime requested (min / max). Checks (PASS/FAIL):

1. every job that would be submitted has a numeric `mem_mb` and `runtime` (no `<TBD>`, none
   missing): the requests are known before any job runs (workflow/rules/sizing.smk);
2. every request is at most 8 GB (issue 20, acceptance 2: no job above 8 GB peak); a rule whose
   honest request is larger at this size is named with its request.

The dry run's own wall time (DAG building for ~1,000 jobs) is printed too.

Run: ``python benchmarks/scale/slurm_dryrun.py`` (study under benchmarks/out/scale/; generating
it takes a few minutes, the dry run itself well under a minute), ``--study DIR`` for an existing
study directory (with config.yaml), ``--arrays/--counts/--samples/--probes`` for other sizes.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parents[1]
sys.path.insert(0, str(HERE))
from generate import GPL570_PROBES, generate_study  # noqa: E402

OUT = PROJECT_DIR / "benchmarks" / "out"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
MEM_LIMIT_MB = 8 * 1024
#: rules that run where snakemake runs (Snakefile `localrules`), never submitted
LOCAL_RULES = {"all", "enrichment_all"}
_RULE = re.compile(r"^\s*(?:local)?rule (\w+):\s*$")
_RESOURCE = re.compile(r"(\w+)=([^,]*)")


@dataclass
class Job:
    rule: str
    wildcards: str = ""
    benchmark: str = ""
    resources: dict[str, str] = field(default_factory=dict)
    priority: int = 0


def parse_dryrun(text: str) -> list[Job]:
    """The jobs of a `snakemake -n` listing: rule, wildcards, the `resources:` line (values as
    printed, e.g. ``'4000'`` or ``'<TBD>'``) and the priority (printed when not 0). Jobs inside a
    group are listed like any other."""
    jobs: list[Job] = []
    for line in text.splitlines():
        match = _RULE.match(line)
        if match:
            jobs.append(Job(match.group(1)))
            continue
        if not jobs:
            continue
        stripped = line.strip()
        if stripped.startswith("wildcards: "):
            jobs[-1].wildcards = stripped.removeprefix("wildcards: ")
        elif stripped.startswith("benchmark: "):
            jobs[-1].benchmark = stripped.removeprefix("benchmark: ")
        elif stripped.startswith("priority: "):
            jobs[-1].priority = int(stripped.removeprefix("priority: "))
        elif stripped.startswith("resources: "):
            pairs = _RESOURCE.findall(stripped.removeprefix("resources: "))
            jobs[-1].resources = {key: value.strip() for key, value in pairs}
    return jobs


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def resource_table(jobs: list[Job]) -> list[dict]:
    """Per rule (submitted jobs only): jobs, mem_mb and runtime min / max, and jobs lacking a
    numeric value of either."""
    rows: dict[str, dict] = {}
    for job in jobs:
        if job.rule in LOCAL_RULES:
            continue
        row = rows.setdefault(
            job.rule, {"rule": job.rule, "jobs": 0, "mem": [], "runtime": [], "missing": 0}
        )
        row["jobs"] += 1
        mem = _number(job.resources.get("mem_mb"))
        runtime = _number(job.resources.get("runtime"))
        if mem is None or runtime is None:
            row["missing"] += 1
        if mem is not None:
            row["mem"].append(mem)
        if runtime is not None:
            row["runtime"].append(runtime)
    table = []
    for row in rows.values():
        mem, runtime = row.pop("mem"), row.pop("runtime")
        row["mem_min"], row["mem_max"] = (min(mem), max(mem)) if mem else (None, None)
        row["rt_min"], row["rt_max"] = (min(runtime), max(runtime)) if runtime else (None, None)
        table.append(row)
    return sorted(table, key=lambda r: r["rule"])


def dry_run(
    study: Path, profile: Path = PROJECT_DIR / "profiles" / "slurm"
) -> tuple[str, float, int]:
    """`snakemake -n --forceall --profile <profile>` in ``study`` (every job listed, also when
    results exist); (output, wall seconds, exit status)."""
    config = study / "config.yaml"
    if not config.exists():  # a project checkout: the example study
        config = study / "config" / "config.yaml"
    cmd = [
        SNAKEMAKE, "-n", "-s", str(PROJECT_DIR / "Snakefile"), "--directory", str(study),
        "--configfile", str(config), "--profile", str(profile),
        "--workflow-profile", "none", "--forceall",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONHASHSEED="0")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=study)
    return proc.stdout + proc.stderr, time.perf_counter() - start, proc.returncode


def _fmt(low: float | None, high: float | None) -> str:
    if low is None:
        return "-"
    return f"{low:.0f}" if low == high else f"{low:.0f}-{high:.0f}"


def report(table: list[dict]) -> tuple[list[str], bool]:
    """The printed table and the checks; (lines, all passed)."""
    lines = [f"{'rule':<26} {'jobs':>5} {'mem_mb':>13} {'runtime (min)':>14}"]
    for row in table:
        lines.append(
            f"{row['rule']:<26} {row['jobs']:>5} {_fmt(row['mem_min'], row['mem_max']):>13} "
            f"{_fmt(row['rt_min'], row['rt_max']):>14}"
        )
    lines.append(f"{'total':<26} {sum(r['jobs'] for r in table):>5}")
    missing = [r["rule"] for r in table if r["missing"]]
    ok_numeric = not missing
    lines.append(
        "(1) every submitted job has numeric mem_mb and runtime: "
        + ("PASS" if ok_numeric else f"FAIL (<TBD> or missing in: {', '.join(missing)})")
    )
    over = [r for r in table if r["mem_max"] is not None and r["mem_max"] > MEM_LIMIT_MB]
    ok_mem = not over
    lines.append(
        f"(2) every mem_mb request <= {MEM_LIMIT_MB}: "
        + (
            "PASS"
            if ok_mem
            else "FAIL (" + ", ".join(f"{r['rule']} {r['mem_max']:.0f} MB" for r in over) + ")"
        )
    )
    return lines, ok_numeric and ok_mem


#: what the SLURM plugin's snakemake process adds to a job's own peak RSS inside a job (MB)
PLUGIN_MB = 200


def against_measured(jobs: list[Job], study: Path, results: Path) -> list[str]:
    """Per rule: the measured peak RSS and wall time of a finished run of the same study
    (``results/logs/benchmarks``, matched to the dry run's jobs by their benchmark path) beside
    the requests; a job whose request is below its peak + PLUGIN_MB, or below its wall time, is
    named."""
    import pandas as pd

    rows: dict[str, dict] = {}
    short: list[str] = []
    for job in jobs:
        if not job.benchmark:
            continue
        relative = Path(job.benchmark)
        path = results.parent / relative if not relative.is_absolute() else relative
        if not path.exists():
            continue
        table = pd.read_csv(path, sep="\t")
        if table.empty:
            continue
        peak = float(pd.to_numeric(table["max_rss"], errors="coerce").iloc[-1])
        seconds = float(table["s"].iloc[-1])
        mem = _number(job.resources.get("mem_mb")) or 0.0
        runtime = _number(job.resources.get("runtime")) or 0.0
        row = rows.setdefault(job.rule, {"jobs": 0, "peak": 0.0, "s": 0.0, "mem": 0.0,
                                         "rt": 0.0, "ratio": 0.0})  # fmt: skip
        row["jobs"] += 1
        row["peak"], row["s"] = max(row["peak"], peak), max(row["s"], seconds)
        row["mem"], row["rt"] = max(row["mem"], mem), max(row["rt"], runtime)
        row["ratio"] = max(row["ratio"], (peak + PLUGIN_MB) / mem if mem else float("inf"))
        if peak + PLUGIN_MB > mem or seconds > 60 * runtime:
            short.append(f"{job.rule} {job.wildcards}: peak {peak:.0f} MB, {seconds:.0f} s; "
                         f"requested {mem:.0f} MB, {runtime:.0f} min")  # fmt: skip
    lines = [
        f"{'rule':<26} {'jobs':>5} {'peak MB':>8} {'mem_mb':>7} {'(peak+200)/mem':>15} "
        f"{'max s':>7} {'runtime':>8}"
    ]
    for rule in sorted(rows):
        r = rows[rule]
        lines.append(
            f"{rule:<26} {r['jobs']:>5} {r['peak']:>8.0f} {r['mem']:>7.0f} {r['ratio']:>15.2f} "
            f"{r['s']:>7.1f} {r['rt']:>8.0f}"
        )
    lines.append(
        f"(3) every measured job within its requests (peak + {PLUGIN_MB} MB <= mem_mb, wall <= "
        "runtime): " + ("PASS" if not short else "FAIL\n    " + "\n    ".join(short))
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--study",
        type=Path,
        help="an existing study directory (config.yaml, or config/config.yaml: `--study .` is "
        "the example)",
    )
    parser.add_argument("--arrays", type=int, default=90, help="array cohorts")
    parser.add_argument("--counts", type=int, default=10, help="RNA-seq cohorts")
    parser.add_argument("--samples", type=int, default=500, help="samples per cohort")
    parser.add_argument("--probes", type=int, default=GPL570_PROBES)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--measured",
        type=Path,
        help="results/ of a finished run of the same study: compare the requests with its "
        "benchmark files (peak RSS, wall time)",
    )
    args = parser.parse_args(argv)
    study = args.study
    if study is None:
        from run import study_name

        name = study_name(args.arrays, args.counts, args.samples, args.probes)
        study = args.out / "scale" / name / "study"
        if not (study / "config.yaml").exists():
            t0 = time.perf_counter()
            generate_study(
                study, n_arrays=args.arrays, n_counts=args.counts, samples=args.samples,
                n_probes=args.probes, seed=args.seed,
            )  # fmt: skip
            print(f"[{name}] generated in {time.perf_counter() - t0:.0f} s", flush=True)
    study = study.resolve()
    output, wall, status = dry_run(study)
    log = args.out / "slurm_dryrun.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(output, encoding="utf-8")
    if status != 0:
        print(output[-4000:])
        print(f"FAIL: the dry run exited with {status} (log: {log})")
        return 1
    jobs = parse_dryrun(output)
    table = resource_table(jobs)
    lines, ok = report(table)
    print(f"dry run of {study}: {wall:.1f} s wall")
    print("\n".join(lines))
    if args.measured:
        measured = against_measured(jobs, study, args.measured.resolve())
        print(f"\nrequests against the measured jobs of {args.measured}:")
        print("\n".join(measured))
        ok = ok and measured[-1].split(": ")[-1].startswith("PASS")
    print("overall:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
