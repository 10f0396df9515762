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


def decide_log2(values: np.ndarray, mode: str) -> bool:
    """Whether to log2-transform: ``mode`` is auto | yes | no."""
    if mode == "yes":
        return True
    if mode == "no":
        return False
    return bool(geo.needs_log2(values))


@dataclass
class Scaled:
    """An array cohort on the log2 scale, with every change made to its values recorded."""

    values: pd.DataFrame
    applied: bool
    alterations: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(ALTERATION_COLUMNS))
    )


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
    transform = decide_log2(values, mode)
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
        if mode == "no" and geo.needs_log2(values):
            log.warning(
                "cohort %s: log2: no on values that look linear (GEO2R's quantile rule would "
                "transform them); limma then compares intensities, not log ratios",
                cohort,
            )
            table = _alteration_table(cohort, [{"level": "warning", "alteration": "log2 not "
                                      "taken on values that look linear (log2: no)", "cells": 0,
                                      "features": 0, "samples": 0, "examples": ""}])  # fmt: skip
        return Scaled(expression.astype(np.float64), False, table)
    if mode == "yes" and not geo.needs_log2(values):
        message = (
            f"cohort {cohort}: log2: yes on values that already look log-scaled (GEO2R's "
            "quantile rule would not transform them); taking log2 twice compresses every effect"
        )
        log.warning(message)
        rows.append({"level": "warning", "alteration": "log2 forced on values that look "
                     "log-scaled", "cells": 0,
                     "features": 0, "samples": 0, "examples": ""})  # fmt: skip
    nonpositive = values <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        logged = np.where(nonpositive, np.nan, np.log2(np.where(nonpositive, 1.0, values)))
    scaled = pd.DataFrame(logged, index=expression.index, columns=expression.columns)
    if nonpositive.any():
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
    return Scaled(scaled, True, _alteration_table(cohort, rows))


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
) -> pd.DataFrame:
    """Cohort-level QC verdicts as metric/value rows."""
    finite = raw[np.isfinite(raw)]
    quantiles = (
        np.quantile(finite, [0, 0.25, 0.5, 0.75, 0.99, 1.0]) if finite.size else [np.nan] * 6
    )
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
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """QC of one ingested cohort: (per-sample table, summary, PCA scores, explained ratios)."""
    check_matrix_axes(expression, f"cohort {cohort} (qc)")
    raw = expression.to_numpy(dtype=np.float64)
    if data_type == "counts":
        log_values, applied = log_cpm(expression), False
    else:
        log_values, applied = to_log_scale(expression, log2_mode, cohort)
    per_sample = sample_qc(log_values, samples, outlier_z)
    summary = cohort_qc_summary(cohort, data_type, raw, applied, log2_mode, per_sample)
    scores, ratio = pca(log_values.to_numpy(dtype=np.float64), 2)
    return per_sample, summary, scores, ratio
