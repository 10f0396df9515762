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
(logged). Pairs are screened in float32 and any cohort pair near the threshold is recomputed
in float64, which alone decides (:func:`near_duplicates`).

Every sample pair costs a dot product over all common genes, so the screen's matrix products
grow with the square of the study's samples (~N^2 x genes / 2: 15 minutes of one core at 100
cohorts x 500 samples, issue 20). A cheaper, exact pre-filter comes first (:func:`_subset_screen`):
with ``z`` standardised as above over the pair's common genes ``G`` (``|z|^2 = |G|``),
``r = z_a . z_b / |G|`` and the squared distance ``|z_a - z_b|^2 = 2 |G| (1 - r)``; restricted to
any gene subset ``S`` of ``G`` the squared distance can only be smaller. So a sample pair whose
``|z_a - z_b|^2`` on ``S`` exceeds ``2 |G| (1 - threshold + margin)`` cannot reach the threshold:
the float32 screen runs only on the samples of a cohort pair that are in a closer pair (none:
the cohort pair stops), and the float64 decision follows as before, so the result is the same.
``S`` is at most :data:`SUBSET_GENES` genes that every cohort measures (evenly spaced in the
first cohort's order); each sample's mean and standard deviation over each pair's ``G`` (the
part of the standardisation ``S`` cannot give) come from matrix products with every other
cohort's gene means at once. At 100 cohorts x 500 generated samples no cohort pair went on;
with strong shared factors most cohort pairs keep a few samples (benchmarks/bench_guards.py).

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


#: screening margin: a pair is recomputed in float64 when its float32 correlation is at least
#: ``threshold - SCREEN_MARGIN`` (float32's error on r is ~1e-6, measured up to 4e-6 at 20,597
#: genes; tests/test_guards.py)
SCREEN_MARGIN = 1e-3
#: genes of the subset pre-filter (:func:`_subset_screen`): its cost is ~N^2 x this / 2; with
#: ~20,000 genes per pair it stops every cohort pair whose samples correlate below ~0.75 on them
SUBSET_GENES = 1000


@dataclass(frozen=True)
class _Profiles:
    """One cohort's matrix prepared once for all its pairs: values with NaN as 0 (float32 for
    the screen, float64 for the confirmation), which values are measured (None: all), per gene
    the sum and count of the measured values (float64), and where the matrix came from."""

    genes: pd.Index
    columns: pd.Index
    values: np.ndarray
    measured: np.ndarray | None
    sums: np.ndarray
    counts: np.ndarray
    source: pd.DataFrame | str | Path


def _profiles(
    matrix: pd.DataFrame, source: pd.DataFrame | str | Path, dtype: type = np.float64
) -> _Profiles:
    x = np.array(matrix.to_numpy(dtype=np.float64), order="C")
    missing = np.isnan(x)
    measured = None
    if missing.any():
        measured = ~missing
        x[missing] = 0.0
    counts = np.full(x.shape[0], float(x.shape[1])) if measured is None else measured.sum(axis=1)
    sums = x.sum(axis=1)
    values = x if dtype is np.float64 else x.astype(dtype)
    return _Profiles(matrix.index, matrix.columns, values, measured, sums, counts, source)


def _standardised(
    p: _Profiles, rows: np.ndarray | None, mean: np.ndarray, columns: np.ndarray | None = None
) -> np.ndarray:
    """The cohort's columns (all, or ``columns``) on ``rows``, centred on the pair's gene means
    (missing values: 0 after centring), then each column standardised over the genes (in the
    values' precision)."""
    x = p.values if rows is None else p.values[rows]
    measured = p.measured if rows is None or p.measured is None else p.measured[rows]
    if columns is not None:
        x = x[:, columns]
        measured = None if measured is None else measured[:, columns]
    mean = mean.astype(x.dtype)
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

    Each matrix is converted once (to float32: half the memory and time of the pair products);
    a pair then costs its centring (the pair's gene means from the cohorts' float64 per-gene sums
    and counts) and one matrix product. A cohort pair with any sample pair within
    :data:`SCREEN_MARGIN` of the threshold is recomputed in float64 from the source matrices,
    and only that computation decides and reports: the result is the float64 formula's. Its pair
    mean is summed per cohort first, so it can differ from a mean over the joined columns in the
    last bit; correlations agree with the direct formula to ~1e-13 (tests/test_guards.py)."""
    return _near_duplicates(prepare(matrices), threshold, min_genes)


def prepare(
    matrices: Mapping[str, pd.DataFrame | str | Path], dtype: type = np.float32
) -> dict[str, _Profiles]:
    """Each cohort's matrix (a frame, or a Parquet path read here, one at a time, so only one
    matrix is held in float64 at any moment) prepared for the pair checks."""
    prepared = {}
    for cohort, matrix in matrices.items():
        prepared[cohort] = _profiles(_read(matrix), matrix, dtype)
    return prepared


def _read(matrix: pd.DataFrame | str | Path) -> pd.DataFrame:
    from markerflow.io.tables import read_matrix

    return matrix if isinstance(matrix, pd.DataFrame) else read_matrix(matrix)


def _pair_correlations(
    pa: _Profiles,
    pb: _Profiles,
    min_genes: int,
    samples: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray | None:
    """Samples of a x samples of b correlations of the centred profiles (None: too few common
    genes); with ``samples`` (columns of a, columns of b), of those samples only."""
    if pa.genes.equals(pb.genes):
        common, ia, ib = pa.genes, None, None
    else:
        common = pa.genes.intersection(pb.genes)
        ia, ib = pa.genes.get_indexer(common), pb.genes.get_indexer(common)
    if common.size < min_genes:
        return None
    sums = (pa.sums if ia is None else pa.sums[ia]) + (pb.sums if ib is None else pb.sums[ib])
    counts = (pa.counts if ia is None else pa.counts[ia]) + (
        pb.counts if ib is None else pb.counts[ib]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / counts, 0.0)
    cols_a, cols_b = (None, None) if samples is None else samples
    za = _standardised(pa, ia, mean, cols_a)
    zb = _standardised(pb, ib, mean, cols_b)
    return za.T @ zb / common.size


def _subset_screen(
    prepared: Mapping[str, _Profiles], threshold: float, min_genes: int
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray] | None] | None:
    """The cohort pairs that may hold a sample pair correlating at ``>= threshold`` (see the
    module docstring; the others cannot), each with the samples of a and of b that are in such a
    pair (None: all), or None when no gene is common to every cohort.

    Pairs with fewer than ``min_genes`` common genes are always returned (the caller logs them).
    """
    names = list(prepared)
    if len(names) < 2:
        return None
    universe = pd.Index(pd.unique(np.concatenate([prepared[c].genes.to_numpy() for c in names])))
    codes = {c: universe.get_indexer(prepared[c].genes) for c in names}
    in_all = np.ones(len(universe), dtype=bool)
    for c in names:
        present = np.zeros(len(universe), dtype=bool)
        present[codes[c]] = True
        in_all &= present
    first = codes[names[0]]
    subset = first[in_all[first]]  # common to every cohort, in the first cohort's order
    if subset.size == 0:
        return None
    subset = subset[np.linspace(0, subset.size - 1, min(SUBSET_GENES, subset.size)).astype(int)]
    position = {}  # cohort -> row of each universe gene in its matrix (-1: not measured)
    for c in names:
        where = np.full(len(universe), -1, dtype=np.int64)
        where[codes[c]] = np.arange(codes[c].size)
        position[c] = where
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = sum(prepared[c].sums[position[c][subset]] for c in names) / sum(
            prepared[c].counts[position[c][subset]] for c in names
        )
    reference = np.nan_to_num(pooled)  # any level per gene works; this one keeps values small
    # per cohort a: each sample's mean and sd over every pair's common genes, from matrix
    # products with the pair means of every other cohort (columns: cohorts in ``names``)
    moments = {}
    for a in names:
        pa = prepared[a]
        indicator = np.zeros((codes[a].size, len(names)))
        pair_mean = np.zeros((codes[a].size, len(names)))
        for k, b in enumerate(names):
            rows = position[b][codes[a]]
            shared = rows >= 0
            pb = prepared[b]
            sums = pa.sums[shared] + pb.sums[rows[shared]]
            counts = pa.counts[shared] + pb.counts[rows[shared]]
            with np.errstate(invalid="ignore", divide="ignore"):
                pair_mean[shared, k] = np.where(counts > 0, sums / counts, 0.0)
            indicator[shared, k] = 1.0
        x = pa.values.astype(np.float64)  # missing values are 0 here
        measured = None if pa.measured is None else pa.measured.astype(np.float64)
        # y = measured * (x - m): sum y = x'1 - measured'm; sum y^2 = (x^2)'1 - 2 x'm + measured'm^2
        sum_y = x.T @ indicator
        sum_y2 = (x * x).T @ indicator - 2.0 * (x.T @ pair_mean)
        if measured is None:
            sum_y -= pair_mean.sum(axis=0)
            sum_y2 += (pair_mean * pair_mean).sum(axis=0)
        else:
            sum_y -= measured.T @ pair_mean
            sum_y2 += measured.T @ (pair_mean * pair_mean)
        n_genes = indicator.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sum_y / n_genes
            sd = np.sqrt(np.maximum(sum_y2 / n_genes - mean * mean, 0.0))
        rows = position[a][subset]
        # float32 from here (the screen's margin is far above its rounding): the subset's values
        # less a reference level per gene (pair means are shifted alike), so no digit is lost
        values = (x[rows] - reference[:, None]).astype(np.float32)
        if measured is not None:
            values *= measured[rows]  # missing values stay 0 (they count as the pair's mean)
        sub_measured = None if measured is None else measured[rows].astype(np.float32)
        inverse_sd = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 0.0)  # constant: z = 0
        moments[a] = (mean.astype(np.float32), inverse_sd.astype(np.float32), n_genes, values,
                      sub_measured)  # fmt: skip
    keep: dict[tuple[str, str], tuple[np.ndarray, np.ndarray] | None] = {}
    subset_rows = {c: position[c][subset] for c in names}
    for i, a in enumerate(names):
        pa, (mean_a, scale_a, n_genes, values_a, meas_a) = prepared[a], moments[a]
        for k, b in enumerate(names[i + 1 :], start=i + 1):
            pb, (mean_b, scale_b, _, values_b, meas_b) = prepared[b], moments[b]
            if n_genes[k] < min_genes:
                keep[(a, b)] = None
                continue
            sums = pa.sums[subset_rows[a]] + pb.sums[subset_rows[b]]
            counts = pa.counts[subset_rows[a]] + pb.counts[subset_rows[b]]
            with np.errstate(invalid="ignore", divide="ignore"):
                m = np.where(counts > 0, sums / counts, 0.0) - reference
            m = m.astype(np.float32)[:, None]
            za = (values_a - (m if meas_a is None else meas_a * m) - mean_a[:, k]) * scale_a[:, k]
            zb = (values_b - (m if meas_b is None else meas_b * m) - mean_b[:, i]) * scale_b[:, i]
            distance = (za * za).sum(axis=0)[:, None] + (zb * zb).sum(axis=0) - 2.0 * (za.T @ zb)
            close = distance <= 2.0 * n_genes[k] * (1.0 - threshold + SCREEN_MARGIN)
            if close.any():
                keep[(a, b)] = (
                    np.flatnonzero(close.any(axis=1)),
                    np.flatnonzero(close.any(axis=0)),
                )
    return keep


def _near_duplicates(
    prepared: Mapping[str, _Profiles], threshold: float, min_genes: int, *, prefilter: bool = True
) -> list[tuple[str, str, str, str, float]]:
    """The pairs of :func:`near_duplicates`; ``prefilter=False``: without the subset pre-filter
    (every cohort pair through the float32 screen, as before it; tests and the benchmark)."""
    names = list(prepared)
    candidates = _subset_screen(prepared, threshold, min_genes) if prefilter else None
    found = []
    for i, a in enumerate(names):
        pa = prepared[a]
        for b in names[i + 1 :]:
            if candidates is not None and (a, b) not in candidates:
                continue
            pb = prepared[b]
            # the screen on the samples the subset kept; a float64 decision is always whole
            samples = None if candidates is None else candidates[(a, b)]
            if pa.values.dtype == np.float64 or pb.values.dtype == np.float64:
                samples = None
            r = _pair_correlations(pa, pb, min_genes, samples)
            if r is None:
                log.warning("near-duplicate check of %s and %s skipped: fewer than %d common "
                            "genes", a, b, min_genes)  # fmt: skip
                continue
            if r.dtype != np.float64 and (r >= threshold - SCREEN_MARGIN).any():
                exact = [_profiles(_read(p.source), p.source) for p in (pa, pb)]
                r = _pair_correlations(exact[0], exact[1], min_genes)
                assert r is not None
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
