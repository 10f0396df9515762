"""A new study from input files or GEO accessions: the config and cohort sheet `markerflow init` writes.

No statistics here: the inputs are inspected only as far as needed to fill the cohort sheet
(``source``, ``data_type``, ``sample_column``, the annotation table the project already holds) and to
show, per cohort, the phenotype columns with their distinct values and counts, so that the user can
choose ``condition_column``, ``case_values`` and ``control_values`` without reading GEO
characteristics by hand. GEO accessions are fetched through the cached, checksummed downloader
(:func:`markerflow.io.fetch.fetch_geo_series`), so the workflow later reuses the same files.

Paths written into the sheet are relative to the project directory (``study.confined_path``): an
input outside it is linked into ``data/<cohort>/`` first. Nothing is overwritten unless asked.
"""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from markerflow.errors import InputError
from markerflow.io import fetch, geo
from markerflow.io.study import (
    SAFE_ID,
    SHEET_COLUMNS,
    check_study,
    normalise_value,
    read_cohort_sheet,
    read_sample_sheet,
)
from markerflow.io.tables import atomic_open

#: the cohort-sheet column order of config/cohorts.tsv
SHEET_ORDER = (
    "cohort",
    "role",
    "source",
    "data_type",
    "matrix",
    "samples",
    "annotation",
    "accession",
    "platform",
    "sample_column",
    "condition_column",
    "case_values",
    "control_values",
    "batch_column",
    "covariates",
    "log2",
    "description",
    "subject_column",
    "tissue",
)
#: where the project keeps the human gene-ID table and per-platform probe tables (resources/README.md)
GENE_ID_TABLE = "resources/annotation/hs_gene_ids.tsv.gz"
PLATFORM_TABLE = "resources/platforms/{platform}.tsv.gz"
GENE_SETS = {
    "GO_BP": "resources/genesets/GO_BP_symbols_10-500.gmt",
    "KEGG": "resources/genesets/KEGG_2021_Human.gmt",
}
#: columns with more distinct values than this (and than half the samples) are not listed
MAX_LEVELS = 12
GSE_IN_NAME = re.compile(r"(GSE\d+)", re.IGNORECASE)


@dataclass
class InitCohort:
    """One cohort of a new study: its sheet row (as strings) and its raw phenotype table."""

    row: dict[str, str]
    phenotypes: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def cohort(self) -> str:
        """The cohort ID (sheet column ``cohort``)."""
        return self.row["cohort"]


# ------------------------------------------------------------------------------------- inputs


def _open_text(path: Path):
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def is_series_matrix(path: str | Path) -> bool:
    """True when the file's first line is a GEO series-matrix header (``!Series_...``)."""
    try:
        with _open_text(Path(path)) as handle:
            return handle.readline().startswith("!Series_")
    except OSError as exc:
        raise InputError(f"cannot read input file ({exc.strerror})", path=path) from None


def _cohort_id(path: Path, text: str | None = None) -> str:
    match = GSE_IN_NAME.search(text or "") or GSE_IN_NAME.search(path.name)
    if match:
        return match.group(1).upper()
    stem = re.sub(r"(\.gz|\.tsv|\.csv|\.txt)+$", "", path.name)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-") or "cohort"
    return stem if SAFE_ID.match(stem) else f"c_{stem}"


def _series_accession(path: Path) -> str | None:
    with _open_text(path) as handle:
        for line in handle:
            if line.startswith("!Series_geo_accession"):
                return line.split("\t", 1)[1].strip().strip('"')
            if not line.startswith("!Series_"):
                return None
    return None


def _matrix_head(path: Path, rows: int = 200) -> pd.DataFrame:
    sep = "," if ".csv" in path.name.lower() else "\t"
    with _open_text(path) as handle:
        return pd.read_csv(handle, sep=sep, nrows=rows, index_col=0)


def guess_data_type(head: pd.DataFrame) -> str:
    """``counts`` when every numeric cell of the first rows is a non-negative integer, else ``array``."""
    numeric = head.select_dtypes(include="number").to_numpy(dtype=float)
    values = numeric[np.isfinite(numeric)]
    if values.size and (values >= 0).all() and (values == np.round(values)).all():
        return "counts"
    return "array"


def guess_sample_column(samples: pd.DataFrame, matrix_columns: list[str]) -> str | None:
    """The sample-sheet column whose values name the most matrix columns (None if none does)."""
    wanted = {str(c).strip() for c in matrix_columns}
    best, hits = None, 0
    for column in samples.columns:
        found = len(wanted & set(samples[column].dropna().astype(str).str.strip()))
        if found > hits:
            best, hits = column, found
    return best


def _project_path(path: Path, project: Path, cohort: str, notes: list[str]) -> str:
    """``path`` relative to the project; a file outside it is linked into data/<cohort>/."""
    full = path.resolve() if not path.is_absolute() else path
    root = project.resolve()
    absolute = Path(os.path.abspath(path))
    for candidate in (absolute, full):
        if os.path.commonpath([root, candidate]) == str(root):
            return candidate.relative_to(root).as_posix()
    link = project / "data" / cohort / path.name
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(full)
        notes.append(f"linked {full} as {link.relative_to(project)} (inputs stay in the project)")
    return link.relative_to(project).as_posix()


def local_cohort(
    matrix: str | Path, samples: str | Path | None = None, *, project: str | Path = "."
) -> InitCohort:
    """A cohort from local files: a GEO series matrix, or a matrix (features x samples) + sheet."""
    project = Path(project)
    matrix = Path(matrix)
    if not matrix.is_file():
        raise InputError("input file does not exist", path=matrix)
    notes: list[str] = []
    if samples is None and is_series_matrix(matrix):
        cohort = _cohort_id(matrix, _series_accession(matrix))
        pheno = geo.read_series_matrix_header(matrix)
        row = {
            "cohort": cohort,
            "source": "series_matrix",
            "data_type": "array",
            "matrix": _project_path(matrix, project, cohort, notes),
        }
        _platform_annotation(row, pheno, project, notes)
        return InitCohort(row, pheno, notes)
    if samples is None:
        raise InputError(
            "a plain matrix needs its sample sheet",
            path=matrix,
            hint="give it as MATRIX,SAMPLES (comma-separated), or give a GEO series matrix",
        )
    samples = Path(samples)
    cohort = _cohort_id(matrix)
    head = _matrix_head(matrix)
    raw = read_sample_sheet(samples, _first_column(samples))
    sample_column = guess_sample_column(raw.reset_index(drop=True), list(head.columns))
    if sample_column is None:
        raise InputError(
            "no column of the sample sheet names the matrix columns",
            path=samples,
            hint=f"the matrix {matrix} has columns like {', '.join(map(str, head.columns[:3]))}",
        )
    pheno = read_sample_sheet(samples, sample_column)
    data_type = guess_data_type(head)
    row = {
        "cohort": cohort,
        "source": "matrix",
        "data_type": data_type,
        "matrix": _project_path(matrix, project, cohort, notes),
        "samples": _project_path(samples, project, cohort, notes),
        "sample_column": sample_column,
    }
    if data_type == "counts" and head.index.astype(str).str.match(r"^ENS[A-Z]*G\d+").any():
        if (project / GENE_ID_TABLE).is_file():
            row["annotation"] = GENE_ID_TABLE
        else:
            notes.append("rows are Ensembl IDs: fill `annotation` with a gene-ID table")
    notes.append(f"detected data_type {data_type} (check it: counts are non-negative integers)")
    return InitCohort(row, pheno, notes)


def _first_column(path: Path) -> str:
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    with _open_text(path) as handle:
        return handle.readline().rstrip("\r\n").split(sep)[0].strip()


def _platform_annotation(
    row: dict[str, str], pheno: pd.DataFrame, project: Path, notes: list[str]
) -> None:
    platforms = sorted(set(pheno.get("platform_id", pd.Series(dtype=object)).dropna()))
    if len(platforms) != 1:
        return
    table = PLATFORM_TABLE.format(platform=platforms[0])
    if (project / table).is_file():
        row["annotation"] = table
    else:
        notes.append(
            f"platform {platforms[0]}: no {table}; fill `annotation` with a probe->symbol "
            "table, or use the GEO accession instead (the platform table is then downloaded)"
        )


def geo_cohort(
    accession: str, settings: fetch.FetchSettings, platform: str | None = None
) -> InitCohort:
    """A ``source: geo`` cohort: series matrix (+ platform table) fetched into the cache."""
    download = fetch.fetch_geo_series(accession, platform, settings)
    pheno = geo.read_series_matrix_header(download.series_matrix)
    row = {
        "cohort": download.key,
        "source": "geo",
        "data_type": "array",
        "accession": download.accession,
    }
    if platform:
        row["platform"] = download.platform
    notes = [f"fetched {download.key} into {download.directory} (cached, checksummed)"]
    return InitCohort(row, pheno, notes)


# -------------------------------------------------------------------------------- phenotypes


def phenotype_levels(pheno: pd.DataFrame, max_levels: int = MAX_LEVELS) -> dict[str, pd.Series]:
    """Column -> counts of its distinct values, for the columns that can define a comparison.

    Kept: columns with 2 to ``max_levels`` distinct values (after stripping), fewer than the
    number of samples (IDs and free text are not comparisons). Counts sorted largest first.
    """
    levels: dict[str, pd.Series] = {}
    n = len(pheno)
    for column in pheno.columns:
        values = pheno[column].dropna().astype(str).str.strip()
        values = values[values != ""]
        counts = values.value_counts(sort=False)
        if 2 <= len(counts) <= max_levels and len(counts) < n:
            order = sorted(counts.index, key=lambda v: (-counts[v], v))
            levels[str(column)] = counts[order]
    return levels


def format_levels(cohort: InitCohort) -> str:
    """The text `markerflow init` prints for one cohort: its phenotype columns and values."""
    levels = phenotype_levels(cohort.phenotypes)
    lines = [f"{cohort.cohort} ({len(cohort.phenotypes)} samples, {cohort.row['source']}):"]
    if not levels:
        lines.append("  no phenotype column with 2..12 distinct values")
    for column, counts in levels.items():
        shown = ", ".join(f"{value!r} ({count})" for value, count in counts.items())
        lines.append(f"  {column}: {shown}")
    lines += [f"  note: {note}" for note in cohort.notes]
    return "\n".join(lines)


def choose_comparison(
    cohort: InitCohort,
    condition_column: str | None,
    case: list[str],
    control: list[str],
) -> InitCohort:
    """Fill condition_column/case_values/control_values, checking each value occurs in the column."""
    if not condition_column:
        return cohort
    pheno = cohort.phenotypes
    if condition_column not in pheno.columns:
        raise InputError(
            f"cohort {cohort.cohort}: no phenotype column {condition_column!r}",
            hint=f"choose one of: {', '.join(phenotype_levels(pheno)) or ', '.join(pheno.columns)}",
        )
    present = {normalise_value(v): v for v in pheno[condition_column].dropna().astype(str)}
    for what, values in (("case", case), ("control", control)):
        missing = [v for v in values if normalise_value(v) not in present]
        if missing:
            raise InputError(
                f"cohort {cohort.cohort}: {what} value(s) {', '.join(map(repr, missing))} do not "
                f"occur in column {condition_column!r}",
                hint=f"values there: {', '.join(map(repr, sorted(set(present.values()))))}",
            )
    row = dict(cohort.row, condition_column=condition_column)
    if case:
        row["case_values"] = ";".join(case)
    if control:
        row["control_values"] = ";".join(control)
    return replace(cohort, row=row)


def missing_choices(cohorts: list[InitCohort]) -> list[str]:
    """Per cohort, the comparison cells still empty (what the user must fill in)."""
    needed = ("condition_column", "case_values", "control_values")
    out = []
    for cohort in cohorts:
        empty = [key for key in needed if not cohort.row.get(key)]
        if empty:
            out.append(f"{cohort.cohort}: {', '.join(empty)}")
    return out


# ------------------------------------------------------------------------------------ writing


def study_config(
    name: str,
    *,
    cohorts: str,
    case_label: str = "case",
    control_label: str = "control",
    seed: int = 1,
    results: str = "results",
    geo_settings: fetch.FetchSettings | None = None,
    project: str | Path = ".",
) -> dict[str, Any]:
    """The config of a new study: every study-specific key explicit, the rest schema defaults."""
    if not SAFE_ID.match(name):
        raise InputError(f"study name {name!r}: use letters, digits, '_', '.', '-'")
    settings = geo_settings or fetch.FetchSettings(cache_dir="cache/geo")
    libraries = {k: v for k, v in GENE_SETS.items() if (Path(project) / v).is_file()}
    return {
        "study": {"name": name, "case_label": case_label, "control_label": control_label},
        "cohorts": cohorts,
        "results": results,
        "seed": seed,
        "geo": {
            "base_url": settings.base_url,
            "retries": settings.retries,
            "timeout_s": settings.timeout_s,
            "backoff_s": settings.backoff_s,
            "cache_dir": settings.cache_dir,
        },
        "enrichment": {"libraries": libraries},
    }


def cohort_sheet(cohorts: list[InitCohort]) -> pd.DataFrame:
    """The cohort sheet of these cohorts (unknown keys refused, IDs unique)."""
    ids = [c.cohort for c in cohorts]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(
            f"two inputs give the same cohort ID {', '.join(dup)}",
            hint="give each input once, or rename a file so its name holds another ID",
        )
    for cohort in cohorts:
        unknown = sorted(set(cohort.row) - set(SHEET_COLUMNS))
        if unknown:
            raise InputError(
                f"cohort {cohort.cohort}: unknown sheet column(s) {', '.join(unknown)}",
                hint=f"columns: {', '.join(SHEET_ORDER)}",
            )
    rows = [{col: c.row.get(col, "") for col in SHEET_ORDER} for c in cohorts]
    return pd.DataFrame(rows, columns=list(SHEET_ORDER))


def write_study(
    config: dict[str, Any],
    sheet: pd.DataFrame,
    config_path: str | Path,
    sheet_path: str | Path,
    *,
    force: bool = False,
) -> None:
    """Write the config (YAML) and cohort sheet (TSV); existing files only with ``force``."""
    for path in (Path(config_path), Path(sheet_path)):
        if path.exists() and not force:
            raise InputError(
                "file exists; not overwritten", path=path, hint="use --force to replace it"
            )
    Path(sheet_path).parent.mkdir(parents=True, exist_ok=True)
    Path(config_path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(sheet_path) as handle:
        sheet.to_csv(handle, sep="\t", index=False, lineterminator="\n")
    header = (
        "# markerflow study written by `markerflow init`; every key is documented in\n"
        "# config/README.md. Keys left out take the schema defaults.\n"
    )
    with atomic_open(config_path) as handle:
        handle.write(header + yaml.safe_dump(config, sort_keys=False))


def check_written_study(config: dict[str, Any], project: str | Path = ".") -> None:
    """The checks the workflow runs before any job (files, columns, values): fail now, not later."""
    sheet = read_cohort_sheet(Path(project) / config["cohorts"])
    check_study(config, sheet, base=project)
