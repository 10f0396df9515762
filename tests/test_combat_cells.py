"""ComBat from per-cell sufficient statistics equals the in-memory ComBat (issue 20): <= 1e-12.

A leave-one-cohort-out fold fits ComBat from its training cohorts' per-(batch, condition)
statistics (n, mean, centred M2, min, max per gene) and adjusts only the genes it reads; the
numbers must be those of :func:`markerflow.engines.combat.combat` on the merged fold matrix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from markerflow.engines.combat import combat
from markerflow.engines.combat_blocks import (
    CellStats,
    adjust_cells,
    cell_stats,
    combine_cells,
    fit_cells,
)

TOL = 1e-12  # absolute, on log2 expression values


def by_cells(x, batch, covariates, chunks=1, **kwargs):
    """ComBat via cells: the samples split into ``chunks`` 'cohorts' whose cell statistics are
    computed separately (as each cohort's de job writes them) and stacked."""
    cov = np.zeros((x.shape[1], 0)) if covariates is None else np.asarray(covariates, float)
    cov = cov[:, None] if cov.ndim == 1 else cov
    parts = np.array_split(np.arange(x.shape[1]), chunks)
    stats, labels, rows, cell_of = [], [], [], np.empty(x.shape[1], dtype=np.int64)
    for part in parts:
        key = pd.DataFrame({"b": np.asarray(batch)[part].astype(str)}).join(
            pd.DataFrame(cov[part]).astype(str).add_prefix("c")
        )
        codes, uniq = pd.factorize(key.apply(tuple, axis=1))
        st = cell_stats(x[:, part], codes, len(uniq))
        cell_of[part] = codes + sum(s.n.size for s in stats)
        stats.append(st)
        for k in range(len(uniq)):
            first = part[np.flatnonzero(codes == k)[0]]
            labels.append(np.asarray(batch)[first])
            rows.append(cov[first])
    joined = CellStats(*(np.concatenate([getattr(s, f) for s in stats]) for f in
                         ("n", "mean", "m2", "lo", "hi")))  # fmt: skip
    fit = fit_cells(joined, np.asarray(labels), np.asarray(rows) if cov.shape[1] else None,
                    **kwargs)  # fmt: skip
    return fit, cell_of


@pytest.fixture(scope="module")
def bladder(reference_dir):
    d = reference_dir / "bladderbatch"
    expr = pd.read_csv(d / "expr.tsv.gz", sep="\t", index_col=0)
    pheno = pd.read_csv(d / "pheno.tsv", sep="\t")
    cancer = pheno["cancer"].to_numpy()
    mod = np.column_stack([(cancer == lev).astype(float) for lev in ("Cancer", "Normal")])
    return expr.to_numpy(), pheno["batch"].to_numpy(), mod


def generated(n_genes: int, n_samples: int, n_batches: int, seed: int = 20) -> tuple:
    """Additive + multiplicative batch effects, 2-level condition, shuffled batches, a gene
    constant within a batch, 'cohort:batch' labels (a cohort with an internal batch)."""
    rng = np.random.default_rng(seed)
    batch = rng.permutation(np.arange(n_samples) % n_batches)
    labels = np.array([f"C{b // 2}:{b % 2}" if b < 2 else f"C{b}" for b in batch])
    cond = rng.permutation(np.arange(n_samples) % 2).astype(float)
    x = rng.standard_normal((n_genes, n_samples)) * 0.3 + rng.uniform(4, 12, (n_genes, 1))
    x += 0.5 * cond * (rng.random((n_genes, 1)) < 0.05)
    for b in range(n_batches):
        cols = batch == b
        x[:, cols] *= rng.uniform(0.7, 1.4, (n_genes, 1))
        x[:, cols] += rng.normal(0.3 * b, 0.2, (n_genes, 1))
    x[3, batch == 1] = 7.0  # constant within a batch: left unchanged
    return x, labels, cond[:, None]


KINDS = [{}, {"mean_only": True}, {"reference_batch": 2}, {"parametric": False}]
IDS = ["param", "meanonly", "ref", "nonparam"]


@pytest.mark.parametrize("kwargs", KINDS, ids=IDS)
def test_bladderbatch_cells_equal_in_memory(bladder, kwargs) -> None:
    x, batch, mod = bladder
    if not kwargs.get("parametric", True):
        x = x[:2000]
    want = combat(x, batch, mod, **kwargs)
    fit, cell = by_cells(x, batch, mod, chunks=3, **kwargs)
    got = adjust_cells(fit, x, np.arange(x.shape[0]), cell)
    assert np.abs(got - want).max() <= TOL


@pytest.mark.parametrize("kwargs", KINDS, ids=IDS)
def test_generated_cells_equal_in_memory(kwargs) -> None:
    x, labels, cond = generated(3_000, 150, 6)
    kw = kwargs | ({"reference_batch": "C2"} if "reference_batch" in kwargs else {})
    want = combat(x, labels, cond, **kw)
    fit, cell = by_cells(x, labels, cond, chunks=4, **kw)
    got = adjust_cells(fit, x, np.arange(x.shape[0]), cell)
    assert np.abs(got - want).max() <= TOL
    np.testing.assert_array_equal(got[3], x[3])  # constant within a batch: unchanged
    assert np.abs(got - x).max() > 0.1
    # any genes, any samples: the same numbers
    genes, samples = np.array([3, 10, 2999, 7]), np.array([149, 0, 5])
    sub = adjust_cells(fit, x[np.ix_(genes, samples)], genes, cell[samples])
    np.testing.assert_array_equal(sub, got[np.ix_(genes, samples)])


def test_chan_combination_is_exact_and_stable() -> None:
    rng = np.random.default_rng(1)
    y = 1e4 + rng.standard_normal((5, 90))  # large mean: raw sums of squares would cancel
    cell = np.arange(90) % 3
    st = cell_stats(y, cell, 3)
    n, mean, m2 = combine_cells(st.n, st.mean, st.m2, [np.arange(3)])
    centred = y - y.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(m2[0], (centred**2).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(mean[0], y.mean(axis=1), rtol=1e-15)
    assert n[0] == 90
