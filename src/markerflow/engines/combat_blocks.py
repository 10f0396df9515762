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
from typing import cast

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
    batch_sums = None
    if not parametric:
        batch_sums = [
            tuple(np.concatenate([blk[i][k] for blk in sums]) for k in range(3))
            for i in range(len(cols))
        ]
    gamma_star, delta_star = _pooled_posteriors(
        moments, batch_sums, cols, layout.reference, mean_only, block_size, n_threads
    )
    return BlockFit(layout, design, perm, cols, fitted, gamma_star, delta_star, start)


def _pooled_posteriors(
    moments: BatchMoments,
    sums: list | None,
    cols: list[slice],
    reference: int | None,
    mean_only: bool,
    block_size: int,
    n_threads: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """What pools genes, from the per-gene vectors only: the priors, then the posterior batch
    effects (parametric when ``sums`` is None, else sva's ``int.eprior`` from each batch's
    (sum x, sum x^2, centred SS) of the standardised data)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        priors = _priors(moments)
        if sums is None:
            return _posteriors(
                np.zeros((0, 0)), moments, priors, cols, reference, True, mean_only, 1, 1
            )
        # as _posteriors' non-parametric branch, from the sums
        gamma_star = np.zeros_like(moments.gamma_hat)
        delta_star = np.ones_like(moments.gamma_hat)
        for i, c in enumerate(cols):
            if i == reference:
                continue
            s1, s2, ss = sums[i]
            gamma_star[i], delta_star[i] = _int_eprior_sums(
                s1, s2, ss, c.stop - c.start, moments.gamma_hat[i], moments.delta_hat[i],
                block_size, n_threads,
            )  # fmt: skip
    return gamma_star, delta_star


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


# ------------------------------------------------------------ third way in: per-cell statistics
@dataclass
class CellStats:
    """Sufficient statistics of a genes x samples matrix per *cell* (a group of samples sharing
    one row of ComBat's design: one merged batch x one condition), rows = cells, columns = genes.

    ``m2`` is the centred sum of squares ``sum (y - mean)^2`` (not a raw sum of squares, which
    loses ~1e-11 relative to cancellation); ``lo`` / ``hi`` the within-cell minimum / maximum
    (sva leaves genes constant within a batch unadjusted: constant iff max == min)."""

    n: np.ndarray  #: samples per cell (float64)
    mean: np.ndarray
    m2: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @property
    def n_genes(self) -> int:
        """Number of genes (columns)."""
        return int(self.mean.shape[1])

    def genes(self, index: np.ndarray) -> CellStats:
        """The statistics of the genes at ``index`` (positions)."""
        return CellStats(self.n, *(a[:, index] for a in (self.mean, self.m2, self.lo, self.hi)))


def cell_stats(data: np.ndarray, cell: np.ndarray, n_cells: int) -> CellStats:
    """Per cell ``k`` (``cell[j]`` = the cell of sample ``j``, 0 <= k < ``n_cells``): n, mean, M2,
    min and max of every gene (row) over the cell's samples. A cell without samples has n = 0 and
    NaN statistics. Vectorised over genes; one pass per cell."""
    x = np.asarray(data, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.int64)
    if x.ndim != 2 or cell.shape != (x.shape[1],):
        raise InputError(f"ComBat cells: {cell.size} cell labels for a matrix of shape {x.shape}")
    shape = (int(n_cells), x.shape[0])
    out = CellStats(np.zeros(shape[0]), *(np.full(shape, np.nan) for _ in range(4)))
    for k in range(shape[0]):
        block = x[:, cell == k]
        if block.shape[1] == 0:
            continue
        out.n[k] = block.shape[1]
        out.mean[k] = block.mean(axis=1)
        centred = block - out.mean[k][:, None]
        out.m2[k] = np.einsum("ij,ij->i", centred, centred)
        out.lo[k] = block.min(axis=1)
        out.hi[k] = block.max(axis=1)
    return out


def combine_cells(n: np.ndarray, mean: np.ndarray, m2: np.ndarray, groups: Sequence[np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Chan, Golub & LeVeque (1979) pairwise combination of centred moments, for each group of
    cell rows (``groups[i]`` = cell positions): n, mean and M2 of the union,
    ``M2 = sum M2_k + sum n_k (mean_k - mean)^2`` (exact identity, no cancellation)."""
    n_out = np.array([n[g].sum() for g in groups], dtype=np.float64)
    mean_out = np.empty((len(groups), mean.shape[1]))
    m2_out = np.empty_like(mean_out)
    for i, g in enumerate(groups):
        w = n[g][:, None]
        mean_out[i] = (w * mean[g]).sum(axis=0) / n_out[i]
        dev = mean[g] - mean_out[i]
        m2_out[i] = m2[g].sum(axis=0) + (w * dev * dev).sum(axis=0)
    return n_out, mean_out, m2_out


@dataclass
class CellFit:
    """A ComBat fit from per-cell statistics: what the adjustment of any gene's samples needs."""

    layout: BatchLayout
    cell_batch: np.ndarray  #: batch position (in ``layout.levels``) of each cell
    cell_design: np.ndarray  #: cells x columns: each cell's row of the batch + covariate design
    fitted: np.ndarray  #: per gene: True = adjusted (not constant within a batch)
    stand_mean: np.ndarray  #: cells x genes (sva's stand.mean of the cell's samples)
    sd: np.ndarray  #: per gene: sqrt of the pooled variance
    gamma_star: np.ndarray  #: batches x genes (0 where not fitted)
    delta_star: np.ndarray  #: batches x genes (1 where not fitted)
    bad: np.ndarray  #: per gene: the adjustment is not finite (zero residual variance): unchanged

    @property
    def single_batch(self) -> bool:
        """One batch: nothing to correct."""
        return self.layout.levels.size < 2


def fit_cells(
    stats: CellStats,
    cell_batch: Sequence | np.ndarray,
    cell_covariates: np.ndarray | None = None,
    *,
    parametric: bool = True,
    mean_only: bool = False,
    reference_batch=None,
    block_size: int = 256,
    n_threads: int | None = None,
) -> CellFit:
    """Pass 1 of ComBat from per-cell sufficient statistics (:class:`CellStats`) instead of data.

    ``cell_batch`` = the batch label of each cell, ``cell_covariates`` = each cell's row of the
    covariates (cells x k, as :func:`markerflow.engines.combat.combat`'s ``covariates``); all
    samples of a cell share one design row, so everything sva's pass 1 computes from the data is a
    function of the cells' n, mean and M2:

    * ``X'Y`` = sum_k n_k mean_k x_k (x_k the cell's design row), ``X'X`` = sum_k n_k x_k x_k';
      ``B_hat`` solved as in-memory;
    * the residual sum of squares = sum_k [M2_k + n_k (mean_k - x_k B_hat)^2] (var.pooled over N,
      or over the reference batch's cells);
    * the standardised data of a cell have mean (mean_k - stand.mean_k) / sd and M2 M2_k / sd^2;
      ``gamma.hat`` from ``bdes' s`` as in-memory, the batch means and centred sums of squares
      (``delta.hat``, it.sol's sums) by :func:`combine_cells`, and the non-parametric prior's
      (sum x, sum x^2, SS) per batch from those;
    * genes constant within a batch of >= 2 samples: max over its cells' ``hi`` == min of ``lo``.

    The priors and posteriors then run on these vectors by the same code as :func:`fit_blocks`.
    Equal to the in-memory ComBat up to rounding (tests/test_combat_cells.py: <= 1e-12).
    """
    n_cell = np.asarray(stats.n, dtype=np.float64)
    labels = np.asarray(cell_batch)
    if labels.shape != n_cell.shape or stats.mean.shape[0] != n_cell.size:
        raise InputError(f"ComBat cells: {labels.size} batch labels for {n_cell.size} cells")
    used = n_cell > 0
    counts = n_cell.astype(np.int64)
    sample_batch = np.repeat(labels, counts)
    layout = _batch_layout(cast(Sequence, sample_batch), sample_batch.size, reference_batch,
                           mean_only)  # fmt: skip
    n_genes = stats.n_genes
    position = {str(lev): i for i, lev in enumerate(layout.levels)}
    cb = np.array([position.get(str(b), -1) for b in labels], dtype=np.int64)
    n_batch = layout.levels.size
    if n_batch < 2:
        empty = np.zeros((n_batch, n_genes))
        return CellFit(layout, cb, np.zeros((n_cell.size, 0)), np.zeros(n_genes, dtype=bool),
                       np.zeros((n_cell.size, n_genes)), np.ones(n_genes), empty,
                       np.ones_like(empty), np.zeros(n_genes, dtype=bool))  # fmt: skip
    cov = None
    if cell_covariates is not None:
        cov = np.asarray(cell_covariates, dtype=np.float64)
        cov = np.repeat(cov[:, None] if cov.ndim == 1 else cov, counts, axis=0)
    design_s = _design(layout, cov, sample_batch.size)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    xk = np.where(used[:, None], design_s[np.minimum(starts, max(0, design_s.shape[0] - 1))], 0.0)
    # genes constant within a batch of >= 2 samples (sva's zero.rows): not adjusted
    zero = np.zeros(n_genes, dtype=bool)
    for i in range(n_batch):
        ks = np.flatnonzero((cb == i) & used)
        if layout.sizes[i] > 1:
            zero |= np.nanmax(stats.hi[ks], axis=0) == np.nanmin(stats.lo[ks], axis=0)
    fitted = ~zero
    k_used = np.flatnonzero(used)
    mean, m2 = stats.mean[k_used][:, fitted], stats.m2[k_used][:, fitted]
    nk, x_used, b_used = n_cell[k_used], xk[k_used], cb[k_used]
    ref = layout.reference
    stand_mean = np.zeros((n_cell.size, n_genes))
    sd = np.ones(n_genes)
    gamma_star = np.zeros((n_batch, n_genes))
    delta_star = np.ones((n_batch, n_genes))
    if fitted.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            xtx = design_s.T @ design_s
            b_hat = np.linalg.solve(xtx, (x_used * nk[:, None]).T @ mean)  # p x G
            fit_k = x_used @ b_hat  # cells x G
            dev = mean - fit_k
            rss_k = m2 + nk[:, None] * dev * dev
            if ref is not None:
                in_ref = b_used == ref
                grand_mean = b_hat[ref]
                var_pooled = rss_k[in_ref].sum(axis=0) / layout.sizes[ref]
            else:
                grand_mean = (layout.sizes / sample_batch.size) @ b_hat[:n_batch]
                var_pooled = rss_k.sum(axis=0) / sample_batch.size
            sm_k = grand_mean[None, :] + x_used[:, n_batch:] @ b_hat[n_batch:]
            sdf = np.sqrt(var_pooled)
            s_mean = (mean - sm_k) / sdf
            s_m2 = m2 / (sdf * sdf)
            bdes = design_s[:, :n_batch]
            gamma_hat = np.linalg.solve(
                bdes.T @ bdes, (x_used[:, :n_batch] * nk[:, None]).T @ s_mean
            )
            groups = [np.flatnonzero(b_used == i) for i in range(n_batch)]
            n_b, xbar, ss = combine_cells(nk, s_mean, s_m2, groups)
            delta_hat = np.ones_like(ss) if mean_only else ss / (n_b - 1)[:, None]
        moments = BatchMoments(gamma_hat=gamma_hat, delta_hat=delta_hat, xbar=xbar, ss=ss, n=n_b)
        bounds = np.concatenate([[0], np.cumsum(layout.sizes.astype(np.int64))])
        cols = [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(n_batch)]
        sums = None
        if not parametric:
            sums = [(n_b[i] * xbar[i], ss[i] + n_b[i] * xbar[i] * xbar[i], ss[i])
                    for i in range(n_batch)]  # fmt: skip
        g_fit, d_fit = _pooled_posteriors(moments, sums, cols, ref, mean_only, block_size,
                                          n_threads)  # fmt: skip
        stand_mean[np.ix_(k_used, np.flatnonzero(fitted))] = sm_k
        sd[fitted] = sdf
        gamma_star[:, fitted] = g_fit
        delta_star[:, fitted] = d_fit
    fit = CellFit(layout, cb, xk, fitted, stand_mean, sd, gamma_star, delta_star,
                  np.zeros(n_genes, dtype=bool))  # fmt: skip
    # a gene whose adjustment is not finite for some cell (e.g. zero residual variance) is left
    # unchanged for all samples, as in-memory: probe each used cell at its mean
    probe = np.where(np.isfinite(stats.mean), stats.mean, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        values = _adjust_cells(fit, probe[k_used].T, k_used, np.arange(n_genes))
    fit.bad = fitted & ~np.isfinite(values).all(axis=1)
    return fit


def _adjust_cells(fit: CellFit, x: np.ndarray, cell: np.ndarray, genes: np.ndarray) -> np.ndarray:
    """sva's adjustment of ``x`` (the rows of ``genes``, one column per sample of ``cell``), in
    the in-memory operation order (:func:`markerflow.engines.combat._adjust`)."""
    n_batch = fit.layout.levels.size
    sm = fit.stand_mean[np.ix_(cell, genes)].T  # genes x samples
    sd = fit.sd[genes][:, None]
    s = np.subtract(x, sm)
    s /= sd
    batch = fit.cell_batch[cell]
    shift = fit.gamma_star[:, genes].T @ fit.cell_design[cell, :n_batch].T  # genes x samples
    s -= shift
    s /= np.sqrt(fit.delta_star[np.ix_(batch, genes)].T)
    s *= sd
    s += sm
    return s


def adjust_cells(fit: CellFit, data: np.ndarray, genes: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Pass 2 for any genes and any samples: the ComBat-adjusted copy of ``data`` (rows = the
    fit's genes at positions ``genes``, columns = samples of the cells ``cell``). The reference
    batch's samples, genes constant within a batch and genes whose adjustment is not finite are
    returned unchanged, as in-memory."""
    x = np.asarray(data, dtype=np.float64)
    genes = np.asarray(genes, dtype=np.int64)
    cell = np.asarray(cell, dtype=np.int64)
    if x.shape != (genes.size, cell.size):
        raise InputError(f"ComBat cells: data of shape {x.shape} for {genes.size} genes and "
                         f"{cell.size} samples")  # fmt: skip
    if fit.single_batch or x.size == 0:
        return x.copy()
    _check_finite(x, None, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = _adjust_cells(fit, x, cell, genes)
    keep = ~fit.fitted[genes] | fit.bad[genes]
    out[keep] = x[keep]
    if fit.layout.reference is not None:
        in_ref = fit.cell_batch[cell] == fit.layout.reference
        out[:, in_ref] = x[:, in_ref]
    return out
