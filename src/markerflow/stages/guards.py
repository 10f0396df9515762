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

import numpy as np
import pandas as pd

from markerflow.errors import InputError

log = logging.getLogger(__name__)

GUARD_COLUMNS = ("kind", "message")


def _centred(block: np.ndarray) -> np.ndarray:
    """Genes x samples: centred per gene over all columns, then each column standardised."""
    with np.errstate(invalid="ignore"):
        x = block - np.nanmean(block, axis=1, keepdims=True)
    x = np.nan_to_num(x, nan=0.0)
    sd = x.std(axis=0, keepdims=True)
    return (x - x.mean(axis=0, keepdims=True)) / np.where(sd > 0, sd, np.inf)


def near_duplicates(
    matrices: Mapping[str, pd.DataFrame], threshold: float = 0.99, min_genes: int = 50
) -> list[tuple[str, str, str, str, float]]:
    """(cohort a, sample a, cohort b, sample b, correlation) of every cross-cohort pair of samples
    whose centred profiles correlate at ``>= threshold`` (see the module docstring)."""
    names = list(matrices)
    found = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            common = matrices[a].index.intersection(matrices[b].index)
            if common.size < min_genes:
                log.warning("near-duplicate check of %s and %s skipped: %d common genes", a, b,
                            common.size)  # fmt: skip
                continue
            na = matrices[a].shape[1]
            z = _centred(np.hstack([matrices[a].loc[common].to_numpy(dtype=np.float64),
                                    matrices[b].loc[common].to_numpy(dtype=np.float64)]))  # fmt: skip
            r = z[:, :na].T @ z[:, na:] / common.size
            for ia, ib in zip(*np.nonzero(r >= threshold), strict=True):
                found.append((a, str(matrices[a].columns[ia]), b, str(matrices[b].columns[ib]),
                              float(r[ia, ib])))  # fmt: skip
    return found


def run_guards(
    matrices: Mapping[str, pd.DataFrame],
    roles: Mapping[str, str],
    warnings: Sequence[str],
    *,
    threshold: float = 0.99,
) -> pd.DataFrame:
    """Raise :class:`InputError` on shared sample IDs between a validation and a discovery cohort
    or on near-duplicate samples across any two cohorts; else return the warnings table
    (:data:`GUARD_COLUMNS`: ``kind`` = warning, ``message``)."""
    disc = [c for c in matrices if roles[c] == "discovery"]
    for v in (c for c in matrices if roles[c] == "validation"):
        for d in disc:
            shared = sorted(set(map(str, matrices[v].columns)) & set(map(str, matrices[d].columns)))
            if shared:
                raise InputError(f"validation cohort {v} and discovery cohort {d} share "
                                 f"{len(shared)} sample ID(s): {', '.join(shared[:5])}",
                                 hint="a validation cohort must be independent of the discovery "
                                 "cohorts")  # fmt: skip
    pairs = near_duplicates(matrices, threshold)
    if pairs:
        listed = "; ".join(f"sample {sa} of cohort {a} and sample {sb} of cohort {b} (r = {r:.4f})"
                           for a, sa, b, sb, r in pairs[:10])  # fmt: skip
        raise InputError(f"{len(pairs)} near-duplicate sample profile(s) across cohorts "
                         f"(correlation >= {threshold} of gene-centred profiles): {listed}",
                         hint="the same RNA or subject in two cohorts: remove the duplicate from "
                         "one cohort's sample sheet")  # fmt: skip
    return pd.DataFrame({"kind": "warning", "message": list(warnings)}, columns=list(GUARD_COLUMNS))


__all__ = ["GUARD_COLUMNS", "near_duplicates", "run_guards"]
