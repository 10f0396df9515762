"""Out-of-core ComBat over gene blocks equals the in-memory ComBat (issue 20): <= 1e-12."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from markerflow.engines.combat import combat
from markerflow.engines.combat_blocks import adjust_block, combat_blocks, fit_blocks, iter_blocks
from markerflow.errors import InputError

TOL = 1e-12  # absolute, on log2 expression values (the acceptance)


@pytest.fixture(scope="module")
def bladder(reference_dir):
    d = reference_dir / "bladderbatch"
    expr = pd.read_csv(d / "expr.tsv.gz", sep="\t", index_col=0)
    pheno = pd.read_csv(d / "pheno.tsv", sep="\t")
    cancer = pheno["cancer"].to_numpy()
    mod = np.column_stack([(cancer == lev).astype(float) for lev in ("Cancer", "Normal")])
    return expr.to_numpy(), pheno["batch"].to_numpy(), mod


def generated(n_genes: int, n_samples: int, n_batches: int, seed: int = 20) -> tuple:
    """Log-scale data with additive + multiplicative batch effects, a 2-level condition,
    batches in shuffled sample order, a few genes constant within a batch."""
    rng = np.random.default_rng(seed)
    batch = rng.permutation(np.arange(n_samples) % n_batches).astype(str)
    cond = rng.permutation(np.arange(n_samples) % 2).astype(float)
    x = rng.standard_normal((n_genes, n_samples)) * 0.3 + rng.uniform(4, 12, (n_genes, 1))
    x += 0.5 * cond * (rng.random((n_genes, 1)) < 0.05)
    for b in range(n_batches):
        cols = batch == str(b)
        x[:, cols] *= rng.uniform(0.7, 1.4, (n_genes, 1))
        x[:, cols] += rng.normal(0.3 * b, 0.2, (n_genes, 1))
    x[3, batch == "1"] = 7.0  # constant within a batch: left unchanged
    return x, batch, cond[:, None]


@pytest.mark.parametrize("block_rows", [7, 4096])
@pytest.mark.parametrize(
    "kwargs", [{}, {"mean_only": True}, {"reference_batch": 2}], ids=["param", "meanonly", "ref2"]
)
def test_bladderbatch_blocks_equal_in_memory(bladder, block_rows, kwargs) -> None:
    x, batch, mod = bladder
    want = combat(x, batch, mod, **kwargs)
    got = combat_blocks(x, batch, mod, block_rows=block_rows, **kwargs)
    assert np.abs(got - want).max() <= TOL


def test_generated_blocks_equal_in_memory() -> None:
    x, batch, cond = generated(6_000, 120, 6)
    want = combat(x, batch, cond)
    for block_rows in (1_000, 6_000):
        got = combat_blocks(x, batch, cond, block_rows=block_rows)
        assert np.abs(got - want).max() <= TOL
    small = x[:800]  # one gene per block: BLAS's matrix-vector path
    assert (
        np.abs(combat_blocks(small, batch, cond, block_rows=1) - combat(small, batch, cond)).max()
        <= TOL
    )
    np.testing.assert_array_equal(got[3], x[3])  # the gene constant within a batch
    assert np.abs(got - x).max() > 0.1  # and the correction did something


def test_two_passes_by_hand_and_guards() -> None:
    x, batch, cond = generated(500, 40, 4, seed=3)
    fit = fit_blocks(iter_blocks(x, 128), batch, cond)
    assert fit.n_genes == 500 and fit.gamma_star.shape == (4, int(fit.fitted.sum()))
    np.testing.assert_allclose(adjust_block(fit, x[128:256], 128), combat(x, batch, cond)[128:256],
                               rtol=0, atol=TOL)  # fmt: skip
    with pytest.raises(InputError, match="differ from pass 1"):
        adjust_block(fit, x[0:128], 128)
    bad = x.copy()
    bad[7, 2] = np.nan
    with pytest.raises(InputError, match="missing or infinite"):
        fit_blocks(iter_blocks(bad, 128), batch, cond)
    one = combat_blocks(x, np.zeros(40, dtype=int), cond)  # one batch: unchanged
    np.testing.assert_array_equal(one, x)


def test_nonparametric_blocks_equal_in_memory(bladder) -> None:
    """sva's int.eprior from per-gene sums kept in pass 1 (first 1,500 probes of bladderbatch)."""
    x, batch, mod = bladder
    x = x[:1_500]
    for kwargs in ({}, {"reference_batch": 2}):
        want = combat(x, batch, mod, parametric=False, block_size=128, **kwargs)
        got = combat_blocks(x, batch, mod, parametric=False, block_rows=400, block_size=128,
                            **kwargs)  # fmt: skip
        assert np.abs(got - want).max() <= TOL


@pytest.mark.slow
def test_geo_sized_blocks_equal_in_memory() -> None:
    """54,675 x 4,000 (20 batches): the issue's acceptance size (~2 GB per copy)."""
    x, batch, cond = generated(54_675, 4_000, 20, seed=54675)
    want = combat(x, batch, cond)
    got = combat_blocks(x, batch, cond, block_rows=4_096)
    assert np.abs(got - want).max() <= TOL
