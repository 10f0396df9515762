"""The ``markerflow`` console script: ``init`` a study and ``run`` the workflow without Snakemake knowledge.

Thin: argparse, then :mod:`markerflow.io.init_study` (init) or a Snakemake subprocess of this
interpreter (run). ``run`` prints one line per finished step (parsed from Snakemake's
``Finished jobid: N (Rule: r)`` and ``k of n steps (p%) done`` lines; the full log goes to
``.snakemake/markerflow_run.log``), then where the summary page is and the top 10 candidates. Its
exit code is Snakemake's.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml

from markerflow.errors import InputError
from markerflow.io import fetch, init_study

CHECKOUT = Path(__file__).resolve().parents[2]
GSE = re.compile(r"^GSE\d+(-GPL\d+)?$", re.IGNORECASE)
FINISHED = re.compile(r"Finished jobid: (\d+) \(Rule: ([^)]+)\)")
STEPS = re.compile(r"(\d+) of (\d+) steps \(([^)]+)\) done")


# ----------------------------------------------------------------------------------------- init


def _per_cohort(values: list[str] | None, option: str) -> dict[str | None, str]:
    """``[COHORT=]VALUE`` options -> {cohort or None (all cohorts): value}."""
    out: dict[str | None, str] = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if sep and init_study.SAFE_ID.match(key.strip()) and "=" not in key:
            out[key.strip()] = rest
        else:
            out[None] = value
    return out


def _pick(options: dict[str | None, str], cohort: str) -> str | None:
    return options.get(cohort, options.get(None))


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(";") if v.strip()]


def _cohorts(args: argparse.Namespace, project: Path) -> list[init_study.InitCohort]:
    # the cache the workflow uses later: geo.cache_dir of the config, relative to the project
    settings = fetch.FetchSettings(
        base_url=args.geo_base_url,
        cache_dir=str(project / args.geo_cache_dir),
        retries=args.geo_retries,
    )
    cohorts = []
    for item in args.inputs:
        if GSE.match(item) and not Path(item).exists():
            accession, _, platform = item.upper().partition("-")
            cohorts.append(init_study.geo_cohort(accession, settings, platform or None))
        else:
            matrix, _, samples = item.partition(",")
            cohorts.append(init_study.local_cohort(matrix, samples or None, project=project))
    return cohorts


def cmd_init(args: argparse.Namespace) -> int:
    """``markerflow init``: config + cohort sheet for the inputs; prints phenotypes per cohort."""
    project = Path(args.dir)
    project.mkdir(parents=True, exist_ok=True)
    config_path = project / args.config
    sheet_path = project / args.sheet
    for path in (config_path, sheet_path):
        if path.exists() and not args.force:
            raise InputError("file exists; not overwritten", path=path, hint="use --force")
    if not (project / "resources").exists() and (CHECKOUT / "resources").is_dir():
        (project / "resources").symlink_to(CHECKOUT / "resources")
        print(f"linked resources -> {CHECKOUT / 'resources'} (gene sets, annotation tables)")
    columns = _per_cohort(args.condition_column, "--condition-column")
    cases = _per_cohort(args.case, "--case")
    controls = _per_cohort(args.control, "--control")
    roles = _per_cohort(args.role, "--role")
    chosen = []
    for cohort in _cohorts(args, project):
        cohort.row["role"] = _pick(roles, cohort.cohort) or "discovery"
        cohort = init_study.choose_comparison(
            cohort,
            _pick(columns, cohort.cohort),
            _split(_pick(cases, cohort.cohort)),
            _split(_pick(controls, cohort.cohort)),
        )
        chosen.append(cohort)
        print(init_study.format_levels(cohort))
    config = init_study.study_config(
        args.name or project.resolve().name,
        cohorts=Path(args.sheet).as_posix(),
        case_label=args.case_label,
        control_label=args.control_label,
        seed=args.seed,
        results=args.results,
        geo_settings=fetch.FetchSettings(
            base_url=args.geo_base_url, cache_dir=args.geo_cache_dir, retries=args.geo_retries
        ),
        project=project,
    )
    sheet = init_study.cohort_sheet(chosen)
    init_study.write_study(config, sheet, config_path, sheet_path, force=args.force)
    print(f"wrote {config_path} and {sheet_path}")
    todo = init_study.missing_choices(chosen)
    if todo:
        print(
            "to do before `markerflow run`: choose the comparison from the columns above and "
            f"fill these cells of {sheet_path} (or rerun init with --condition-column, --case, "
            "--control [COHORT=]VALUE and --force):"
        )
        for line in todo:
            print(f"  {line}")
        return 0
    init_study.check_written_study(config, project)
    print(f"study checked; next: markerflow run --directory {project}")
    return 0


# ------------------------------------------------------------------------------------------ run


def snakefile() -> Path:
    """The project's Snakefile: next to the package's checkout (src/markerflow/..)."""
    path = CHECKOUT / "Snakefile"
    if not path.is_file():
        raise InputError(
            f"no Snakefile at {path}: markerflow is not installed from a checkout",
            hint="run from a git checkout (pip install -e .) or pass --snakefile",
        )
    return path


def snakemake_command(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """The Snakemake command line of ``markerflow run`` (this interpreter's Snakemake)."""
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "snakemake"]
    cmd += ["-s", str(args.snakefile or snakefile()), "--directory", str(args.directory)]
    cmd += ["--cores", str(args.cores)]
    config = _config_path(args)
    if config.is_file():  # explicit, so the example config is never read in its place
        cmd += ["--configfile", str(config.resolve())]
    return cmd + extra


def _config_path(args: argparse.Namespace) -> Path:
    """``--configfile``, else the project's config/config.yaml (what `markerflow init` writes)."""
    if args.configfile:
        return Path(args.configfile)
    return Path(args.directory) / "config" / "config.yaml"


def progress(lines: Iterable[str], log, echo) -> None:
    """Write every line to ``log``; echo one line per finished step (and errors) via ``echo``."""
    rule = None
    for line in lines:
        log.write(line)
        match = FINISHED.search(line)
        if match:
            rule = match.group(2)
            continue
        match = STEPS.search(line)
        if match:
            done, total, pct = match.groups()
            echo(f"[{done:>{len(total)}}/{total} {pct:>4}] {rule or 'step'} done")
            rule = None
        elif re.search(r"\b(Error|error:|Exception|WorkflowError|MissingInput)", line):
            echo(line.rstrip("\n"))


def _results_dir(args: argparse.Namespace) -> Path:
    path = _config_path(args)
    results = "results"
    if path.is_file():
        results = (yaml.safe_load(path.read_text()) or {}).get("results", "results")
    return Path(args.directory) / results


def top_candidates(results: Path, n: int = 10) -> list[tuple[Path, pd.DataFrame]]:
    """Top ``n`` rows of every candidate table (``**/candidates/candidates.tsv``, not LOCO runs).

    Globbed rather than hard-coded: one table per comparison when a study has several.
    """
    tables = sorted(
        p for p in results.glob("**/candidates/candidates.tsv") if "loco" not in p.parts
    )
    out = []
    for path in tables:
        table = pd.read_csv(path, sep="\t")
        keep = [
            c
            for c in ("rank", "gene", "direction", "pooled_effect", "fdr", "composite")
            if c in table
        ]
        out.append((path, table[keep or list(table.columns)].head(n)))
    return out


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    """``markerflow run``: Snakemake with a progress line per step, then report and top candidates."""
    cmd = snakemake_command(args, extra)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(cmd[cmd.index("-s") + 1]).parent / "src"), env.get("PYTHONPATH")])
    )
    env.setdefault("PYTHONHASHSEED", "0")
    log_path = Path(args.directory) / ".snakemake" / "markerflow_run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print("running: " + " ".join(cmd), flush=True)
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert proc.stdout is not None
        try:
            progress(proc.stdout, log, lambda text: print(text, flush=True))
        finally:  # Ctrl-C or a closed pipe: stop snakemake too (it removes incomplete outputs)
            if proc.poll() is None:
                proc.terminate()
        code = proc.wait()
    if code != 0:
        print(f"snakemake failed (exit {code}); full log: {log_path}")
        return code
    if any(a in ("-n", "--dry-run", "--dryrun") for a in extra):
        print(f"dry run finished; full log: {log_path}")
        return code
    results = _results_dir(args)
    report = next(iter(sorted(results.glob("**/report/summary.html"))), None)
    print(f"report: {report.resolve() if report else 'not written (see ' + str(log_path) + ')'}")
    for path, top in top_candidates(results):
        print(f"top {len(top)} candidates ({path}):")
        print(top.to_string(index=False))
    return code


# ----------------------------------------------------------------------------------------- main


def parser() -> argparse.ArgumentParser:
    """The argument parser of the ``markerflow`` command."""
    top = argparse.ArgumentParser(prog="markerflow", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    init = sub.add_parser(
        "init",
        help="write a config and cohort sheet for local files or GEO accessions",
        description="Inputs: GSExxx[-GPLyyy] (downloaded and cached), a GEO series matrix file, "
        "or MATRIX,SAMPLES (a features x samples matrix and its sample sheet). Per-cohort options "
        "take [COHORT=]VALUE; lists are ';'-separated.",
    )
    init.add_argument("inputs", nargs="+")
    init.add_argument("--dir", default=".", help="project directory (default: .)")
    init.add_argument("--config", default="config/config.yaml", help="relative to --dir")
    init.add_argument("--sheet", default="config/cohorts.tsv", help="relative to --dir")
    init.add_argument("--name", help="study name (default: the directory name)")
    init.add_argument("--condition-column", action="append", metavar="[COHORT=]COLUMN")
    init.add_argument("--case", action="append", metavar="[COHORT=]V1;V2")
    init.add_argument("--control", action="append", metavar="[COHORT=]V1;V2")
    init.add_argument("--role", action="append", metavar="[COHORT=]discovery|validation")
    init.add_argument("--case-label", default="case")
    init.add_argument("--control-label", default="control")
    init.add_argument("--seed", type=int, default=1)
    init.add_argument("--results", default="results")
    init.add_argument("--geo-base-url", default=fetch.DEFAULT_BASE_URL)
    init.add_argument("--geo-cache-dir", default="cache/geo", help="relative to --dir")
    init.add_argument("--geo-retries", type=int, default=3)
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    run = sub.add_parser(
        "run",
        help="run the workflow; other arguments go to snakemake (e.g. -n)",
        description="Runs snakemake on the project's Snakefile; unknown arguments go to snakemake.",
    )
    run.add_argument("--configfile")
    run.add_argument("--cores", default="1")
    run.add_argument("--directory", default=".", help="project directory (default: .)")
    run.add_argument("--snakefile", help="default: the Snakefile of markerflow's checkout")
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``markerflow`` console script."""
    args, extra = parser().parse_known_args(argv)
    try:
        if args.command == "init":
            if extra:
                parser().error(f"unrecognized arguments: {' '.join(extra)}")
            return cmd_init(args)
        return cmd_run(args, extra)
    except InputError as error:
        print(f"markerflow {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
