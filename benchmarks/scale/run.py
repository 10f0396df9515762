"""Scale benchmark: the whole workflow on generated studies of 1, 5, 10, 20 array cohorts.

For each size, a study is generated (benchmarks/scale/generate.py, seeded; reused when present),
its results are removed, and ``snakemake --cores 2`` runs the workflow in the study directory twice
from scratch (``--loco-timing separate``, the default): once without the leave-one-cohort-out
(LOCO) validation (``--omit-from validation_loco``: the folds and what reads them), the run
*without* LOCO, then the whole of ``all`` in one invocation, the run *with* it, whose jobs the
tables describe. ``--loco-timing two-step`` saves the second run's first part: the rest of
``all`` runs on top of the first run, and the sum of both is the time *with* LOCO (an
overestimate: the folds cannot overlap the first run's serial jobs, such as merge).

Per-rule wall time and peak RSS come from the Snakemake ``benchmark:`` files
(``results/logs/benchmarks/<rule>/<wildcards>.tsv``). CPU comes from each job's last log line
(:data:`markerflow.runner.JOB_CPU_MESSAGE`: the process's and its ended children's user + system
time, exact; jobs without a ``benchmark:`` file, such as de_native's, count in their stage's
folder) for every rule whose jobs all logged it, else from the benchmark files. Their
``cpu_time`` samples the job's process tree (psutil) at intervals: it misses what a long job
spends after its last sample and includes Snakemake's wrapper of a short one, so the two differ
both ways (``cpu_sampled_s`` keeps the sampled sum beside the exact one). Each job's start-up
CPU (interpreter,
imports, Snakemake's script preamble: everything before the job's own work) from the first line
of its log (:data:`markerflow.runner.STARTUP_MESSAGE`). Output (benchmarks/out/):

- ``scale_summary.tsv``: one row per study and rule (jobs, summed / max wall, CPU, start-up CPU,
  max peak RSS and the job that had it) plus a ``TOTAL`` row per study (workflow wall time
  measured around snakemake, with and without LOCO);
- ``scale_cost.png``: workflow wall time and summed job CPU time against total samples;
- the per-rule table of each study and the acceptance checks, printed as PASS/FAIL.

Acceptance (issue 20; the issue-11 limits were 15 min and a log-log slope of 1.1):
(0) at 20 cohorts x 200 samples the summed job CPU is at most 300 s (the start-up share is
printed); (1) the same run, LOCO included, takes at most 3 min wall with ``--cores 2`` on a quiet
machine and at most 1.5x the run without LOCO; (2) no job above 8 GB peak RSS, and the log-log
slope of wall time against total samples (5 to 20 cohorts, when several sizes run) at most 1.05.

Run: ``python benchmarks/scale/run.py`` (all sizes; ~25 min on a 2-core machine),
``python benchmarks/scale/run.py --cohorts 20`` (the headline run only),
``python benchmarks/scale/run.py --quick`` (3 cohorts x 60 samples, 12,000 probes; a smoke test).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parents[1]
sys.path.insert(0, str(HERE))
from generate import GPL570_PROBES, generate_study  # noqa: E402

OUT = PROJECT_DIR / "benchmarks" / "out"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
WALL_LIMIT_S = 3 * 60
CPU_LIMIT_S = 300
LOCO_RATIO_LIMIT = 1.5
RSS_LIMIT_MB = 8 * 1024
LOGLOG_LIMIT = 1.05
#: issue 20, acceptance 2: 100 cohorts x 500 samples in at most 45 minutes
LARGE_SAMPLES = 50_000
LARGE_WALL_LIMIT_S = 45 * 60
#: markerflow.runner.STARTUP_MESSAGE, as it appears in a job's log
STARTUP_LINE = re.compile(r"start-up: ([0-9.]+) s CPU before the job's own work \(rule (\S+)\)")
#: markerflow.runner.JOB_CPU_MESSAGE: the job's whole CPU, exact (its last log line)
JOB_CPU_LINE = re.compile(r"job CPU: ([0-9.]+) s, start-up included \(rule (\S+)\)")


def study_name(
    n_arrays: int,
    n_counts: int,
    samples: int,
    probes: int,
    overrides: dict | None = None,
    float32: bool = False,
) -> str:
    name = f"arrays{n_arrays}_s{samples}"
    if n_counts:
        name += f"_counts{n_counts}"
    if probes != GPL570_PROBES:
        name += f"_p{probes}"
    if float32:
        name += "_f32"
    for key, value in sorted((overrides or {}).items()):
        name += f"_{key}-{value}".lower()
    return name


def run_workflow(
    study: Path, cores: int, extra: list[str] | None = None, *, fresh: bool = True
) -> tuple[float, int, float]:
    """Run the workflow in ``study`` (from scratch unless ``fresh`` is false); return (wall
    seconds, exit status, CPU seconds of the whole process tree). The tree's CPU is the
    ``snakemake`` process's rusage after it ended (``os.wait4``): its own CPU plus that of every
    job it waited for, so minus the jobs' own it is the scheduler's. The Snakemake log is appended
    to ``study/snakemake.log``."""
    if fresh:
        for stale in ("results", ".snakemake"):
            shutil.rmtree(study / stale, ignore_errors=True)
    cmd = [
        SNAKEMAKE,
        "-s",
        str(PROJECT_DIR / "Snakefile"),
        "--directory",
        str(study),
        "--configfile",
        str(study / "config.yaml"),
        "--cores",
        str(cores),
        *(extra or []),
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    start = time.perf_counter()
    with open(study / "snakemake.log", "w" if fresh else "a", encoding="utf-8") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, wait_status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(wait_status)
    wall = time.perf_counter() - start
    return wall, process.returncode, usage.ru_utime + usage.ru_stime


def run_with_and_without_loco(
    study: Path, cores: int, timing: str = "separate"
) -> tuple[float, float, int, float]:
    """(wall without LOCO, wall with LOCO, exit status, process-tree CPU of the runs whose jobs
    the logs now show): everything but the LOCO folds and what reads them; then the whole
    workflow from scratch (``separate``) or the rest of it on top (``two-step``), or nothing more
    (``none``: both walls are the run without LOCO)."""
    without, status, cpu = run_workflow(study, cores, ["--omit-from", "validation_loco"])
    if status != 0 or timing == "none":
        return without, without, status, cpu
    if timing == "separate":
        wall, status, cpu = run_workflow(study, cores)
        return without, wall, status, cpu
    rest, status, rest_cpu = run_workflow(study, cores, fresh=False)
    return without, without + rest, status, cpu + rest_cpu


def read_startup(results: Path) -> pd.DataFrame:
    """One row per job log with a start-up line: rule, log path (under results/logs), start-up
    CPU seconds, and the job's whole CPU from its last line (NaN if the job did not log it)."""
    rows = []
    logs = results / "logs"
    for path in sorted(logs.rglob("*.log")):
        if "benchmarks" in path.relative_to(logs).parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        match = STARTUP_LINE.search(text[:4096])
        if match:
            end = JOB_CPU_LINE.findall(text[-4096:])
            rows.append({"rule": match[2], "log": str(path.relative_to(logs)),
                         "startup_cpu_s": float(match[1]),
                         "job_cpu_s": float(end[-1][0]) if end else np.nan})  # fmt: skip
    return pd.DataFrame(rows, columns=["rule", "log", "startup_cpu_s", "job_cpu_s"])


def read_benchmarks(results: Path) -> pd.DataFrame:
    """One row per job: rule, job (wildcards), wall s, cpu s, max_rss MB."""
    rows = []
    for path in sorted((results / "logs" / "benchmarks").glob("*/*.tsv")):
        table = pd.read_csv(path, sep="\t")
        if table.empty:
            continue
        last = table.iloc[-1]
        rows.append(
            {
                "rule": path.parent.name,
                "job": path.stem,
                "wall_s": float(last["s"]),
                "cpu_s": float(pd.to_numeric(last.get("cpu_time"), errors="coerce")),
                "max_rss_mb": float(pd.to_numeric(last["max_rss"], errors="coerce")),
            }
        )
    return pd.DataFrame(rows, columns=["rule", "job", "wall_s", "cpu_s", "max_rss_mb"])


def summarise(
    jobs: pd.DataFrame,
    startup: pd.DataFrame,
    meta: dict,
    wall: float,
    wall_without_loco: float,
    status: int,
    tree_cpu: float = np.nan,
) -> pd.DataFrame:
    """Per rule: jobs, summed/max wall, summed CPU, summed start-up CPU, max peak RSS and the job
    with it; a TOTAL row with the workflow's wall time with and without LOCO, and Snakemake's own
    CPU (``tree_cpu``, the process tree's, minus the jobs' summed CPU)."""
    biggest = jobs.loc[jobs.groupby("rule")["max_rss_mb"].idxmax(), ["rule", "job"]]
    per_rule = (
        jobs.groupby("rule", sort=True)
        .agg(
            jobs=("job", "size"),
            wall_sum_s=("wall_s", "sum"),
            wall_max_s=("wall_s", "max"),
            cpu_sum_s=("cpu_s", "sum"),
            max_rss_mb=("max_rss_mb", "max"),
        )
        .reset_index()
        .merge(biggest.rename(columns={"job": "max_rss_job"}), on="rule", how="left")
    )
    # benchmark folders are named by stage (validation/ holds validation_loco and
    # validation_out_of_cohort): a start-up line counts for the folder its rule name begins with
    folders = sorted(per_rule["rule"], key=len, reverse=True)
    folder_of = {
        rule: next((f for f in folders if rule == f or rule.startswith(f + "_")), rule)
        for rule in startup["rule"].unique()
    }
    by_folder = startup.assign(rule=startup["rule"].map(folder_of)).groupby("rule")
    starts = by_folder["startup_cpu_s"].sum().rename("startup_cpu_s")
    per_rule = per_rule.merge(starts, left_on="rule", right_index=True, how="left")
    # exact CPU where every job in the folder logged it (its last line; this includes jobs without
    # a benchmark file, such as de_native's, counted in their stage's folder), else the sample
    exact = by_folder["job_cpu_s"].agg(lambda v: v.sum() if v.notna().all() else np.nan)
    logged = by_folder["job_cpu_s"].agg(lambda v: int(v.notna().sum()))
    per_rule["cpu_sampled_s"] = per_rule["cpu_sum_s"]
    use = per_rule["rule"].map(logged).ge(per_rule["jobs"]) & per_rule["rule"].map(exact).notna()
    per_rule.loc[use, "cpu_sum_s"] = per_rule.loc[use, "rule"].map(exact)
    per_rule["cpu_exact"] = use
    total = pd.DataFrame(
        {
            "rule": ["TOTAL"],
            "jobs": [len(jobs)],
            "wall_sum_s": [wall],  # the workflow's wall time, not a sum over jobs
            "wall_max_s": [jobs["wall_s"].max() if len(jobs) else np.nan],
            "cpu_sum_s": [per_rule["cpu_sum_s"].sum()],
            "cpu_sampled_s": [jobs["cpu_s"].sum()],
            "cpu_exact": [bool(per_rule["cpu_exact"].all())],
            "max_rss_mb": [jobs["max_rss_mb"].max() if len(jobs) else np.nan],
            "max_rss_job": [
                f"{jobs.loc[jobs['max_rss_mb'].idxmax(), 'rule']}/"
                f"{jobs.loc[jobs['max_rss_mb'].idxmax(), 'job']}"
                if len(jobs)
                else ""
            ],
            "startup_cpu_s": [startup["startup_cpu_s"].sum()],
            "wall_without_loco_s": [wall_without_loco],
            "snakemake_cpu_s": [tree_cpu - per_rule["cpu_sum_s"].sum()],
        }
    )
    table = pd.concat([per_rule, total], ignore_index=True)
    for key, value in reversed(meta.items()):
        table.insert(0, key, value)
    table["exit_status"] = status
    return table


def plot(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    total = summary[summary["rule"] == "TOTAL"].sort_values("total_samples")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    ax.plot(total["total_samples"], total["wall_sum_s"] / 60, "o-", label="workflow wall")
    ax.plot(total["total_samples"], total["cpu_sum_s"] / 60, "s--", label="sum of job CPU")
    ax.axhline(WALL_LIMIT_S / 60, color="grey", lw=0.8, ls=":", label="3 min target")
    ax.set_xlabel("total samples")
    ax.set_ylabel("minutes (--cores 2)")
    ax.set_title("Cost against total samples")
    ax.legend(fontsize=8)
    ax = axes[1]
    rules = summary[summary["rule"] != "TOTAL"]
    pivot = rules.pivot_table(index="total_samples", columns="rule", values="wall_sum_s")
    bottom = np.zeros(len(pivot))
    for rule in pivot.columns:
        ax.bar(pivot.index.astype(str), pivot[rule] / 60, bottom=bottom, label=rule)
        bottom += pivot[rule].fillna(0).to_numpy() / 60
    ax.set_xlabel("total samples")
    ax.set_ylabel("summed job wall time (min)")
    ax.set_title("Per rule (jobs run 2 at a time)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_rules(table: pd.DataFrame) -> None:
    """Per rule: jobs, summed wall and CPU, start-up CPU, the largest job and its peak memory."""
    rules = table[table["rule"] != "TOTAL"].sort_values("cpu_sum_s", ascending=False)
    columns = ["rule", "jobs", "wall_sum_s", "cpu_sum_s", "cpu_sampled_s", "startup_cpu_s",
               "wall_max_s", "max_rss_mb", "max_rss_job"]  # fmt: skip
    print(rules[columns].to_string(index=False, float_format=lambda v: f"{v:.1f}"), flush=True)


def slopes(summary: pd.DataFrame, lo: int = 5, hi: int = 20) -> dict[str, float]:
    """Linear slope (s per 1,000 samples) and log-log slope of wall time, lo..hi cohorts."""
    total = summary[(summary["rule"] == "TOTAL") & summary["n_cohorts"].between(lo, hi)]
    if total["n_cohorts"].nunique() < 2:
        return {}
    x = total["total_samples"].to_numpy(float)
    y = total["wall_sum_s"].to_numpy(float)
    linear = np.polyfit(x, y, 1)
    loglog = np.polyfit(np.log(x), np.log(y), 1)
    return {
        "seconds_per_1000_samples": 1000 * linear[0],
        "intercept_s": linear[1],
        "loglog_slope": loglog[0],
        "cpu_seconds_per_1000_samples": 1000
        * np.polyfit(x, total["cpu_sum_s"].to_numpy(float), 1)[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cohorts", default="1,5,10,20", help="array cohort counts to run")
    parser.add_argument("--samples", type=int, default=200, help="samples per cohort")
    parser.add_argument("--probes", type=int, default=GPL570_PROBES)
    parser.add_argument("--counts", type=int, default=0, help="RNA-seq cohorts added to each study")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--regenerate", action="store_true", help="regenerate existing studies")
    parser.add_argument(
        "--loco-timing",
        choices=("separate", "two-step", "none"),
        default="separate",
        help="time the run with LOCO from scratch (separate) or on top of the run without it, "
        "or run only the workflow without LOCO (none: its folds, candidates, signature and "
        "what reads them are left out; for sizes whose 100 folds cannot run in the session)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 cohorts x 60 samples, 12,000 probes (smoke test)"
    )
    parser.add_argument(
        "--float32",
        action="store_true",
        help="store the generated array values as float32 (half the input disk; read as float64)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for the generated studies, e.g. enrichment.per_cohort=false",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.cohorts, args.samples, args.probes = "3", 60, 12_000
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        import yaml

        overrides[key] = yaml.safe_load(value)
    sizes = [int(n) for n in args.cohorts.split(",")]
    tables = []
    for n in sizes:
        name = study_name(n, args.counts, args.samples, args.probes, overrides, args.float32)
        study = args.out / "scale" / name / "study"
        if args.regenerate or not (study / "config.yaml").exists():
            shutil.rmtree(study, ignore_errors=True)
            t0 = time.perf_counter()
            generate_study(
                study, n_arrays=n, n_counts=args.counts, samples=args.samples,
                n_probes=args.probes, seed=args.seed, config_overrides=overrides,
                float32=args.float32,
            )  # fmt: skip
            print(f"[{name}] generated in {time.perf_counter() - t0:.0f} s", flush=True)
        print(
            f"[{name}] running snakemake --cores {args.cores}"
            f"{' (without LOCO only)' if args.loco_timing == 'none' else ''} ...",
            flush=True,
        )
        without, wall, status, tree_cpu = run_with_and_without_loco(
            study, args.cores, args.loco_timing
        )
        jobs = read_benchmarks(study / "results")
        if jobs.empty:  # e.g. the workflow could not lock its directory: nothing to summarise
            print(f"[{name}] FAILED (exit {status}) before any job finished: see "
                  f"{study / 'snakemake.log'}", flush=True)  # fmt: skip
            return 1
        jobs.to_csv(study.parent / "jobs.tsv", sep="\t", index=False)
        startup = read_startup(study / "results")
        n_total = n + args.counts
        meta = {
            "study": name,
            "n_cohorts": n_total,
            "total_samples": n_total * args.samples,
            "probes": args.probes,
            "with_loco": args.loco_timing != "none",
        }
        table = summarise(jobs, startup, meta, wall, without, status, tree_cpu)
        tables.append(table)
        print(
            f"[{name}] {'ok' if status == 0 else f'FAILED (exit {status})'}: "
            f"{wall / 60:.1f} min wall "
            f"({'LOCO not run' if args.loco_timing == 'none' else f'{without / 60:.1f} min without LOCO'}), "
            f"{len(jobs)} jobs, "
            f"summed job CPU {table['cpu_sum_s'].iloc[-1]:.0f} s "
            f"({'exact, from the job logs' if table['cpu_exact'].iloc[-1] else 'partly sampled'}"
            f"; Snakemake's sample {jobs['cpu_s'].sum():.0f} s; start-up "
            f"{startup['startup_cpu_s'].sum():.0f} s), Snakemake's own CPU "
            f"{table['snakemake_cpu_s'].iloc[-1]:.0f} s, max job RSS "
            f"{jobs['max_rss_mb'].max():.0f} MB",
            flush=True,
        )
        print_rules(table)
        if status != 0:
            print(f"    see {study / 'snakemake.log'}", flush=True)
    summary = pd.concat(tables, ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    summary_path = args.out / "scale_summary.tsv"
    if summary_path.exists() and not args.quick:  # keep rows of sizes not rerun now
        old = pd.read_csv(summary_path, sep="\t")
        old = old[~old["study"].isin(summary["study"])]
        summary = pd.concat([old, summary], ignore_index=True)
    summary = summary.sort_values(["total_samples", "rule"]).reset_index(drop=True)
    summary.to_csv(summary_path, sep="\t", index=False, float_format="%.2f")
    this_setup = [study_name(n, args.counts, args.samples, args.probes, overrides, args.float32)
                  for n in
                  sorted(set(summary["n_cohorts"] - args.counts) | set(sizes))]  # fmt: skip
    plot(summary[summary["study"].isin(this_setup)], args.out / "scale_cost.png")
    print(f"\nwrote {summary_path} and {args.out / 'scale_cost.png'}")
    total = summary[summary["rule"] == "TOTAL"]
    print(total[["study", "total_samples", "wall_sum_s", "wall_without_loco_s", "cpu_sum_s",
                 "startup_cpu_s", "snakemake_cpu_s", "max_rss_mb", "jobs"]].to_string(
        index=False))  # fmt: skip
    verdicts = []
    headline = total[
        (total["n_cohorts"] == 20)
        & (total["probes"] == GPL570_PROBES)
        & (
            total["study"]
            == study_name(20, args.counts, args.samples, GPL570_PROBES, overrides, args.float32)
        )
    ]
    if len(headline) and headline.iloc[-1].get("with_loco", True) not in (False, "False"):
        row = headline.iloc[-1]
        share = row["startup_cpu_s"] / row["cpu_sum_s"]
        ok = row["exit_status"] == 0 and row["cpu_sum_s"] <= CPU_LIMIT_S
        verdicts.append(ok)
        how = "exact" if row.get("cpu_exact", False) in (True, "True") else "partly sampled"
        print(f"(0) 20 cohorts x {int(row['total_samples'])} samples: summed job CPU "
              f"{row['cpu_sum_s']:.0f} s, {how} (<= {CPU_LIMIT_S}), start-up "
              f"{row['startup_cpu_s']:.0f} s "
              f"({100 * share:.0f} %): {'PASS' if ok else 'FAIL'}")  # fmt: skip
        ok = row["exit_status"] == 0 and row["wall_sum_s"] <= WALL_LIMIT_S
        verdicts.append(ok)
        print(f"(1a) with LOCO: {row['wall_sum_s'] / 60:.1f} min wall (<= {WALL_LIMIT_S / 60:.0f}): "
              f"{'PASS' if ok else 'FAIL'}")  # fmt: skip
        ratio = row["wall_sum_s"] / row["wall_without_loco_s"]
        ok = row["exit_status"] == 0 and ratio <= LOCO_RATIO_LIMIT
        verdicts.append(ok)
        print(f"(1b) with / without LOCO: {ratio:.2f} x ({row['wall_sum_s']:.0f} s vs "
              f"{row['wall_without_loco_s']:.0f} s; <= {LOCO_RATIO_LIMIT}): "
              f"{'PASS' if ok else 'FAIL'}")  # fmt: skip
    this_run = total[total["study"].isin(this_setup)]
    if len(this_run):
        peak = this_run["max_rss_mb"].max()
        ok = peak <= RSS_LIMIT_MB
        verdicts.append(ok)
        print(f"(2a) max peak RSS of any job: {peak:.0f} MB (<= {RSS_LIMIT_MB}): "
              f"{'PASS' if ok else 'FAIL'}")  # fmt: skip
    fit = slopes(summary[summary["study"].isin(this_setup)])
    if fit:
        ok = fit["loglog_slope"] <= LOGLOG_LIMIT
        verdicts.append(ok)
        print(f"(2b) wall time between 5 and 20 cohorts: {fit['seconds_per_1000_samples']:.1f} s "
              f"per 1,000 samples (intercept {fit['intercept_s']:.0f} s; job CPU "
              f"{fit['cpu_seconds_per_1000_samples']:.1f} s per 1,000 samples); log-log slope "
              f"{fit['loglog_slope']:.2f} (<= {LOGLOG_LIMIT}): {'PASS' if ok else 'FAIL'}")  # fmt: skip
    for _, row in total[total["total_samples"] >= LARGE_SAMPLES].iterrows():
        with_loco = row.get("with_loco", True) not in (False, "False")
        ok = row["exit_status"] == 0 and row["wall_sum_s"] <= LARGE_WALL_LIMIT_S
        verdicts.append(ok)
        print(f"(2c) {row['study']} ({int(row['total_samples'])} samples, "
              f"{'LOCO included' if with_loco else 'without LOCO: its folds, candidates and signature not run'}): "
              f"{row['wall_sum_s'] / 60:.1f} min wall (<= {LARGE_WALL_LIMIT_S / 60:.0f}): "
              f"{'PASS' if ok else 'FAIL'}")  # fmt: skip
    # cost against samples across every size in the summary, on the run without LOCO (measured
    # for every study whatever --loco-timing was): the slope over 4,000 .. 50,000 samples
    spread = total.drop_duplicates("total_samples", keep="last").sort_values("total_samples")
    if len(spread) >= 2 and spread["total_samples"].max() >= LARGE_SAMPLES:
        x = np.log(spread["total_samples"].to_numpy(float))
        slope = np.polyfit(x, np.log(spread["wall_without_loco_s"].to_numpy(float)), 1)[0]
        ok = slope <= LOGLOG_LIMIT
        verdicts.append(ok)
        sizes_text = ", ".join(f"{int(n)}" for n in spread["total_samples"])
        print(f"(2d) log-log slope of wall time without LOCO against total samples ({sizes_text}): "
              f"{slope:.2f} (<= {LOGLOG_LIMIT}): {'PASS' if ok else 'FAIL'}")  # fmt: skip
    failed = int((total["exit_status"] != 0).sum())
    verdicts.append(failed == 0)
    print(f"(3) every run completed: {'PASS' if failed == 0 else f'FAIL ({failed} failed)'}")
    print("overall:", "PASS" if all(verdicts) else "FAIL")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
