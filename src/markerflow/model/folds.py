"""Cross-validation folds that keep every subject on one side (repeated samples of one patient).

Without subjects (``groups`` None or all distinct) the folds are scikit-learn's seeded
``StratifiedKFold``, exactly as before; with repeated subjects, ``StratifiedGroupKFold`` (seeded,
shuffled): stratified by class as far as whole subjects allow, and no subject in both the training
and the test part of a fold. The number of folds is capped by the smallest number of samples (or,
with subjects, of distinct subjects) in a stratum, at least 2.
"""

from __future__ import annotations

import numpy as np


def has_repeats(groups: np.ndarray | None) -> bool:
    """True when some subject has more than one sample (folds must then be grouped)."""
    return groups is not None and np.unique(np.asarray(groups)).size < len(groups)


def n_splits(strata: np.ndarray, groups: np.ndarray | None, folds: int) -> int:
    """``folds`` capped by the smallest stratum (samples, or distinct subjects), at least 2."""
    strata = np.asarray(strata)
    if strata.size == 0:
        return 2
    if has_repeats(groups):
        pairs = np.unique(np.column_stack([strata.astype(str), np.asarray(groups).astype(str)]),
                          axis=0)  # fmt: skip
        smallest = np.unique(pairs[:, 0], return_counts=True)[1].min()
    else:
        smallest = np.unique(strata, return_counts=True)[1].min()
    return max(2, min(folds, int(smallest)))


def stratified_folds(
    strata: np.ndarray, groups: np.ndarray | None, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs; see the module docstring."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    strata = np.asarray(strata)
    k = n_splits(strata, groups, folds)
    x = np.zeros((strata.size, 1))
    if has_repeats(groups):
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        return list(splitter.split(x, strata, np.asarray(groups).astype(str)))
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, strata))


__all__ = ["has_repeats", "n_splits", "stratified_folds"]
