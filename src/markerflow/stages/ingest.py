"""Ingest one cohort: expression (or count) matrix + a standard sample sheet.

The matrix is read by :func:`markerflow.io.matrices.read_feature_matrix`.

Phenotype mapping is explicit: the cohort sheet maps raw values of ``condition_column`` onto the
study's condition levels (``condition_levels``: "Mild asthma=mild;Severe asthma=severe;Healthy
control=healthy"), or, as before issue 16, lists which raw values mean case and which mean control
(e.g. "Mild asthma;Severe asthma" -> asthma). Values are compared after
stripping whitespace and case-folding; nothing else is guessed. Samples with any other value, a
missing value, or a missing covariate are excluded and listed with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from markerflow.contracts import SAMPLE_COLUMNS
from markerflow.errors import InputError, name_first
from markerflow.io.matrices import read_feature_matrix
from markerflow.io.study import CohortSpec, load_phenotypes, normalise_value
from markerflow.model.design import BATCH, CONDITION, SUBJECT, parse_formula

log = logging.getLogger(__name__)

#: Batch value written when a cohort has no within-cohort batch column.
SINGLE_BATCH = "1"
#: Fewest samples per condition: one sample has no within-group variance (Hedges' g is undefined,
#: DESeq2 cannot estimate dispersions).
MIN_GROUP_SIZE = 2


@dataclass
class IngestedCohort:
    """One cohort after ingest: its matrix, its standard sample sheet, the samples left out."""

    expression: pd.DataFrame  # features x samples, index `feature_id`
    samples: pd.DataFrame  # SAMPLE_COLUMNS + covariates, one row per kept sample
    excluded: pd.DataFrame  # sample, raw_condition, reason


def check_sheet_matches(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    path: str | None = None,
    allow_extra: bool = False,
) -> pd.DataFrame:
    """Check that the sample sheet and the count matrix name the same samples.

    Returns ``counts`` with its columns in the sheet's order. Samples in the sheet but not in the
    matrix are always an error; samples in the matrix but not in the sheet are an error unless
    ``allow_extra`` (then they are dropped with a warning). Both lists are named in the message.
    """
    if "sample" not in samples.columns:
        raise InputError("sample sheet has no 'sample' column", path=path)
    sheet = samples["sample"].astype(str)
    if sheet.duplicated().any():
        raise InputError(
            f"duplicate sample IDs in the sample sheet: "
            f"{name_first(sorted(set(sheet[sheet.duplicated()])))}",
            path=path,
        )
    cols = pd.Index(counts.columns.astype(str))
    missing = [s for s in sheet if s not in set(cols)]
    extra = [c for c in cols if c not in set(sheet)]
    if missing or (extra and not allow_extra):
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} sample(s) in the sheet but not in the count matrix: "
                f"{name_first(missing)}"
            )
        if extra:
            parts.append(
                f"{len(extra)} sample(s) in the count matrix but not in the sheet: "
                f"{name_first(extra)}"
            )
        raise InputError(
            "sample sheet and count matrix do not match: " + "; ".join(parts),
            path=path,
            hint="sample IDs must be identical (case and spaces count) in the sheet's "
            "'sample' column and the matrix header",
        )
    if extra:
        log.warning(
            "dropping %d count-matrix column(s) not in the sample sheet: %s",
            len(extra),
            name_first(extra),
        )
    out = counts.copy()
    out.columns = cols
    return out.loc[:, list(sheet)]


def map_conditions(
    raw: pd.Series,
    case_values: list[str],
    control_values: list[str],
    case_label: str,
    control_label: str,
) -> pd.Series:
    """Map raw phenotype values to case/control labels; unmatched values become NaN."""
    lookup = {normalise_value(v): case_label for v in case_values}
    lookup.update({normalise_value(v): control_label for v in control_values})
    return map_levels(raw, lookup)


def map_levels(raw: pd.Series, lookup: dict[str, str]) -> pd.Series:
    """Map raw phenotype values through ``lookup`` (normalised raw value -> level); else NaN."""
    return raw.map(lambda v: lookup.get(normalise_value(v)) if pd.notna(v) else None)


def design_columns(spec: CohortSpec) -> list[str]:
    """Phenotype columns the cohort's model uses besides condition/batch/subject: the
    ``covariates``, then the other variables of the ``design`` formula (written to samples.tsv)."""
    columns = list(spec.covariates)
    if spec.design:
        fixed = {CONDITION, BATCH, SUBJECT}
        columns += [v for v in parse_formula(spec.design).variables() if v not in fixed]
    return list(dict.fromkeys(columns))


def build_sample_sheet(
    pheno: pd.DataFrame, spec: CohortSpec, case_label: str, control_label: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Standard sample sheet (sample, cohort, condition, batch, covariates[, subject]) + excluded.

    ``condition`` holds the level names: the sheet's ``condition_levels`` mapping
    (:meth:`CohortSpec.level_map`), or ``case_values`` -> ``case_label`` and ``control_values``
    -> ``control_label``. Raw values mapped to no level, a missing batch or covariate exclude the
    sample (with the reason). Each level needs :data:`MIN_GROUP_SIZE` samples; with
    ``condition_levels`` a level below that is only logged (its comparisons skip the cohort) as
    long as two levels have enough samples.
    """
    raw = pheno[spec.condition_column]
    condition = map_levels(raw, spec.level_map(case_label, control_label))
    covariates = design_columns(spec)
    sheet = pd.DataFrame(
        {
            "sample": pheno.index.astype(str),
            "cohort": spec.cohort,
            "condition": condition.to_numpy(),
            "batch": (
                pheno[spec.batch_column].astype("string").str.strip().to_numpy()
                if spec.batch_column
                else SINGLE_BATCH
            ),
        },
        index=pheno.index,
    )
    reasons = pd.Series("", index=pheno.index, dtype=object)
    reasons[sheet["condition"].isna()] = (
        f"{spec.condition_column} value is mapped to no level by condition_levels"
        if spec.condition_levels
        else f"{spec.condition_column} value matches neither case_values nor control_values"
    )
    if spec.batch_column:
        reasons[(reasons == "") & sheet["batch"].isna()] = f"missing {spec.batch_column}"
    for covariate in covariates:
        values = pheno[covariate].astype("string").str.strip()
        values = values.mask(values.isin(["", "NA", "NaN", "nan", "null"]))
        reasons[(reasons == "") & values.isna()] = f"missing covariate {covariate}"
        numeric = pd.to_numeric(values, errors="coerce")
        sheet[covariate] = numeric if numeric.notna().sum() == values.notna().sum() else values
    extra = []
    if spec.subject_column:  # samples of one subject stay on one side of every CV fold
        subject = pheno[spec.subject_column].astype("string").str.strip()
        sheet["subject"] = subject.mask(subject == "").fillna(pheno.index.to_series().astype(str))
        extra = ["subject"]
    excluded = pd.DataFrame(
        {
            "sample": pheno.index.astype(str),
            "raw_condition": raw.astype("string").to_numpy(),
            "reason": reasons.to_numpy(),
        }
    )
    excluded = excluded[excluded["reason"] != ""].reset_index(drop=True)
    kept = sheet[reasons == ""].reset_index(drop=True)
    labels: list[str] = [case_label, control_label]
    if spec.condition_levels:
        levels = spec.levels(case_label, control_label)
        small = [lv for lv in levels if int((kept["condition"] == lv).sum()) < MIN_GROUP_SIZE]
        labels = small if len(levels) - len(small) < 2 else []
        for lv in [] if labels else small:
            log.warning(
                "cohort %s: level %r has %d sample(s) (fewer than %d): comparisons with it "
                "cannot use this cohort",
                spec.cohort,
                lv,
                int((kept["condition"] == lv).sum()),
                MIN_GROUP_SIZE,
            )
    for label in labels:
        n = int((kept["condition"] == label).sum())
        if n < MIN_GROUP_SIZE:
            raise InputError(
                f"cohort {spec.cohort}: {n} {label!r} sample(s) left after mapping "
                f"{spec.condition_column} (and excluding missing covariates); each condition "
                f"needs at least {MIN_GROUP_SIZE} samples (within-group variance, Hedges' g)",
                hint="check case_values/control_values (or condition_levels), or remove the "
                "cohort from the sheet",
            )
    return kept[[*SAMPLE_COLUMNS, *covariates, *extra]], excluded


def ingest_cohort(
    spec: CohortSpec,
    case_label: str,
    control_label: str,
    matrix_path: str | Path | None = None,
    series_path: str | Path | None = None,
) -> IngestedCohort:
    """Read a cohort's matrix and phenotypes and align them.

    Sources: ``series_matrix``/``geo`` arrays (the series matrix holds both); ``geo`` counts
    (``matrix_path`` = NCBI's raw-count table, phenotypes from the series matrix ``series_path``);
    ``soft`` (a GSE family SOFT file, the sheet's ``platform``) and ``gds`` (a GDS SOFT file), see
    :mod:`markerflow.io.soft`; ``tximport`` (``matrix_path`` = the gene counts of the tximport rule) and ``matrix`` (a plain
    matrix; phenotypes from the sample sheet).

    Samples in the matrix but absent from the phenotype table are excluded (and reported); samples
    in the phenotype table but absent from the matrix are an error naming them.
    """
    from markerflow.io import geo

    matrix_file = matrix_path or spec.matrix
    if matrix_file is None:
        raise InputError(
            f"cohort {spec.cohort}: no matrix file given", hint="set the sheet's matrix column"
        )
    matrix_path = Path(matrix_file)
    if spec.source == "geo" and spec.data_type == "array":
        # a cached series-matrix download: its sha256 is checked at every use
        from markerflow.io.fetch import verify_prepared

        verify_prepared(matrix_path)
    if spec.source == "geo" and spec.data_type == "counts":
        if series_path is None:
            raise InputError(f"cohort {spec.cohort}: no series matrix given for the phenotypes")
        expression = read_feature_matrix(matrix_path, integer=True).matrix
        pheno = geo.read_series_matrix_header(series_path)
        if spec.samples is not None:
            pheno = load_phenotypes(spec)
    elif spec.source in ("soft", "gds"):
        from markerflow.io import soft

        if spec.source == "soft":
            parsed = soft.read_soft_family(matrix_path, spec.platform)
            expression, pheno = parsed.expression, parsed.samples
        else:
            gds = soft.read_gds(matrix_path)
            expression, pheno = gds.expression, gds.samples
        if spec.samples is not None:
            pheno = load_phenotypes(spec)
    elif spec.source in ("series_matrix", "geo"):
        series = geo.read_series_matrix(matrix_path)
        expression = series.expression
        pheno = series.samples
        if spec.samples is not None:
            pheno = load_phenotypes(spec)
    else:
        expression = read_feature_matrix(matrix_path, integer=spec.data_type == "counts").matrix
        pheno = load_phenotypes(spec)
    assert pheno is not None
    missing = [s for s in pheno.index if s not in expression.columns]
    if missing:
        raise InputError(
            f"cohort {spec.cohort}: {len(missing)} sample(s) of the sample sheet are not columns "
            f"of the matrix: {name_first(missing)}",
            path=matrix_path,
            hint="sample IDs in the sheet must equal the matrix column names",
        )
    samples, excluded = build_sample_sheet(pheno, spec, case_label, control_label)
    extra = [s for s in expression.columns if s not in pheno.index]
    if extra:
        excluded = pd.concat(
            [
                excluded,
                pd.DataFrame(
                    {"sample": extra, "raw_condition": pd.NA, "reason": "not in the sample sheet"}
                ),
            ],
            ignore_index=True,
        )
    expression = expression.loc[:, samples["sample"].tolist()]
    for _, row in excluded.iterrows():
        log.warning(
            "cohort %s: sample %s excluded: %s (value %s)",
            spec.cohort,
            row["sample"],
            row["reason"],
            row["raw_condition"],
        )
    log.info(
        "cohort %s: %d features, %d samples kept (%s), %d excluded",
        spec.cohort,
        expression.shape[0],
        expression.shape[1],
        samples["condition"].value_counts().to_dict(),
        len(excluded),
    )
    return IngestedCohort(expression=expression, samples=samples, excluded=excluded)
