"""ComBat over gene blocks (out of core): the same numbers as :func:`markerflow.engines.combat.combat`.

Method: Johnson, Li & Rabinovic (2007) as implemented by ``sva::ComBat`` (sva 3.46.0), exactly as
:mod:`markerflow.engines.combat` computes it; only the order of the work changes, so a genes x
samples matrix never has to be in memory at once (issue 20):

* **Everything per gene is per gene.** sva's standardisation (the batch + covariate regression
  ``B_hat = (X'X)^-1 X'Y``, the pooled variance, ``stand.mean``), the batch estimates
  ``gamma.hat`` / ``delta.hat`` and the within-batch means and sums of squares of the standardised
  data are computed gene by gene, so they are computed block by block in pass 1 (:func:`fit_blocks`),
  by the same functions as the in-memory path, and only the per-gene vectors are kept
  (batches x genes: ~9 MB for 54,675 genes and 20 batches).
* **What pools genes needs only those vectors.** The empirical-Bayes priors (``gamma.bar``,
  ``t2``, ``a.prior``, ``b.prior``: means and variances over genes of gamma.hat / delta.hat) and
  ``it.sol`` (whose convergence test is a maximum over all genes of a batch) run once on the full
  per-gene vectors, after pass 1, by the in-memory code itself.
* **Pass 2** (:func:`adjust_block`) re-standardises each block (the same deterministic per-gene
  computation as pass 1) and removes the batch effects with the genes' ``gamma.star`` /
  ``delta.star``.

Result: equal to the in-memory ComBat up to the rounding of BLAS products over a block instead of
the whole matrix (tests/test_combat_blocks.py: <= 1e-12 absolute on bladderbatch and a generated
matrix; with OpenBLAS single-threaded the two are bit-identical for blocks of >= 1,000
genes in the cases measured). Memory:
one block (plus its standardised copy) and the per-gene vectors. The non-parametric prior
(sva's ``int.eprior`` weights every gene by every other gene's likelihood of its data) works
the same way: pass 1 keeps three sums per gene and batch, and the O(genes^2) weighting runs on
those vectors. Genes constant within a batch of >= 2 samples and genes with a zero pooled
variance are returned unchanged, as in-memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from markerflow.engines.combat import (
    BatchLayout,
    BatchMoments,
    _adjust,
    _batch_layout,
    _batch_moments,
    _check_finite,
    _design,
    _int_eprior_sums,
    _posteriors,
    _priors,
    _standardise,
    eprior_sums,
)
from markerflow.errors import InputError


@dataclass
class BlockFit:
    """What pass 2 needs: the design and each gene's posterior batch effects."""

    layout: BatchLayout
    design: np.ndarray  #: samples (ordered by batch) x columns, as in the in-memory path
    perm: np.ndarray  #: sample order by batch (columns of a block are taken in this order)
    cols: list[slice]  #: column slice of each batch in that order
    fitted: np.ndarray  #: per gene: True = adjusted (not constant within a batch)
    gamma_star: np.ndarray  #: batches x fitted genes
    delta_star: np.ndarray  #: batches x fitted genes
    n_genes: int

    @property
    def single_batch(self) -> bool:
        """One batch: nothing to correct (the blocks are returned unchanged)."""
        return self.layout.levels.size < 2


def fit_blocks(
    blocks: Iterable[np.ndarray],
    batch: Sequence,
    covariates: np.ndarray | None = None,
    *,
    parametric: bool = True,
    mean_only: bool = False,
    reference_batch=None,
    block_size: int = 256,
    n_threads: int | None = None,
) -> BlockFit:
    """Pass 1: per-gene ComBat estimates over gene blocks (genes x samples each, in gene order),
    then the pooled priors and the posterior batch effects of every gene.

    Arguments as :func:`markerflow.engines.combat.combat`. Non-parametric: pass 1 also keeps each
    gene's sums of its standardised data per batch (:func:`markerflow.engines.combat.eprior_sums`),
    all that sva's ``int.eprior`` needs of the data; its O(genes^2) computation then runs on those
    vectors (``block_size``, ``n_threads`` as in-memory).
    """
    sums: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
    layout: BatchLayout | None = None
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("gamma_hat", "delta_hat", "xbar", "ss")}
    fitted_parts: list[np.ndarray] = []
    design = perm = None
    cols: list[slice] = []
    start = 0
    for block in blocks:
        x = np.asarray(block, dtype=np.float64)
        if x.ndim != 2:
            raise InputError(f"ComBat: a gene block must be genes x samples, got {x.ndim} dim(s)")
        if layout is None:
            layout = _batch_layout(batch, x.shape[1], reference_batch, mean_only)
            if layout.levels.size < 2:
                perm = np.arange(x.shape[1])
            else:
                design0 = _design(layout, covariates, x.shape[1])
                perm = np.concatenate(layout.index)
                design = design0[perm]
                bounds = np.concatenate([[0], np.cumsum([idx.size for idx in layout.index])])
                cols = [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(bounds.size - 1)]
        elif perm is not None and x.shape[1] != perm.size:
            raise InputError(
                f"ComBat: gene block at row {start + 1} has {x.shape[1]} samples, "
                f"the first block {perm.size}"
            )
        _check_finite(x, None, None)
        start += x.shape[0]
        if design is None:
            fitted_parts.append(np.zeros(x.shape[0], dtype=bool))
            continue
        assert perm is not None
        xp, keep = _ordered_fitted(x, perm, cols)
        fitted_parts.append(keep)
        if keep.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                std = _standardise(xp[keep], design, cols, layout.sizes, layout.reference)
                m = _batch_moments(std.data, design[:, : len(cols)], cols, mean_only)
                if not parametric:
                    sums.append([eprior_sums(std.data[:, c]) for c in cols])
            for key in parts:
                parts[key].append(getattr(m, key))
    if layout is None:
        raise InputError("ComBat: no gene block given")
    assert perm is not None
    fitted = np.concatenate(fitted_parts) if fitted_parts else np.zeros(0, dtype=bool)
    n_batch = layout.levels.size
    if design is None or not fitted.any():
        empty = np.zeros((n_batch, 0))
        return BlockFit(layout, np.zeros((perm.size, 0)), perm, cols, fitted, empty, empty, start)
    joined = {k: np.concatenate(v, axis=1) for k, v in parts.items()}
    moments = BatchMoments(n=np.array([c.stop - c.start for c in cols], dtype=np.float64), **joined)
    with np.errstate(divide="ignore", invalid="ignore"):
        priors = _priors(moments)
        if parametric:
            gamma_star, delta_star = _posteriors(
                np.zeros((0, 0)), moments, priors, cols, layout.reference, True, mean_only, 1, 1
            )
        else:  # as _posteriors' non-parametric branch, from the sums
            gamma_star = np.zeros_like(moments.gamma_hat)
            delta_star = np.ones_like(moments.gamma_hat)
            for i, c in enumerate(cols):
                if i == layout.reference:
                    continue
                s1, s2, ss = (np.concatenate([blk[i][k] for blk in sums]) for k in range(3))
                gamma_star[i], delta_star[i] = _int_eprior_sums(
                    s1, s2, ss, c.stop - c.start, moments.gamma_hat[i], moments.delta_hat[i],
                    block_size, n_threads,
                )  # fmt: skip
    return BlockFit(layout, design, perm, cols, fitted, gamma_star, delta_star, start)


def _ordered_fitted(
    x: np.ndarray, perm: np.ndarray, cols: list[slice]
) -> tuple[np.ndarray, np.ndarray]:
    """Columns in batch order; genes not constant within any batch of >= 2 samples (sva's
    ``zero.rows`` left out), as :func:`markerflow.engines.combat._fit_adjust`."""
    identity = bool(np.all(perm == np.arange(perm.size)))
    xp = x if identity else x[:, perm]
    zero = np.zeros(x.shape[0], dtype=bool)
    for c in cols:
        if c.stop - c.start > 1:
            zero |= xp[:, c].max(axis=1) == xp[:, c].min(axis=1)
    return xp, ~zero


def adjust_block(fit: BlockFit, block: np.ndarray, start: int) -> np.ndarray:
    """Pass 2: the ComBat-adjusted copy of one gene block whose first gene is gene ``start``
    (0-based, in the order pass 1 saw the genes)."""
    x = np.asarray(block, dtype=np.float64)
    stop = start + x.shape[0]
    if start < 0 or stop > fit.n_genes:
        raise InputError(f"ComBat: block rows {start + 1}-{stop} beyond the {fit.n_genes} genes")
    if fit.single_batch or x.shape[0] == 0:
        return x.copy()
    xp, keep = _ordered_fitted(x, fit.perm, fit.cols)
    if not np.array_equal(keep, fit.fitted[start:stop]):
        raise InputError(f"ComBat: block rows {start + 1}-{stop} differ from pass 1's")
    out = xp.copy()
    if keep.any():
        first = int(np.count_nonzero(fit.fitted[:start]))
        idx = slice(first, first + int(np.count_nonzero(keep)))
        x_fit = xp[keep]
        n_batch = len(fit.cols)
        with np.errstate(divide="ignore", invalid="ignore"):
            std = _standardise(x_fit, fit.design, fit.cols, fit.layout.sizes, fit.layout.reference)
            adjusted = _adjust(
                x_fit,
                std,
                fit.design[:, :n_batch],
                fit.gamma_star[:, idx],
                fit.delta_star[:, idx],
                fit.cols,
                fit.layout.reference,
            )
        bad = ~np.isfinite(adjusted).all(axis=1)  # zero residual variance: left unchanged
        adjusted[bad] = x_fit[bad]
        out[keep] = adjusted
    result = np.empty_like(out)
    result[:, fit.perm] = out
    return result


def combat_blocks(
    data: np.ndarray,
    batch: Sequence,
    covariates: np.ndarray | None = None,
    *,
    parametric: bool = True,
    mean_only: bool = False,
    reference_batch=None,
    block_rows: int = 4096,
    block_size: int = 256,
    n_threads: int | None = None,
) -> np.ndarray:
    """ComBat of an in-memory genes x samples matrix computed over blocks of ``block_rows`` genes
    (two passes, :func:`fit_blocks` then :func:`adjust_block`); for tests and benchmarks of the
    out-of-core path. Equal to :func:`markerflow.engines.combat.combat` (see the module doc)."""
    dat = np.asarray(data, dtype=np.float64)
    if dat.ndim != 2:
        raise InputError(f"ComBat needs a genes x samples matrix, got {dat.ndim} dimension(s)")
    step = max(1, int(block_rows))
    fit = fit_blocks(
        iter_blocks(dat, step),
        batch,
        covariates,
        parametric=parametric,
        mean_only=mean_only,
        reference_batch=reference_batch,
        block_size=block_size,
        n_threads=n_threads,
    )
    out = np.empty_like(dat)
    for start in range(0, dat.shape[0], step):
        out[start : start + step] = adjust_block(fit, dat[start : start + step], start)
    return out


def iter_blocks(data: np.ndarray, block_rows: int) -> Iterator[np.ndarray]:
    """Consecutive row blocks of ``data`` (views)."""
    for start in range(0, data.shape[0], max(1, block_rows)):
        yield data[start : start + block_rows]
