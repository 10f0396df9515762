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

import numpy as np
import pandas as pd
from scipy.stats import median_abs_deviation

from markerflow.engines.pca import pca as engine_pca
from markerflow.io import geo


def log_cpm(counts: pd.DataFrame, prior: float = 1.0) -> pd.DataFrame:
    """log2(counts-per-million + prior) with library sizes from column sums."""
    values = counts.to_numpy(dtype=np.float64)
    lib = values.sum(axis=0)
    lib[lib == 0] = 1.0
    return pd.DataFrame(
        np.log2(values / lib * 1e6 + prior), index=counts.index, columns=counts.columns
    )


def decide_log2(values: np.ndarray, mode: str) -> bool:
    """Whether to log2-transform: ``mode`` is auto | yes | no."""
    if mode == "yes":
        return True
    if mode == "no":
        return False
    return bool(geo.needs_log2(values))


def to_log_scale(expression: pd.DataFrame, mode: str) -> tuple[pd.DataFrame, bool]:
    """Apply log2 if decided (values <= 0 become missing, as in GEO2R)."""
    transform = decide_log2(expression.to_numpy(dtype=np.float64), mode)
    if not transform:
        return expression.astype(np.float64), False
    values = expression.to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        logged = np.where(values > 0, np.log2(values), np.nan)
    return pd.DataFrame(logged, index=expression.index, columns=expression.columns), True


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
    # R's mad(): 1.4826 * median|x - median|. scipy's ``scale`` divides, and scale=1/1.4826 differs
    # from this product in the last bit for ~5% of inputs, so the constant multiplies here.
    mad = 1.4826 * median_abs_deviation(mean_dist)
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
    raw = expression.to_numpy(dtype=np.float64)
    if data_type == "counts":
        log_values, applied = log_cpm(expression), False
    else:
        log_values, applied = to_log_scale(expression, log2_mode)
    per_sample = sample_qc(log_values, samples, outlier_z)
    summary = cohort_qc_summary(cohort, data_type, raw, applied, log2_mode, per_sample)
    scores, ratio = pca(log_values.to_numpy(dtype=np.float64), 2)
    return per_sample, summary, scores, ratio
