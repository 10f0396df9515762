"""Provenance of a run: frozen config, input checksums, software versions, output manifest.

A reviewer reruns a study with ``snakemake --configfile results/provenance/config.frozen.yaml`` and
gets the same bytes. The frozen config is the *effective* config (every schema default expanded,
the cohort sheet inlined as a list of rows, the seed) plus ``checksums:``, the SHA-256 of every
input file the run read. When a config carries ``checksums:``, the workflow verifies them while it
parses (:func:`verify_checksums`) and stops before any job runs if a file changed.

``manifest.tsv`` lists every output under the results directory with its size and SHA-256;
``python -m markerflow.stages.provenance verify A B`` compares two manifests.

Checksums are SHA-256 (FIPS 180-4, :mod:`hashlib`); versions come from :mod:`importlib.metadata`.
"""

from __future__ import annotations

import argparse
import math
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from markerflow.errors import InputError
from markerflow.io.tables import sha256_file

#: Top-level config keys that are not copied into the frozen config as they are.
FROZEN_SPECIAL_KEYS = ("cohorts", "checksums")
#: Subdirectories of the results directory that the manifest leaves out (its own files, logs).
MANIFEST_EXCLUDE = ("provenance", "logs")
MANIFEST_COLUMNS = ("path", "size", "sha256")


def checksums(paths: Iterable[str | Path], base: str | Path = ".") -> dict[str, str]:
    """``{path as given: sha256}`` for every path (relative paths resolved against ``base``)."""
    base = Path(base)
    result = {}
    for path in sorted({str(p) for p in paths}):
        file = base / path
        if not file.is_file():
            raise InputError("input file does not exist, cannot checksum it", path=path)
        result[path] = sha256_file(file)
    return result


def verify_checksums(expected: Mapping[str, str], base: str | Path = ".") -> None:
    """Check every file of a frozen config's ``checksums:`` against its recorded SHA-256.

    Raises an :class:`InputError` listing every missing or changed file with expected and actual
    digests; returns silently when all match. A missing file is named with its expected sha256 and
    where it was: the path the frozen run read (absolute, or relative to its project directory)
    and the absolute path looked at now.
    """
    base = Path(base)
    problems = []
    for path in sorted(expected):
        file = base / path
        if not file.is_file():
            where = (
                "an absolute path"
                if Path(path).is_absolute()
                else f"relative to the project directory; looked for {Path(file).absolute()}"
            )
            problems.append(
                f"  {path}: missing (expected sha256 {expected[path]}; the frozen run read it "
                f"at {path}, {where})"
            )
            continue
        actual = sha256_file(file)
        if actual != str(expected[path]).lower():
            problems.append(f"  {path}: expected sha256 {expected[path]}, actual {actual}")
    if problems:
        raise InputError(
            f"{len(problems)} input file(s) differ from the frozen config's `checksums:`\n"
            + "\n".join(problems),
            hint="restore the original input files, or remove `checksums:` from the config to "
            "run deliberately on changed inputs (the results will then differ)",
        )


def canonical(value: Any) -> Any:
    """Plain YAML-safe data with dict keys sorted recursively (tuples -> lists, NaN -> None)."""
    if isinstance(value, Mapping):
        return {str(k): canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
        return canonical(value.item())
    return value


def sort_config_in_place(config: dict[str, Any]) -> None:
    """Reorder a config's keys recursively, in place (the objects stay the same).

    Snakemake detects changed ``params`` by their ``repr``, which depends on dict order. Sorting
    the effective config makes a run from ``config.yaml`` and a rerun from the (sorted) frozen
    config produce identical params, so an in-place frozen rerun is "nothing to be done".
    Mappings inside lists are sorted too (e.g. the entries of ``comparisons:``, which the frozen
    YAML writes with sorted keys); lists keep their order.
    """
    items = sorted(config.items(), key=lambda kv: str(kv[0]))
    config.clear()
    for key, value in items:
        _sort_nested(value)
        config[key] = value


def _sort_nested(value: Any) -> None:
    """:func:`sort_config_in_place` on every mapping in ``value`` (a dict, or lists of them)."""
    if isinstance(value, dict):
        sort_config_in_place(value)
    elif isinstance(value, list):
        for item in value:
            _sort_nested(item)


def cohort_records(sheet: pd.DataFrame) -> list[dict[str, str]]:
    """The cohort sheet as a list of row mappings (sheet order; empty cells omitted; keys sorted)."""
    records = []
    for row in sheet.to_dict("records"):
        records.append(
            {
                str(k): str(v)
                for k, v in sorted(row.items())
                if v is not None and not (isinstance(v, float) and math.isnan(v))
            }
        )
    return records


def study_input_files(config: Mapping[str, Any], specs: Iterable[Any]) -> list[str]:
    """Every input file the study reads, as written in the config and cohort sheet, sorted.

    Cohort matrices, sample sheets and annotation tables of every cohort spec
    (:class:`markerflow.io.study.CohortSpec`), the gene-set libraries, and any other config value
    that names an existing file (so a future ``resources/...`` key is covered without code
    changes). The cohort sheet itself is not listed: the frozen config inlines its rows.
    """
    files: set[str] = set()
    for spec in specs:
        matrix = spec.matrix
        if getattr(spec, "source", None) == "tximport" and matrix:  # a folder: its files
            from markerflow.io.quant import find_quant_files

            files.update(map(str, find_quant_files(matrix, spec.quant_type).values()))
            matrix = spec.tx2gene
        for value in (matrix, spec.samples, spec.annotation):
            if value:
                files.add(value)
    files.update(str(p) for p in (config.get("enrichment", {}).get("libraries") or {}).values())

    def scan(value: Any) -> None:
        if isinstance(value, Mapping):
            for v in value.values():
                scan(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                scan(v)
        elif isinstance(value, str) and "/" in value and Path(value).is_file():
            files.add(value)

    scan({k: v for k, v in config.items() if k not in (*FROZEN_SPECIAL_KEYS, "results")})
    return sorted(files)


def freeze_config(
    config: Mapping[str, Any],
    cohorts: Sequence[Mapping[str, Any]],
    input_checksums: Mapping[str, str],
    results: str = "results",
) -> str:
    """YAML text of the frozen config: effective config, inlined cohort rows, input checksums.

    Keys are sorted at every level and the text carries no timestamp, so freezing the same study
    twice (or freezing the rerun of a frozen config) gives byte-identical files.
    """
    frozen = {k: v for k, v in config.items() if k not in FROZEN_SPECIAL_KEYS}
    frozen["cohorts"] = [dict(row) for row in cohorts]
    frozen["checksums"] = dict(input_checksums)
    body = yaml.safe_dump(
        canonical(frozen),
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    header = (
        "# markerflow frozen config: the effective config of a run (defaults expanded, cohort\n"
        "# sheet inlined) and the sha256 of every input file it read. Reproduce the run with\n"
        f"#   snakemake --cores N --configfile {results}/provenance/config.frozen.yaml\n"
        "# in a checkout holding the same input files (verified before any job runs).\n"
    )
    return header + body


def workflow_revision(directory: str | Path) -> str:
    """``git describe``-like revision of the workflow checkout (commit, ``-dirty``), or unknown."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def software_versions(workflow_dir: str | Path | None = None) -> pd.DataFrame:
    """Python, platform, workflow revision and every installed distribution with its version.

    Columns ``kind`` (runtime | workflow | package), ``name``, ``version``; packages sorted by
    lower-cased name (duplicates, e.g. two dist-info folders on the path, keep the first found,
    which is the one ``import`` uses).
    """
    rows = [
        ("runtime", "python", platform.python_version()),
        ("runtime", "implementation", platform.python_implementation()),
        ("runtime", "platform", platform.platform()),
        ("runtime", "machine", platform.machine()),
    ]
    if workflow_dir is not None:
        rows.append(("workflow", "markerflow", workflow_revision(workflow_dir)))
    packages: dict[str, tuple[str, str]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in packages:
            packages[name.lower()] = (name, dist.version)
    rows += [("package", name, version) for _, (name, version) in sorted(packages.items())]
    return pd.DataFrame(rows, columns=["kind", "name", "version"])


def build_manifest(results: str | Path, exclude: Sequence[str] = MANIFEST_EXCLUDE) -> pd.DataFrame:
    """Every file under ``results`` (but not the excluded top-level folders or dot-files).

    Columns ``path`` (relative, '/'-separated, sorted), ``size`` (bytes), ``sha256``.
    """
    results = Path(results)
    rows = []
    for file in sorted(results.rglob("*")):
        rel = file.relative_to(results)
        if not file.is_file() or rel.parts[0] in exclude:
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue  # temporary files of atomic writers, editor/OS litter
        rows.append((rel.as_posix(), file.stat().st_size, sha256_file(file)))
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).sort_values("path", ignore_index=True)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a run's output manifest (path, size, sha256)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("manifest does not exist", path=path)
    table = pd.read_csv(path, sep="\t", dtype={"path": str, "size": "int64", "sha256": str})
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"is not a manifest (missing columns {', '.join(missing)})", path=path)
    return table


def compare_manifests(
    a: pd.DataFrame, b: pd.DataFrame, suffixes: Sequence[str] | None = None
) -> dict[str, list[str]]:
    """Paths only in ``b`` (added), only in ``a`` (missing), and in both with different digests.

    ``suffixes`` (e.g. ``[".tsv", ".parquet"]``) restricts the comparison to those file types.
    """

    def digests(table: pd.DataFrame) -> dict[str, str]:
        paths = table["path"].astype(str)
        if suffixes:
            paths = paths[paths.str.endswith(tuple(suffixes))]
        return dict(zip(paths, table.loc[paths.index, "sha256"], strict=True))

    da, db = digests(a), digests(b)
    return {
        "added": sorted(set(db) - set(da)),
        "missing": sorted(set(da) - set(db)),
        "differing": sorted(p for p in set(da) & set(db) if da[p] != db[p]),
    }


def manifest_path(value: str | Path) -> Path:
    """The manifest a ``verify`` argument names: a ``manifest.tsv`` itself, a results directory
    (its ``provenance/manifest.tsv``), or a (frozen) config, whose ``results:`` says where the run
    wrote (relative to the working directory, as Snakemake resolves it; default ``results``)."""
    path = Path(value)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle)
        results = loaded.get("results", "results") if isinstance(loaded, dict) else "results"
        return Path(str(results)) / "provenance" / "manifest.tsv"
    if path.is_dir():
        inner = path / "provenance" / "manifest.tsv"
        return (
            inner
            if inner.is_file() or not (path / "manifest.tsv").is_file()
            else path / "manifest.tsv"
        )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``verify A B`` compares two manifests; ``check-inputs`` checks a frozen config."""
    parser = argparse.ArgumentParser(
        prog="python -m markerflow.stages.provenance",
        description="Compare two runs' manifests, or check input files against a frozen config.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser(
        "verify",
        help="compare manifest A (reference) with manifest B; each may also be a results "
        "directory or a (frozen) config, whose `results:` locates the manifest",
    )
    verify.add_argument("manifest_a")
    verify.add_argument("manifest_b")
    verify.add_argument(
        "--only",
        default="",
        help="comma-separated file suffixes to compare, e.g. .tsv,.parquet (default: all files)",
    )
    inputs = sub.add_parser("check-inputs", help="verify input files against a frozen config")
    inputs.add_argument("frozen_config")
    inputs.add_argument("--base", default=".", help="directory the paths are relative to")
    args = parser.parse_args(argv)
    try:
        if args.command == "verify":
            suffixes = [s.strip() for s in args.only.split(",") if s.strip()] or None
            a = read_manifest(manifest_path(args.manifest_a))
            b = read_manifest(manifest_path(args.manifest_b))
            diff = compare_manifests(a, b, suffixes)
            for kind in ("added", "missing", "differing"):
                for path in diff[kind]:
                    print(f"{kind}\t{path}")
            n = sum(len(v) for v in diff.values())
            compared = (
                len(a) if suffixes is None else int(a["path"].str.endswith(tuple(suffixes)).sum())
            )
            print(
                f"{'identical' if n == 0 else 'DIFFERENT'}: {compared} files in A, "
                f"{len(diff['added'])} added, {len(diff['missing'])} missing, "
                f"{len(diff['differing'])} differing",
                file=sys.stderr,
            )
            return 1 if n else 0
        with open(args.frozen_config, encoding="utf-8") as handle:
            frozen = yaml.safe_load(handle) or {}
        if not frozen.get("checksums"):
            raise InputError("has no `checksums:` (not a frozen config)", path=args.frozen_config)
        verify_checksums(frozen["checksums"], args.base)
        print(f"all {len(frozen['checksums'])} input files match", file=sys.stderr)
        return 0
    except InputError as error:
        print(f"markerflow: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
