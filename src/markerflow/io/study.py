"""The study definition: config + cohort sheet, checked before any job starts.

JSON-schema validation (done by Snakemake's ``validate``) catches wrong types and unknown keys;
:mod:`markerflow.io.config_check` what the schema lets through (floats for integers, seeds, labels,
output places); this module checks the study: input files exist (anywhere: absolute paths and
paths outside the project are allowed, each is checksummed into the frozen config), cohort IDs are
unique and safe as path components, listed columns exist in the phenotype tables, and every
case/control value matches at least one sample. Each problem is an
:class:`~markerflow.errors.InputError` naming the key, file or value.

IDs and labels are text end to end: the cohort sheet and sample sheets are read with string dtypes
and without pandas' NA parsing of ID columns, so ``NA``, ``None``, ``TRUE``, ``0123`` or ``1e5``
stay what they are.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from markerflow.errors import InputError, name_first
from markerflow.io.tables import NA_WORDS, reading

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")
LIST_SEPARATOR = ";"


def split_list(value: Any) -> list[str]:
    """Split a ';'-separated sheet cell into stripped, non-empty items (empty cell -> [])."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    return [item.strip() for item in str(value).split(LIST_SEPARATOR) if item.strip()]


def normalise_value(value: Any) -> str:
    """Phenotype values are compared after stripping whitespace and case-folding, nothing else."""
    return str(value).strip().casefold()


#: a condition level name: safe in paths and comparison names
LEVEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def parse_condition_levels(text: str, cohort: str = "") -> dict[str, str]:
    """Parse a ``condition_levels`` cell: ``Raw value=level;Other raw value=level``.

    Several raw values may map to one level; raw values are matched after
    :func:`normalise_value` (keys of the result); a level name must match
    :data:`LEVEL_NAME` (letters, digits, ``_.-``). A raw value given twice with different
    levels, an item without ``=`` or an empty side is an :class:`InputError` naming the item.
    """
    where = f"cohort {cohort}: condition_levels" if cohort else "condition_levels"
    hint = "write e.g. 'Mild asthma=mild;Severe asthma=severe;Healthy control=healthy'"
    out: dict[str, str] = {}
    for item in split_list(text):
        raw, sep, level = item.rpartition("=")
        raw, level = raw.strip(), level.strip()
        if not sep or not raw or not level:
            raise InputError(f"{where}: item {item!r} is not 'raw value=level'", hint=hint)
        if not LEVEL_NAME.match(level):
            raise InputError(f"{where}: level name {level!r} is not allowed", hint="use letters, "
                             "digits, '_', '.', '-' (it names comparisons and paths)")  # fmt: skip
        key = normalise_value(raw)
        if out.get(key, level) != level:
            raise InputError(f"{where}: raw value {raw!r} is mapped to both {out[key]!r} and "
                             f"{level!r}", hint=hint)  # fmt: skip
        out[key] = level
    if not out:
        raise InputError(f"{where} is empty", hint=hint)
    return out


@dataclass(frozen=True)
class CohortSpec:
    """One row of the cohort sheet, with list cells split and paths kept as written."""

    cohort: str
    role: str
    source: str
    data_type: str
    condition_column: str
    case_values: tuple[str, ...]
    control_values: tuple[str, ...]
    matrix: str | None = None
    samples: str | None = None
    annotation: str | None = None
    accession: str | None = None
    platform: str | None = None
    sample_column: str | None = None
    batch_column: str | None = None
    covariates: tuple[str, ...] = ()
    log2: str | None = None
    description: str | None = None
    subject_column: str | None = None
    tissue: str | None = None
    condition_levels: str | None = None
    design: str | None = None
    quant_type: str | None = None  # source tximport: salmon | kallisto
    tx2gene: str | None = None  # source tximport: transcript -> gene table
    counts_from_abundance: str | None = None  # source tximport: no | lengthScaledTPM

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CohortSpec:
        """The spec of one cohort-sheet row (empty cells are absent keys, lists split on ';')."""

        def text(key: str) -> str | None:
            value = row.get(key)
            if value is None or (isinstance(value, float) and pd.isna(value)):
                return None
            value = str(value).strip()
            return value or None

        return cls(
            cohort=str(row["cohort"]).strip(),
            role=str(row["role"]).strip(),
            source=str(row["source"]).strip(),
            data_type=str(row["data_type"]).strip(),
            condition_column=str(row["condition_column"]).strip(),
            case_values=tuple(split_list(row.get("case_values"))),
            control_values=tuple(split_list(row.get("control_values"))),
            matrix=text("matrix"),
            samples=text("samples"),
            annotation=text("annotation"),
            accession=text("accession"),
            platform=text("platform"),
            sample_column=text("sample_column"),
            batch_column=text("batch_column"),
            covariates=tuple(split_list(row.get("covariates"))),
            log2=text("log2"),
            description=text("description"),
            subject_column=text("subject_column"),
            tissue=text("tissue"),
            condition_levels=text("condition_levels"),
            design=text("design"),
            quant_type=text("quant_type"),
            tx2gene=text("tx2gene"),
            counts_from_abundance=text("counts_from_abundance"),
        )

    def level_map(self, case_label: str = "case", control_label: str = "control") -> dict[str, str]:
        """Normalised raw ``condition_column`` value -> condition level.

        From ``condition_levels`` (:func:`parse_condition_levels`) when given, else
        ``case_values`` -> ``case_label`` and ``control_values`` -> ``control_label`` (the
        two-level mapping of the sheets before issue 16). Keys are :func:`normalise_value`."""
        if self.condition_levels:
            return parse_condition_levels(self.condition_levels, self.cohort)
        lookup = {normalise_value(v): case_label for v in self.case_values}
        lookup.update({normalise_value(v): control_label for v in self.control_values})
        return lookup

    def levels(self, case_label: str = "case", control_label: str = "control") -> list[str]:
        """The condition levels this cohort's sheet row maps onto, in the order written."""
        return list(dict.fromkeys(self.level_map(case_label, control_label).values()))

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CohortSpec:
        """Inverse of :meth:`as_params` (what a script receives through Snakemake ``params``)."""
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        return cls(**fields)  # type: ignore[arg-type]  # the keys are as_params() output

    def as_params(self) -> dict[str, Any]:
        """A plain dict for Snakemake ``params:`` (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


def confined_path(value: str | Path, what: str, base: str | Path = ".") -> Path:
    """``base / value``, refusing a path that leaves the project directory ``base``.

    The check is lexical (``..`` and absolute paths are normalised, symbolic links are not
    followed), so a link placed inside the project (e.g. ``results`` pointing to scratch storage)
    is allowed, while ``../x`` or ``/etc/x`` is an :class:`InputError` naming ``what`` (the key or
    cell that holds the path). Used for outputs and caches only (config_check.check_output_dir):
    inputs may live anywhere (issue 19) and are pinned by their sha256 in the frozen config.
    """
    root = os.path.abspath(base)
    full = os.path.normpath(os.path.join(root, os.fspath(value)))
    if os.path.commonpath([root, full]) != root:
        raise InputError(
            f"{what}: path {os.fspath(value)!r} points outside the project directory {root}",
            hint="outputs stay inside the project: use a path relative to the project directory "
            "(a symbolic link inside the project may point to other storage)",
        )
    return Path(base) / value


#: Columns a cohort sheet may have (CohortSpec fields); anything else is most likely a typo.
SHEET_COLUMNS = tuple(f.name for f in dataclasses.fields(CohortSpec))
REQUIRED_SHEET_COLUMNS = ("cohort", "role", "source", "data_type", "condition_column")
#: one of the two condition mappings is required per row: condition_levels, or both of these
PAIR_SHEET_COLUMNS = ("case_values", "control_values")


def cohort_sheet_from_rows(rows: list[Any], where: str = "config `cohorts`") -> pd.DataFrame:
    """The cohort sheet given inline in the config as a list of row mappings (as in a frozen config).

    Cells become strings exactly as a TSV sheet would give them: absent/null -> NaN, a YAML list
    -> ';'-joined, booleans -> "yes"/"no" (YAML reads an unquoted ``no`` as false).
    """

    def cell(value: Any) -> Any:
        if value is None:
            return float("nan")
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, (list, tuple)):
            return LIST_SEPARATOR.join(str(v) for v in value)
        return str(value)

    if not rows:
        raise InputError(f"{where} is an empty list", hint="list at least one cohort")
    records = []
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise InputError(f"{where}: item {i} is not a mapping of column -> value")
        records.append({str(k).strip(): cell(v) for k, v in row.items()})
    columns = list(dict.fromkeys(k for r in records for k in r))
    return pd.DataFrame.from_records(records, columns=columns).astype(object)


def read_cohort_sheet(path: str | Path | list[dict[str, Any]]) -> pd.DataFrame:
    """Read the cohort sheet as strings (empty cells -> NaN), indexed by ``cohort``.

    ``path`` is the TSV path, or the sheet inline as a list of row mappings (config ``cohorts:``
    may be either; a frozen config always inlines it).
    """
    if isinstance(path, list):
        return _check_sheet(cohort_sheet_from_rows(path), "config `cohorts`", first_line=1)
    path = Path(path)
    if not path.exists():
        raise InputError(
            "cohort sheet does not exist",
            path=path,
            hint="set `cohorts:` in the config to the TSV listing your cohorts",
        )
    with reading(path):
        sheet = pd.read_csv(
            path,
            sep="\t",
            dtype=str,
            comment=None,
            skip_blank_lines=True,
            keep_default_na=False,
            index_col=False,
        )
    sheet.columns = [str(c).strip() for c in sheet.columns]
    # Only an empty cell is empty: "NA", "None", "null" are IDs or values like any other text.
    sheet = sheet.mask(sheet.apply(lambda column: column.str.strip() == ""))
    return _check_sheet(sheet, path, first_line=2)


def _check_sheet(sheet: pd.DataFrame, path: str | Path, first_line: int) -> pd.DataFrame:
    """IDs present, safe and unique; index by ``cohort``. ``first_line``: number of row 1."""
    item = "line" if first_line == 2 else "item"
    if "cohort" not in sheet.columns:
        raise InputError(
            "has no `cohort` column",
            path=path,
            hint="the first line must be the header; see config/README.md",
        )
    unknown = [c for c in sheet.columns if c not in SHEET_COLUMNS]
    if unknown:
        raise InputError(
            f"unknown column(s): {', '.join(map(repr, unknown))}",
            path=path,
            hint=f"allowed columns are {', '.join(SHEET_COLUMNS)} (see config/README.md)",
        )
    sheet["cohort"] = sheet["cohort"].str.strip()
    for i, cohort in enumerate(sheet["cohort"], start=first_line):
        if not isinstance(cohort, str) or not SAFE_ID.match(cohort):
            raise InputError(
                f"{item} {i}: cohort ID {cohort!r} is not allowed",
                path=path,
                hint="use letters, digits, '_', '-' and single dots; no '/', '..' or spaces",
            )
    duplicated = sheet["cohort"][sheet["cohort"].duplicated()].unique().tolist()
    if duplicated:
        raise InputError(f"duplicate cohort IDs: {', '.join(duplicated)}", path=path)
    from markerflow.io.config_check import check_cohort_ids

    check_cohort_ids(sheet["cohort"].tolist(), path=path)
    return sheet.set_index("cohort", drop=False)


def _require_file(value: str | None, key: str, cohort: str, base: Path) -> Path | None:
    """The existing file of a sheet cell (relative to ``base``, or absolute: inputs may live
    anywhere, e.g. on /scratch; the frozen config pins them by sha256)."""
    if value is None:
        return None
    resolved = base / value
    try:
        exists = resolved.is_file()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise InputError(
            f"cohort {cohort}: `{key}` path cannot be used ({exc.strerror})",
            hint=f"fix the `{key}` cell of cohort {cohort} in the cohort sheet",
        ) from None
    if not exists:
        where = "" if os.path.isabs(value) else f" (looked for {os.path.abspath(resolved)})"
        raise InputError(
            f"cohort {cohort}: `{key}` file {value!r} does not exist{where}",
            hint=f"fix the `{key}` cell of cohort {cohort} in the cohort sheet",
        )
    return resolved


def load_phenotypes(spec: CohortSpec, base: Path = Path(".")) -> pd.DataFrame | None:
    """The raw phenotype table of a cohort (one row per sample), or None if not yet available.

    For a series matrix this reads only the header lines, so it is cheap at DAG-build time.
    """
    from markerflow.io import geo

    if spec.samples is not None:
        return read_sample_sheet(base / spec.samples, spec.sample_column, (spec.condition_column,))
    if spec.source == "series_matrix" and spec.matrix is not None:
        return geo.read_series_matrix_header(base / spec.matrix)
    if spec.source in ("soft", "gds") and spec.matrix is not None:  # attributes only (no tables)
        from markerflow.io import soft

        if spec.source == "gds":
            return soft.read_gds(base / spec.matrix, tables=False).samples
        return soft.read_soft_family(base / spec.matrix, spec.platform, tables=False).samples
    return None


def read_sample_sheet(
    path: str | Path, sample_column: str | None = None, text_columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Read a user sample sheet (TSV/CSV) indexed by its sample-ID column, as strings.

    The sample-ID column and ``text_columns`` (the condition column) are taken verbatim: only an
    empty cell is missing there, so a sample ``NA`` or a condition ``None`` stays text. Other
    phenotype columns (covariates) keep pandas' missing-value words (``NA``, ``NaN``, ...).
    """
    path = Path(path)
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    column = sample_column or "sample"
    with reading(path, "sample sheet", sep=sep):
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, index_col=False)
    table.columns = [str(c).strip() for c in table.columns]
    verbatim = {column, *text_columns}
    for name in table.columns:
        cells = table[name]
        missing = cells.str.strip() == ""
        if name not in verbatim:
            missing |= cells.str.strip().isin(NA_WORDS)
        table[name] = cells.mask(missing)
    if column not in table.columns:
        raise InputError(
            f"sample sheet has no column {column!r} (columns: {', '.join(table.columns)})",
            path=path,
            hint="set `sample_column` in the cohort sheet to the column holding the sample IDs",
        )
    ids = table[column].str.strip()
    if ids.isna().any():
        rows = [str(i + 2) for i in ids.index[ids.isna()]]
        raise InputError(f"empty sample ID on line(s) {', '.join(rows)}", path=path)
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise InputError(f"duplicate sample IDs: {name_first(dup)}", path=path)
    table.index = pd.Index(ids, name="sample")
    return table


def check_study(
    config: dict[str, Any], sheet: pd.DataFrame, base: str | Path = "."
) -> list[CohortSpec]:
    """Check the study before any job runs; return the cohort specs in sheet order."""
    base = Path(base)
    study = config["study"]
    if normalise_value(study.get("case_label", "case")) == normalise_value(
        study.get("control_label", "control")
    ):
        raise InputError("config study.case_label and study.control_label must differ")
    from markerflow.io.config_check import check_outputs

    check_outputs(config, base)
    missing = [c for c in REQUIRED_SHEET_COLUMNS if c not in sheet.columns]
    if "condition_levels" not in sheet.columns:
        missing += [c for c in PAIR_SHEET_COLUMNS if c not in sheet.columns]
    if missing:
        raise InputError(
            f"the cohort sheet lacks required column(s): {', '.join(missing)}",
            path=config["cohorts"] if isinstance(config.get("cohorts"), str) else None,
        )
    specs = [CohortSpec.from_row(row) for row in sheet.to_dict("records")]
    if not any(s.role == "discovery" for s in specs):
        raise InputError(
            "the cohort sheet has no cohort with role `discovery`", path=config.get("cohorts")
        )
    for spec in specs:
        _check_cohort(spec, base)
    check_leakage(specs, base)
    for name, gmt in (config.get("enrichment", {}).get("libraries") or {}).items():
        if not (base / gmt).is_file():
            raise InputError(f"config enrichment.libraries.{name}: file {gmt!r} does not exist")
    return specs


def _check_cohort(spec: CohortSpec, base: Path) -> None:
    c = spec.cohort
    if spec.source in ("series_matrix", "matrix") and spec.matrix is None:
        raise InputError(f"cohort {c}: `matrix` is empty but source is {spec.source}")
    if spec.source == "matrix" and spec.samples is None:
        raise InputError(f"cohort {c}: source `matrix` needs a `samples` sheet")
    if spec.source == "geo" and spec.accession is None:
        raise InputError(f"cohort {c}: source `geo` needs an `accession` (GSE...)")
    if spec.source in ("soft", "gds"):
        _check_soft(spec)
    if spec.source == "tximport":
        _check_tximport(spec, base)
    elif spec.source != "geo":
        _require_file(spec.matrix, "matrix", c, base)  # soft/gds by accession: matrix empty
    _require_file(spec.samples, "samples", c, base)
    _require_file(spec.annotation, "annotation", c, base)
    if spec.condition_levels:
        spec.level_map()  # parse errors now
    elif not spec.case_values or not spec.control_values:
        raise InputError(
            f"cohort {c}: `case_values` and `control_values` must both be given (or "
            "`condition_levels`)"
        )
    overlap = {normalise_value(v) for v in spec.case_values} & {
        normalise_value(v) for v in spec.control_values
    }
    if overlap and not spec.condition_levels:
        raise InputError(f"cohort {c}: value(s) {sorted(overlap)} are both case and control")
    pheno = load_phenotypes(spec, base)
    if pheno is None:
        return  # downloaded later; checked at ingest
    where = spec.samples or spec.matrix
    for key, column in [
        ("condition_column", spec.condition_column),
        ("batch_column", spec.batch_column),
        ("subject_column", spec.subject_column),
        *[("covariates", cov) for cov in spec.covariates],
    ]:
        if column is not None and column not in pheno.columns:
            raise InputError(
                f"cohort {c}: {key} {column!r} is not a phenotype column of {where} "
                f"(available: {', '.join(map(str, pheno.columns))})",
                hint=f"fix `{key}` of cohort {c} in the cohort sheet",
            )
    present = pheno[spec.condition_column].dropna().map(normalise_value)
    mapped: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("case_values", spec.case_values),
        ("control_values", spec.control_values),
    )
    if spec.condition_levels:
        raw_values = [i.rpartition("=")[0].strip() for i in split_list(spec.condition_levels)]
        mapped = (("condition_levels", tuple(raw_values)),)
    for key, values in mapped:
        for value in values:
            if normalise_value(value) not in set(present):
                raise InputError(
                    f"cohort {c}: {key} value {value!r} matches no sample in column "
                    f"{spec.condition_column!r} of {where} (values present: "
                    f"{', '.join(sorted(set(pheno[spec.condition_column].dropna().astype(str))))})",
                    hint="correct the value (matching ignores case and surrounding spaces)",
                )


def _check_soft(spec: CohortSpec) -> None:
    """Sources ``soft``/``gds``: a local file (``matrix``) or an accession of the right kind."""
    c, kind = spec.cohort, "GSE" if spec.source == "soft" else "GDS"
    if spec.matrix is None and spec.accession is None:
        raise InputError(
            f"cohort {c}: source `{spec.source}` needs `matrix` (a downloaded "
            f"{'GSExxx_family.soft.gz' if kind == 'GSE' else 'GDSxxx.soft.gz'}) or `accession`",
        )
    if spec.matrix is None and not str(spec.accession).upper().startswith(kind):
        raise InputError(
            f"cohort {c}: source `{spec.source}` needs a {kind} accession, not {spec.accession!r}"
        )


def _check_tximport(spec: CohortSpec, base: Path) -> None:
    """Source ``tximport``: a folder of quantification files, quant_type, tx2gene, samples."""
    c = spec.cohort
    for key in ("matrix", "quant_type", "tx2gene", "samples"):
        if getattr(spec, key) is None:
            raise InputError(
                f"cohort {c}: source `tximport` needs `{key}`",
                hint="matrix = folder of salmon/kallisto outputs, quant_type = salmon|kallisto, "
                "tx2gene = transcript->gene table, samples = sample sheet",
            )
    if spec.data_type != "counts":
        raise InputError(f"cohort {c}: source `tximport` gives counts; set data_type `counts`")
    assert spec.matrix is not None
    folder = confined_path(spec.matrix, f"cohort {c}: `matrix`", base)
    if not folder.is_dir():
        raise InputError(
            f"cohort {c}: `matrix` folder {spec.matrix!r} does not exist",
            hint="point `matrix` at the folder holding one sub-folder (or file) per sample",
        )
    if spec.quant_type not in ("salmon", "kallisto"):
        raise InputError(f"cohort {c}: quant_type {spec.quant_type!r} is not salmon or kallisto")
    if (spec.counts_from_abundance or "no") not in ("no", "lengthScaledTPM"):
        raise InputError(
            f"cohort {c}: counts_from_abundance {spec.counts_from_abundance!r} is not supported",
            hint="use `no` (counts + length offsets for DESeq2) or `lengthScaledTPM`",
        )
    _require_file(spec.tx2gene, "tx2gene", c, base)


# --- leakage guards and study warnings (issue 15) --------------------------------------------------
GSM = re.compile(r"^GSM[0-9]+$")
#: Phenotype column names that suggest a subject identifier (repeated samples of one person).
SUBJECT_HINT = re.compile(r"subject|patient|donor|individual|participant|person", re.IGNORECASE)


def _same_file(a: Path, b: Path) -> bool:
    """Same path after resolving links, or same size and sha256 (a copy under another name)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    if not (a.is_file() and b.is_file()) or a.stat().st_size != b.stat().st_size:
        return False
    import hashlib

    def digest(path: Path) -> str:
        h = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()

    return digest(a) == digest(b)


def _gsm_accessions(pheno: pd.DataFrame) -> set[str]:
    """Every GSM accession in a phenotype table: its index and any cell matching ``GSM<digits>``."""
    values = pd.Series([*map(str, pheno.index), *pheno.astype(str).to_numpy().ravel()])
    return set(values[values.str.strip().str.match(GSM)].str.strip())


def _examples(items: set[str], k: int = 5) -> str:
    return ", ".join(sorted(items)[:k]) + (f" (+{len(items) - k} more)" if len(items) > k else "")


def check_leakage(specs: list[CohortSpec], base: str | Path = ".") -> None:
    """A validation cohort must share no matrix file, sample ID or GSM accession with a discovery
    cohort (it would test the signature on samples it was selected on). :class:`InputError` naming
    both cohorts. Cohorts downloaded later (source ``geo`` without a sheet) are compared by GSE
    accession here and by sample ID in the ``guards`` rule."""
    base = Path(base)
    disc = [s for s in specs if s.role == "discovery"]
    val = [s for s in specs if s.role == "validation"]
    pheno = {s.cohort: load_phenotypes(s, base) for s in [*disc, *val]}
    hint = ("a validation cohort must be independent of the discovery cohorts: remove it, or "
            "make it a discovery cohort")  # fmt: skip
    for v in val:
        for d in disc:
            pair = f"validation cohort {v.cohort} and discovery cohort {d.cohort}"
            if v.matrix and d.matrix and _same_file(base / v.matrix, base / d.matrix):
                raise InputError(f"{pair} share the matrix file ({v.matrix!r} = {d.matrix!r})",
                                 hint=hint)  # fmt: skip
            if v.accession and v.accession == d.accession and v.platform == d.platform:
                raise InputError(f"{pair} are the same GEO series {v.accession}", hint=hint)
            pv, pd_ = pheno[v.cohort], pheno[d.cohort]
            if pv is None or pd_ is None:
                continue
            shared = set(map(str, pv.index)) & set(map(str, pd_.index))
            if shared:
                raise InputError(f"{pair} share {len(shared)} sample ID(s): {_examples(shared)}",
                                 hint=hint + "; if the IDs only coincide, prefix them with the "
                                 "cohort")  # fmt: skip
            shared = _gsm_accessions(pv) & _gsm_accessions(pd_)
            if shared:
                raise InputError(f"{pair} share {len(shared)} GSM accession(s): "
                                 f"{_examples(shared)}", hint=hint)  # fmt: skip


def suspected_subjects(pheno: pd.DataFrame) -> str | None:
    """Why repeated samples of one subject are suspected in a phenotype table, or None: duplicate
    sample titles, or a subject-like column (patient, donor, ...) with repeated values."""
    if "title" in pheno.columns:
        titles = pheno["title"].dropna().astype(str).str.strip()
        dup = titles[titles.duplicated(keep=False)]
        if not dup.empty:
            return (
                f"duplicate sample titles (e.g. {dup.iloc[0]!r} x{int((dup == dup.iloc[0]).sum())})"
            )
    for column in pheno.columns:
        if SUBJECT_HINT.search(str(column)):
            values = pheno[column].dropna().astype(str).str.strip()
            counts = values[values != ""].value_counts()
            if (counts > 1).any():
                return (f"column {column!r} repeats values (e.g. {counts.index[0]!r} "
                        f"x{int(counts.iloc[0])})")  # fmt: skip
    return None


def study_warnings(specs: list[CohortSpec], base: str | Path = ".") -> list[str]:
    """Warnings for the report (not errors): one discovery cohort and no validation cohort
    (in-sample only), repeated subjects suspected but not declared (``subject_column``), and
    discovery cohorts of different declared tissues pooled in one meta-analysis."""
    base = Path(base)
    out = []
    disc = [s for s in specs if s.role == "discovery"]
    if len(disc) == 1 and not any(s.role == "validation" for s in specs):
        out.append("in-sample only: one discovery cohort and no validation cohort; every "
                   "performance figure is in-sample and nothing independent was tested")  # fmt: skip
    for spec in specs:
        if spec.subject_column:
            continue
        pheno = load_phenotypes(spec, base)
        why = None if pheno is None else suspected_subjects(pheno)
        if why:
            out.append(f"cohort {spec.cohort}: repeated samples of one subject suspected ({why}) "
                       "but no subject_column is declared; samples are treated as independent. "
                       "Set subject_column in the cohort sheet so one subject never sits on "
                       "both sides of a fold")  # fmt: skip
    tissues = {s.cohort: s.tissue for s in disc if s.tissue}
    if len({t.casefold() for t in tissues.values()}) > 1:
        listed = ", ".join(f"{c} ({t})" for c, t in tissues.items())
        out.append(f"discovery cohorts of different tissues are pooled in one meta-analysis: "
                   f"{listed}")  # fmt: skip
    return out
