"""Per-cohort quality control: value scale, missing values, outlier samples, PCA.

- Scale: GEO2R's quantile rule (:func:`markerflow.io.geo.needs_log2`) decides whether array values need
  log2; a sheet/config override wins. Counts are shown as log2(CPM + 1).
- Outlier samples: the distance between arrays of arrayQualityMetrics (Kauffmann et al. 2009) —
  for each sample, the mean root-mean-square difference to every other sample; a sample is flagged
  when its robust z-score (median/MAD, MAD scaled by 1.4826 as R's ``mad``) exceeds ``outlier_z``. Flagged samples are reported, not
  removed: removing samples is the analyst's decision.
- PCA: of the gene-centred matrix over genes without missing values (:func:`markerflow.engines.pca.pca`:
  top components from the samples x samples Gram matrix, or a truncated SVD for many samples).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from markerflow.engines.pca import pca as engine_pca
from markerflow.errors import InputError, name_first
from markerflow.io import geo
from markerflow.io.matrices import check_matrix_axes

log = logging.getLogger(__name__)


def log_cpm(counts: pd.DataFrame, prior: float = 1.0) -> pd.DataFrame:
    """log2(counts-per-million + prior) with library sizes from column sums."""
    values = counts.to_numpy(dtype=np.float64)
    lib = values.sum(axis=0)
    lib[lib == 0] = 1.0
    return pd.DataFrame(
        np.log2(values / lib * 1e6 + prior), index=counts.index, columns=counts.columns
    )


#: Largest |value| accepted on a log2 scale: log2 expression stays below ~50 (2^50 ~ 1e15 reads);
#: a value above 1e6 means the data are not on a log scale (or are corrupt), whatever ``log2`` says.
MAX_LOG_SCALE_ABS = 1e6
#: Columns of the per-cohort alterations table (``genes/<cohort>/alterations.tsv``).
ALTERATION_COLUMNS = (
    "cohort", "stage", "level", "alteration", "cells", "features", "samples", "examples",
)  # fmt: skip


def decide_log2(mode: str, looks_linear: bool) -> bool:
    """Whether to log2-transform: ``mode`` is auto | yes | no; auto follows GEO2R's rule
    (``looks_linear``, :func:`markerflow.io.geo.log2_rule`)."""
    if mode == "yes":
        return True
    if mode == "no":
        return False
    return looks_linear


@dataclass
class Scaled:
    """An array cohort on the log2 scale, with every change made to its values recorded."""

    values: pd.DataFrame
    applied: bool
    alterations: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(ALTERATION_COLUMNS))
    )
    #: GEO2R's quantiles of the values as read (:func:`markerflow.io.geo.raw_quantiles`), which
    #: the QC summary reports; None when not computed
    raw_quantiles: np.ndarray | None = None


def _examples(frame: pd.DataFrame, mask: np.ndarray, n: int = 3) -> str:
    rows, cols = np.nonzero(mask)
    return "; ".join(
        f"{frame.index[r]}/{frame.columns[c]}={frame.iat[r, c]:.6g}"
        for r, c in zip(rows[:n], cols[:n], strict=True)
    )


def log_scale(expression: pd.DataFrame, mode: str, cohort: str = "cohort") -> Scaled:
    """Bring array values to the log2 scale; the one place where array values are altered.

    Method (GEO2R, ``ex[which(ex <= 0)] <- NaN; exprs(gset) <- log2(ex)``): with ``mode`` yes, or
    auto and :func:`markerflow.io.geo.needs_log2`, values <= 0 become missing and the rest log2.
    Deviation from GEO2R: nothing is silent. Cells set to missing are counted (cells, probes,
    samples, examples) in the log and in the returned alterations table, which the genes stage
    writes and the report shows. Stops with an :class:`InputError` naming the cohort when:

    - a sample has no value at all (as read, or after values <= 0 became missing);
    - the values are not on a log scale although none is taken (|value| > ``MAX_LOG_SCALE_ABS``
      under ``no`` or auto), e.g. 1e300 with ``log2: no`` would give log2 fold changes of 1e299.

    ``yes`` on values that already look log-scaled (GEO2R's rule says no), and ``no`` on values
    that look linear (the rule says yes), are warnings, recorded in the table too.
    """
    values = expression.to_numpy(dtype=np.float64)
    rows: list[dict[str, object]] = []
    _no_sample_all_missing(expression, np.isnan(values), cohort, "as read")
    quantiles = geo.raw_quantiles(values)  # once: the rule below, its warnings and the QC summary
    looks_linear = geo.log2_rule(quantiles)
    transform = decide_log2(mode, looks_linear)
    if not transform:
        big = np.abs(np.nan_to_num(values)) > MAX_LOG_SCALE_ABS
        if big.any():
            raise InputError(
                f"cohort {cohort}: {int(big.sum())} value(s) exceed {MAX_LOG_SCALE_ABS:g} in "
                f"absolute value (largest {np.nanmax(np.abs(values)):.6g}; e.g. "
                f"{_examples(expression, big)}), but no log2 is taken (log2: {mode}); "
                "values on a log2 scale stay below about 50",
                hint="set `log2: yes` for this cohort if the values are linear intensities or "
                "counts; otherwise check the matrix for corrupt values",
            )
        table = _alteration_table(cohort, [])
        if mode == "no" and looks_linear:
            log.warning(
                "cohort %s: log2: no on values that look linear (GEO2R's quantile rule would "
                "transform them); limma then compares intensities, not log ratios",
                cohort,
            )
            table = _alteration_table(cohort, [{"level": "warning", "alteration": "log2 not "
                                      "taken on values that look linear (log2: no)", "cells": 0,
                                      "features": 0, "samples": 0, "examples": ""}])  # fmt: skip
        return Scaled(expression.astype(np.float64), False, table, quantiles)
    if mode == "yes" and not looks_linear:
        message = (
            f"cohort {cohort}: log2: yes on values that already look log-scaled (GEO2R's "
            "quantile rule would not transform them); taking log2 twice compresses every effect"
        )
        log.warning(message)
        rows.append({"level": "warning", "alteration": "log2 forced on values that look "
                     "log-scaled", "cells": 0,
                     "features": 0, "samples": 0, "examples": ""})  # fmt: skip
    nonpositive = values <= 0
    any_nonpositive = bool(nonpositive.any())
    with np.errstate(invalid="ignore", divide="ignore"):
        if any_nonpositive:
            logged = np.where(nonpositive, np.nan, np.log2(np.where(nonpositive, 1.0, values)))
        else:  # the same log2 of the same values, without two copies of the matrix
            logged = np.log2(values)
    scaled = pd.DataFrame(logged, index=expression.index, columns=expression.columns)
    if any_nonpositive:
        n_cells = int(nonpositive.sum())
        n_rows = int(nonpositive.any(axis=1).sum())
        n_samples = int(nonpositive.any(axis=0).sum())
        examples = _examples(expression, nonpositive)
        log.warning(
            "cohort %s: log2 set %d value(s) <= 0 to missing (GEO2R), in %d of %d features and "
            "%d of %d samples; e.g. %s",
            cohort, n_cells, n_rows, values.shape[0], n_samples, values.shape[1], examples,
        )  # fmt: skip
        rows.append({"level": "warning",
                     "alteration": "values <= 0 set to missing before log2 (GEO2R)",
                     "cells": n_cells, "features": n_rows, "samples": n_samples,
                     "examples": examples})  # fmt: skip
        _no_sample_all_missing(expression, np.isnan(logged), cohort, "after values <= 0 became "
                               "missing for log2")  # fmt: skip
        emptied = np.isnan(logged).all(axis=1) & ~np.isnan(values).all(axis=1)
        if emptied.any():
            log.warning(
                "cohort %s: %d feature(s) have no value left after log2 (not tested): %s",
                cohort, int(emptied.sum()), name_first(expression.index[emptied]),
            )  # fmt: skip
            rows.append({"level": "warning",
                         "alteration": "features with no value left after log2 (not tested)",
                         "cells": int(nonpositive[emptied].sum()), "features": int(emptied.sum()),
                         "samples": 0, "examples": name_first(expression.index[emptied], 3)})  # fmt: skip
    return Scaled(scaled, True, _alteration_table(cohort, rows), quantiles)


def _alteration_table(cohort: str, rows: list[dict[str, object]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=list(ALTERATION_COLUMNS[2:]))
    table.insert(0, "stage", "log2")
    table.insert(0, "cohort", cohort)
    return table


def _no_sample_all_missing(
    expression: pd.DataFrame, missing: np.ndarray, cohort: str, when: str
) -> None:
    empty = missing.all(axis=0) if missing.shape[0] else np.zeros(missing.shape[1], dtype=bool)
    if missing.shape[0] and empty.any():
        raise InputError(
            f"cohort {cohort}: {int(empty.sum())} sample(s) have no value at all ({when}): "
            f"{name_first(expression.columns[empty])}",
            hint="remove the sample(s) from the sample sheet (or check the matrix column and "
            "the log2 setting)",
        )


def to_log_scale(
    expression: pd.DataFrame, mode: str, cohort: str = "cohort"
) -> tuple[pd.DataFrame, bool]:
    """:func:`log_scale` without its alterations table: ``(values, log2 applied)``."""
    result = log_scale(expression, mode, cohort)
    return result.values, result.applied


def array_log_scale(
    expression: pd.DataFrame, data_type: str, mode: str, cohort: str = "cohort"
) -> Scaled | None:
    """:func:`log_scale` of an array cohort (None for counts), checked as :func:`cohort_qc` checks
    its input: the genes job computes it once and hands it to :func:`cohort_qc` and
    :func:`markerflow.stages.genes.map_cohort_genes`, which would otherwise each compute it (one
    log2 and one quantile pass over the matrix instead of two log2 and three quantile passes)."""
    if data_type != "array":
        return None
    check_matrix_axes(expression, f"cohort {cohort} (qc)")
    return log_scale(expression, mode, cohort)


def reusable(scaled: Scaled | None, expression: pd.DataFrame) -> bool:
    """Whether ``scaled`` is :func:`log_scale` of ``expression``'s rows and columns, in order (then
    its values are what :func:`log_scale` would return for ``expression``)."""
    return (
        scaled is not None
        and scaled.values.columns.equals(expression.columns)
        and scaled.values.index.equals(expression.index)
    )


def pca(values: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Sample scores and explained-variance ratios over the genes without missing values."""
    return engine_pca(values[~np.isnan(values).any(axis=1)], n_components)


def sample_distances(values: np.ndarray) -> np.ndarray:
    """Root-mean-square difference between every pair of samples over complete genes."""
    complete = values[~np.isnan(values).any(axis=1)]
    sq = np.sum(complete**2, axis=0)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * complete.T @ complete, 0.0)
    return np.sqrt(d2 / max(complete.shape[0], 1))


def sample_qc(log_values: pd.DataFrame, samples: pd.DataFrame, outlier_z: float) -> pd.DataFrame:
    """One row per sample: condition, batch, missing fraction, median, IQR, distance, outlier flag."""
    values = log_values.to_numpy(dtype=np.float64)
    dist = sample_distances(values)
    n = dist.shape[0]
    mean_dist = dist.sum(axis=1) / max(n - 1, 1)
    med = np.median(mean_dist)
    # R's mad(): 1.4826 * median|x - median|. (scipy.stats.median_abs_deviation computes the same
    # median|x - median| then divides by ``scale``; scale=1/1.4826 differs from this product in the
    # last bit for ~5% of inputs, so the constant multiplies here. numpy: no scipy.stats import.)
    mad = 1.4826 * np.median(np.abs(mean_dist - med))
    robust_z = (mean_dist - med) / mad if mad > 0 else np.zeros(n)
    q1, q2, q3 = np.nanpercentile(values, [25, 50, 75], axis=0)
    sheet = samples.set_index("sample").loc[log_values.columns]
    return pd.DataFrame(
        {
            "sample": log_values.columns,
            "condition": sheet["condition"].to_numpy(),
            "batch": sheet["batch"].astype(str).to_numpy(),
            "missing_fraction": np.isnan(values).mean(axis=0),
            "median": q2,
            "iqr": q3 - q1,
            "mean_distance": mean_dist,
            "distance_robust_z": robust_z,
            "outlier": robust_z > outlier_z,
        }
    )


def cohort_qc_summary(
    cohort: str,
    data_type: str,
    raw: np.ndarray,
    log2_applied: bool,
    log2_mode: str,
    per_sample: pd.DataFrame,
    raw_quantiles: np.ndarray | None = None,
) -> pd.DataFrame:
    """Cohort-level QC verdicts as metric/value rows. ``raw_quantiles``: GEO2R's quantiles of
    ``raw`` (:func:`markerflow.io.geo.raw_quantiles`) when the caller has them already."""
    found = geo.raw_quantiles(raw) if raw_quantiles is None else raw_quantiles
    quantiles = found if len(found) else [np.nan] * 6
    rows = {
        "cohort": cohort,
        "data_type": data_type,
        "features": raw.shape[0],
        "samples": raw.shape[1],
        "missing_values": int(np.isnan(raw).sum()),
        "raw_quantiles_0_25_50_75_99_100": ";".join(f"{q:.6g}" for q in quantiles),
        "log2_mode": log2_mode,
        "log2_applied": log2_applied if data_type == "array" else "log2(CPM+1) for QC",
        "outlier_samples": ";".join(per_sample.loc[per_sample["outlier"], "sample"]) or "none",
    }
    return pd.DataFrame({"metric": list(rows), "value": [str(v) for v in rows.values()]})


def cohort_qc(
    expression: pd.DataFrame,
    samples: pd.DataFrame,
    data_type: str,
    log2_mode: str,
    outlier_z: float,
    cohort: str,
    scaled: Scaled | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """QC of one ingested cohort: (per-sample table, summary, PCA scores, explained ratios).

    ``scaled``: :func:`array_log_scale` of ``expression`` when the caller has it (used only if it
    is of the same rows and columns, see :func:`reusable`)."""
    check_matrix_axes(expression, f"cohort {cohort} (qc)")
    raw = expression.to_numpy(dtype=np.float64)
    quantiles = None
    if data_type == "counts":
        log_values, applied = log_cpm(expression), False
    else:
        if scaled is None or not reusable(scaled, expression):
            scaled = log_scale(expression, log2_mode, cohort)
        log_values, applied, quantiles = scaled.values, scaled.applied, scaled.raw_quantiles
    per_sample = sample_qc(log_values, samples, outlier_z)
    summary = cohort_qc_summary(
        cohort, data_type, raw, applied, log2_mode, per_sample, raw_quantiles=quantiles
    )
    scores, ratio = pca(log_values.to_numpy(dtype=np.float64), 2)
    return per_sample, summary, scores, ratio
