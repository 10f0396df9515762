"""engines.pca.BlockKrylov: the out-of-core PCA above GRAM_SAMPLES_MAX samples (issue 20)."""

import numpy as np
import pytest

from markerflow.engines.pca import BlockGram, BlockKrylov, pca


def _expression_like(rng, genes=4000, samples=700):
    """Four strong factors, then a slowly decaying noise spectrum with PCs 10 and 11 about 1 %
    apart (as the 20-cohort benchmark's merged matrix), on a log2-expression level."""
    factors = rng.normal(size=(genes, 4)) @ (rng.normal(size=(4, samples)) * [[9], [8], [7], [6]])
    noise = rng.normal(size=(genes, samples)) * np.linspace(1.3, 1.0, samples)
    return 8.0 + rng.normal(size=(genes, 1)) + factors + noise


def _run(op, x, rows):
    passes = 0
    while not op.done:
        for a in range(0, x.shape[0], rows):
            op.add(x[a : a + rows])
        op.end_pass()
        passes += 1
    return passes


@pytest.mark.parametrize("block_size", [10, 16])
def test_block_krylov_equals_the_exact_pca(block_size):
    rng = np.random.default_rng(7)
    x = _expression_like(rng)
    want, want_ratio = pca(x, 10)
    op = BlockKrylov(x.shape[1], 10, block_size=block_size)
    passes = _run(op, x, 333)
    got, ratio = op.pca(10)
    assert passes == op.passes < op.max_passes
    assert op.residual <= op.tol
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 * np.abs(want).max())
    np.testing.assert_allclose(ratio, want_ratio, rtol=1e-12, atol=0)


def test_block_krylov_is_deterministic_and_stops_on_low_rank():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(500, 3)) @ rng.normal(size=(3, 80)) + 5.0  # rank 3 after centring
    runs = []
    for _ in range(2):
        op = BlockKrylov(80, 10, block_size=4)
        _run(op, x, 64)
        runs.append(op.pca(10))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    gram = BlockGram(80)
    gram.add(x)
    want, want_ratio = gram.pca(3)
    np.testing.assert_allclose(runs[0][0][:, :3], want, rtol=0, atol=1e-9 * np.abs(want).max())
    np.testing.assert_allclose(runs[0][1][:3], want_ratio, rtol=0, atol=1e-12)


def test_block_krylov_warns_when_it_runs_out_of_passes(caplog):
    rng = np.random.default_rng(9)
    x = _expression_like(rng, genes=600, samples=300)
    op = BlockKrylov(300, 10, block_size=2, max_passes=3)
    assert _run(op, x, 600) == 3
    assert op.residual > op.tol
    assert "relative residual" in caplog.text
    with pytest.raises(RuntimeError, match="converged"):
        op.add(x)
