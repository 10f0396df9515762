"""Guards that need the data (rule ``guards``): near-duplicate samples across cohorts, shared
sample IDs, and the study's warnings collected in one table for the report.

Near-duplicate profiles
-----------------------
For every pair of cohorts, on the genes both measure: each gene is centred on its mean over the
samples of *both* cohorts, and each sample's centred profile is standardised over those genes; the
Pearson correlation of two samples is then ``z_a . z_b / g``. A pair with correlation
``>= threshold`` (0.99) is the same RNA (or the same array) in two cohorts, an error naming both
samples. Deviation from a plain correlation of the profiles, and why: raw log2 profiles of
unrelated samples of one tissue routinely correlate above 0.98 (the gene-mean profile dominates),
so the shared mean profile is removed first; it is the pooled mean of the pair (not each cohort's
own mean, which would differ between the two copies of a duplicated sample by the cohort-mean
noise and hide duplicates in small cohorts). A duplicate only processed differently (another
platform or normalisation) is not detectable this way. Missing values count as the mean (0 after
centring). At least ``min_genes`` (50) common genes are needed, otherwise the pair is skipped
(logged).

The check reads validation cohorts, so its output feeds only the validation side of the DAG
(never candidates or the signature build).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from markerflow.errors import InputError

log = logging.getLogger(__name__)

GUARD_COLUMNS = ("kind", "message")


@dataclass(frozen=True)
class _Profiles:
    """One cohort's matrix prepared once for all its pairs: values with NaN as 0, which values
    are measured (None: all), and per gene the sum and count of the measured values."""

    genes: pd.Index
    columns: pd.Index
    values: np.ndarray
    measured: np.ndarray | None
    sums: np.ndarray
    counts: np.ndarray


def _profiles(matrix: pd.DataFrame) -> _Profiles:
    x = np.array(matrix.to_numpy(dtype=np.float64), order="C")
    missing = np.isnan(x)
    measured = None
    if missing.any():
        measured = ~missing
        x[missing] = 0.0
    counts = np.full(x.shape[0], float(x.shape[1])) if measured is None else measured.sum(axis=1)
    return _Profiles(matrix.index, matrix.columns, x, measured, x.sum(axis=1), counts)


def _standardised(p: _Profiles, rows: np.ndarray | None, mean: np.ndarray) -> np.ndarray:
    """The cohort's columns on ``rows``, centred on the pair's gene means (missing values: 0
    after centring), then each column standardised over the genes."""
    x = p.values if rows is None else p.values[rows]
    measured = p.measured if rows is None or p.measured is None else p.measured[rows]
    x = x - mean[:, None] if measured is None else x - measured * mean[:, None]
    sd = x.std(axis=0, keepdims=True)
    x -= x.mean(axis=0, keepdims=True)
    x /= np.where(sd > 0, sd, np.inf)
    return x


def near_duplicates(
    matrices: Mapping[str, pd.DataFrame | str | Path],
    threshold: float = 0.99,
    min_genes: int = 50,
) -> list[tuple[str, str, str, str, float]]:
    """(cohort a, sample a, cohort b, sample b, correlation) of every cross-cohort pair of samples
    whose centred profiles correlate at ``>= threshold`` (see the module docstring).

    Each matrix is converted once; a pair then costs its centring (the pair's gene means come
    from the cohorts' per-gene sums and counts) and one matrix product. The pair mean is summed
    per cohort first, so it can differ from a mean over the joined columns in the last bit;
    correlations agree with the direct formula to ~1e-13 (tests/test_guards.py)."""
    return _near_duplicates(prepare(matrices), threshold, min_genes)


def prepare(matrices: Mapping[str, pd.DataFrame | str | Path]) -> dict[str, _Profiles]:
    """Each cohort's matrix (a frame, or a Parquet path read here, one at a time, so only one
    matrix is held twice at any moment) prepared for the pair checks."""
    from markerflow.io.tables import read_matrix

    prepared = {}
    for cohort, matrix in matrices.items():
        frame = matrix if isinstance(matrix, pd.DataFrame) else read_matrix(matrix)
        prepared[cohort] = _profiles(frame)
        del frame
    return prepared


def _near_duplicates(
    prepared: Mapping[str, _Profiles], threshold: float, min_genes: int
) -> list[tuple[str, str, str, str, float]]:
    names = list(prepared)
    found = []
    for i, a in enumerate(names):
        pa = prepared[a]
        for b in names[i + 1 :]:
            pb = prepared[b]
            if pa.genes.equals(pb.genes):
                common, ia, ib = pa.genes, None, None
            else:
                common = pa.genes.intersection(pb.genes)
                ia, ib = pa.genes.get_indexer(common), pb.genes.get_indexer(common)
            if common.size < min_genes:
                log.warning("near-duplicate check of %s and %s skipped: %d common genes", a, b,
                            common.size)  # fmt: skip
                continue
            sums = (pa.sums if ia is None else pa.sums[ia]) + (
                pb.sums if ib is None else pb.sums[ib]
            )
            counts = (pa.counts if ia is None else pa.counts[ia]) + (
                pb.counts if ib is None else pb.counts[ib]
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(counts > 0, sums / counts, 0.0)
            za = _standardised(pa, ia, mean)
            zb = _standardised(pb, ib, mean)
            r = za.T @ zb / common.size
            for ja, jb in zip(*np.nonzero(r >= threshold), strict=True):
                found.append((a, str(pa.columns[ja]), b, str(pb.columns[jb]), float(r[ja, jb])))
    return found


def run_guards(
    matrices: Mapping[str, pd.DataFrame | str | Path],
    roles: Mapping[str, str],
    warnings: Sequence[str],
    *,
    threshold: float = 0.99,
) -> pd.DataFrame:
    """Raise :class:`InputError` on shared sample IDs between a validation and a discovery cohort
    or on near-duplicate samples across any two cohorts; else return the warnings table
    (:data:`GUARD_COLUMNS`: ``kind`` = warning, ``message``). ``matrices``: frames or Parquet
    paths (read one at a time, :func:`prepare`)."""
    prepared = prepare(matrices)
    disc = [c for c in prepared if roles[c] == "discovery"]
    for v in (c for c in prepared if roles[c] == "validation"):
        for d in disc:
            shared = sorted(set(map(str, prepared[v].columns)) & set(map(str, prepared[d].columns)))
            if shared:
                raise InputError(f"validation cohort {v} and discovery cohort {d} share "
                                 f"{len(shared)} sample ID(s): {', '.join(shared[:5])}",
                                 hint="a validation cohort must be independent of the discovery "
                                 "cohorts")  # fmt: skip
    pairs = _near_duplicates(prepared, threshold, 50)
    if pairs:
        listed = "; ".join(f"sample {sa} of cohort {a} and sample {sb} of cohort {b} (r = {r:.4f})"
                           for a, sa, b, sb, r in pairs[:10])  # fmt: skip
        raise InputError(f"{len(pairs)} near-duplicate sample profile(s) across cohorts "
                         f"(correlation >= {threshold} of gene-centred profiles): {listed}",
                         hint="the same RNA or subject in two cohorts: remove the duplicate from "
                         "one cohort's sample sheet")  # fmt: skip
    return pd.DataFrame({"kind": "warning", "message": list(warnings)}, columns=list(GUARD_COLUMNS))


__all__ = ["GUARD_COLUMNS", "near_duplicates", "run_guards"]
