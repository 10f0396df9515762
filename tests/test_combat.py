"""ComBat parity with sva::ComBat 3.46.0 (bladderbatch) and input guards."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerflow.engines.combat import _int_eprior, combat
from markerflow.errors import AnalysisError, InputError

FIXTURES = Path(__file__).parent / "fixtures" / "combat"


@pytest.fixture(scope="module")
def bladder(reference_dir):
    d = reference_dir / "bladderbatch"
    expr = pd.read_csv(d / "expr.tsv.gz", sep="\t", index_col=0)
    pheno = pd.read_csv(d / "pheno.tsv", sep="\t")
    assert list(pheno["sample_id"]) == list(expr.columns)
    cancer = pheno["cancer"].to_numpy()
    # model.matrix(~cancer) without intercept: levels Biopsy (reference), Cancer, Normal
    mod = np.column_stack([(cancer == lev).astype(float) for lev in ("Cancer", "Normal")])
    return expr, pheno["batch"].to_numpy(), mod


def _ref(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", index_col=0)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("combat_param_modcancer", {}),
        ("combat_param_meanonly_modcancer", {"mean_only": True}),
    ],
)
def test_parametric_matches_sva(bladder, reference_dir, name, kwargs):
    expr, batch, mod = bladder
    ref = _ref(reference_dir / "bladderbatch" / "combat" / f"{name}.tsv.gz")
    assert list(ref.index) == list(expr.index)
    out = combat(expr.to_numpy(), batch, mod, **kwargs)
    err = np.abs(out - ref.to_numpy()).max()
    assert err < 1e-8, err
    # and the correction did something
    assert np.abs(out - expr.to_numpy()).max() > 0.1


def test_nonparametric_matches_sva_first2000(bladder, reference_dir):
    expr, batch, mod = bladder
    ref = _ref(
        reference_dir / "bladderbatch" / "combat" / "combat_nonparam_modcancer_first2000.tsv.gz"
    )
    out = combat(expr.to_numpy()[:2000], batch, mod, parametric=False, block_size=128)
    err = np.abs(out - ref.to_numpy()).max()
    assert err < 1e-6, err


@pytest.mark.parametrize(
    ("name", "kwargs", "use_mod"),
    [
        ("ref2_param", {"reference_batch": 2}, True),
        ("ref3_meanonly", {"reference_batch": "3", "mean_only": True}, True),
        ("ref2_nonparam", {"reference_batch": 2, "parametric": False}, True),
        ("nomod_param", {}, False),
    ],
)
def test_fixture_variants_match_sva(bladder, name, kwargs, use_mod):
    """Reference batch and no-covariate variants (tests/fixtures/combat/make_fixtures.R)."""
    expr, batch, mod = bladder
    ref = _ref(FIXTURES / f"{name}.tsv.gz")
    x = expr.to_numpy()[:200]
    assert list(ref.index) == list(expr.index[:200])
    out = combat(x, batch, mod if use_mod else None, **kwargs)
    tol = 1e-6 if kwargs.get("parametric") is False else 1e-8
    assert np.abs(out - ref.to_numpy()).max() < tol
    if "reference_batch" in kwargs:
        cols = batch == int(kwargs["reference_batch"])
        np.testing.assert_array_equal(out[:, cols], x[:, cols])
        assert np.abs(out[:, ~cols] - x[:, ~cols]).max() > 0.1


def test_zero_variance_genes_match_sva(bladder, caplog):
    """sva leaves genes constant within a batch out of the estimation and returns them as is."""
    expr, batch, mod = bladder
    x = expr.to_numpy()[:200].copy()
    x[4, batch == 1] = 7.0  # constant inside batch 1 only
    x[5, :] = 5.0  # constant everywhere
    ref = _ref(FIXTURES / "zerovar_param.tsv.gz").to_numpy()
    with caplog.at_level(logging.WARNING):
        out = combat(x, batch, mod, genes=list(expr.index[:200]))
    assert np.abs(out - ref).max() < 1e-8
    np.testing.assert_array_equal(out[[4, 5]], x[[4, 5]])
    assert np.isfinite(out).all()
    assert "2 gene(s) are constant within a batch" in caplog.text
    assert expr.index[4] in caplog.text


def _int_eprior_loop(sdat, g_hat, d_hat):
    """Literal port of sva:::int.eprior (loop over genes), for checking the blocked version."""
    g_star, d_star = [], []
    for i in range(sdat.shape[0]):
        g = np.delete(g_hat, i)
        d = np.delete(d_hat, i)
        x = sdat[i]
        n = x.size
        sum2 = ((x[None, :] - g[:, None]) ** 2).sum(axis=1)
        lh = 1 / (2 * np.pi * d) ** (n / 2) * np.exp(-sum2 / (2 * d))
        g_star.append(np.sum(g * lh) / np.sum(lh))
        d_star.append(np.sum(d * lh) / np.sum(lh))
    return np.array(g_star), np.array(d_star)


@pytest.mark.parametrize("block", [1, 7, 64, 1000])
def test_int_eprior_blocked_equals_loop(block):
    rng = np.random.default_rng(3)
    sdat = rng.normal(0.3, 1.2, size=(150, 9))
    g_hat = sdat.mean(axis=1)
    d_hat = sdat.var(axis=1, ddof=1)
    g1, d1 = _int_eprior(sdat, g_hat, d_hat, block_size=block)
    g2, d2 = _int_eprior_loop(sdat, g_hat, d_hat)
    np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(d1, d2, rtol=1e-10, atol=1e-13)


# ----------------------------------------------------------------------------- guards


def _toy(seed=0, n_genes=60, per_batch=(4, 5, 6)):
    rng = np.random.default_rng(seed)
    batch = np.repeat(np.array([f"b{i}" for i in range(len(per_batch))]), per_batch)
    x = rng.normal(8, 1, size=(n_genes, batch.size))
    for i, lev in enumerate(np.unique(batch)):
        x[:, batch == lev] += rng.normal(i, 0.5, size=(n_genes, 1))
    return x, batch


def test_single_sample_batch_is_an_error_naming_it():
    x, batch = _toy(per_batch=(4, 1, 5))
    with pytest.raises(InputError, match=r"batch\(es\) b1 have a single sample") as exc:
        combat(x, batch)
    assert "mean_only" in str(exc.value)


def test_single_sample_batch_allowed_mean_only():
    x, batch = _toy(per_batch=(4, 1, 5))
    out = combat(x, batch, mean_only=True)
    assert np.isfinite(out).all()
    # mean-only: the within-batch spread of each gene is unchanged
    for lev in ("b0", "b2"):
        cols = batch == lev
        np.testing.assert_allclose(out[:, cols].std(axis=1), x[:, cols].std(axis=1), rtol=1e-12)


def test_single_batch_returns_data_unchanged():
    x, _ = _toy()
    out = combat(x, np.repeat("only", x.shape[1]))
    np.testing.assert_array_equal(out, x)
    assert out is not x


def test_missing_values_error_names_gene_and_sample():
    x, batch = _toy()
    x[7, 3] = np.nan
    genes = [f"G{i}" for i in range(x.shape[0])]
    samples = [f"S{j}" for j in range(x.shape[1])]
    with pytest.raises(InputError, match=r"1 missing or infinite value.*G7.*S3"):
        combat(x, batch, genes=genes, samples=samples)


def test_zero_variance_genes_never_nan():
    x, batch = _toy()
    x[0] = 3.0
    x[1, batch == "b2"] = 9.0
    out = combat(x, batch, parametric=False)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:2], x[:2])


def test_confounded_covariate_is_an_analysis_error():
    x, batch = _toy()
    cond = (batch == "b0").astype(float)  # condition = batch b0 exactly
    with pytest.raises(AnalysisError, match="confounded with batch"):
        combat(x, batch, cond[:, None])


def test_unknown_reference_batch():
    x, batch = _toy()
    with pytest.raises(InputError, match=r"reference batch 'zz' is not one of the batches \(b0"):
        combat(x, batch, reference_batch="zz")


def test_wrong_number_of_batch_labels():
    x, batch = _toy()
    with pytest.raises(InputError, match="batch labels for"):
        combat(x, batch[:-1])


def test_covariate_effect_is_preserved():
    rng = np.random.default_rng(5)
    batch = np.repeat(["a", "b", "c"], 10)
    cond = np.tile([0.0, 1.0], 15)
    x = rng.normal(0, 1, size=(300, 30)) + 2.0 * cond  # true condition effect 2 on every gene
    x += np.where(batch == "b", 3.0, 0.0)  # batch shift
    out = combat(x, batch, cond[:, None])
    diff = out[:, cond == 1].mean(axis=1) - out[:, cond == 0].mean(axis=1)
    assert abs(diff.mean() - 2.0) < 0.1
    shift = out[:, batch == "b"].mean() - out[:, batch == "a"].mean()
    assert abs(shift) < 0.1


def test_int_eprior_pruned_chunks_equal_loop():
    """Many genes, small chunks: the sorted-chunk pruning must not change the result."""
    rng = np.random.default_rng(11)
    sdat = rng.normal(
        rng.normal(0, 2, size=(1500, 1)), rng.uniform(0.5, 2, size=(1500, 1)), (1500, 30)
    )
    g_hat = sdat.mean(axis=1)
    d_hat = sdat.var(axis=1, ddof=1)
    g1, d1 = _int_eprior(sdat, g_hat, d_hat, block_size=100, n_threads=2, chunk_size=50)
    g2, d2 = _int_eprior_loop(sdat, g_hat, d_hat)
    np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d1, d2, rtol=1e-9, atol=1e-12)


def test_input_not_modified_and_batch_order_irrelevant():
    x, batch = _toy(per_batch=(5, 6, 7))
    order = np.random.default_rng(2).permutation(x.shape[1])
    xs, bs = x[:, order].copy(), batch[order]
    keep = xs.copy()
    out = combat(xs, bs)
    np.testing.assert_array_equal(xs, keep)
    ref = combat(x, batch)
    np.testing.assert_allclose(out, ref[:, order], rtol=0, atol=1e-12)
