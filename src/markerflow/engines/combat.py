"""ComBat batch correction (empirical Bayes location/scale), vectorised over genes.

Method: Johnson, Li & Rabinovic (2007), Biostatistics 8:118, as implemented by ``sva::ComBat``
(sva 3.46.0; ``it.sol``, ``int.eprior``, ``aprior``, ``bprior``, ``postmean``, ``postvar``). The
parametric, mean-only, non-parametric and reference-batch variants reproduce sva's numbers
(tests/test_combat.py: parity on bladderbatch to 1e-8, non-parametric to 1e-6), including sva's
choices that differ from a textbook reading:

* the pooled variance divides by the number of samples ``N`` (not ``N - p``); with a reference
  batch it is the mean squared residual of the reference batch's samples only;
* ``it.sol`` stops when ``max(|g_new - g_old| / g_old, |d_new - d_old| / d_old) < 1e-4`` over all
  genes of a batch jointly, with the signed ``g_old`` in the denominator (as in sva);
* mean-only parametric shrinkage is ``postmean(gamma_hat, gamma_bar, n=1, d=1, t2)``;
* genes that are constant inside any batch of two or more samples are left out of the estimation
  (they would give a zero variance) and returned unchanged;
* the non-parametric prior of a gene is the likelihood-weighted average over all *other* genes.

Deliberate differences from sva (each documented in :func:`combat`):

* missing values are an :class:`~markerflow.errors.InputError` naming genes and samples (sva
  switches to a slow per-gene path whose results depend on which values are missing);
* a batch with one sample is an error unless ``mean_only=True`` (sva silently switches to
  mean-only for *all* batches);
* one batch only: the data are returned unchanged (sva fails);
* the non-parametric likelihoods are combined in log space (log-sum-exp), so genes whose
  likelihoods all underflow in R (giving NaN there) get finite values here; elsewhere the numbers
  agree with sva. sva loops over genes in R (hours for 20k genes); this is a blocked matrix
  computation, O(G^2 n_batches) flops with O(block x G) memory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from markerflow.errors import AnalysisError, InputError, name_first

log = logging.getLogger(__name__)

#: Convergence tolerance of sva's ``it.sol``.
CONV = 1e-4
#: Non-parametric prior: chunks whose log-likelihood bound is this far below the shift are skipped.
PRUNE = 60.0
#: Safety cap on it.sol iterations (sva has none; real data converge in < 50).
MAX_ITER = 10_000


def _names(labels: Sequence[str] | None, idx: np.ndarray, kind: str) -> str:
    """The labels of the items at ``idx`` (or "kind #i" when unlabelled), first few named."""
    return name_first(str(labels[i]) if labels is not None else f"{kind} #{i + 1}" for i in idx)


def _batch_levels(batch: np.ndarray) -> np.ndarray:
    """Batch levels in R's factor order (sorted; numbers numerically, text lexically)."""
    return np.unique(batch)


def combat(
    data: np.ndarray,
    batch: Sequence,
    covariates: np.ndarray | None = None,
    *,
    parametric: bool = True,
    mean_only: bool = False,
    reference_batch=None,
    genes: Sequence[str] | None = None,
    samples: Sequence[str] | None = None,
    block_size: int = 256,
    n_threads: int | None = None,
) -> np.ndarray:
    """Remove additive (and multiplicative) batch effects with ComBat (Johnson et al. 2007).

    Equivalent to ``sva::ComBat(dat=data, batch=batch, mod=cbind(1, covariates),
    par.prior=parametric, mean.only=mean_only, ref.batch=reference_batch)``.

    Parameters
    ----------
    data
        Genes x samples on a log scale, finite values only.
    batch
        One batch label per sample (column).
    covariates
        Samples x k model matrix *without* intercept whose effects are preserved (e.g. condition
        dummies). Columns that are all 1 (an intercept) are dropped, as sva does.
    parametric
        Parametric (normal / inverse-gamma) priors; ``False`` = sva's non-parametric priors.
    mean_only
        Adjust the batch means only, not the variances (needed when a batch has one sample).
    reference_batch
        Batch whose samples are left unchanged; the others are moved towards it.
    genes, samples
        Optional names used in error messages.
    block_size
        Genes per block in the non-parametric computation (memory ~ 8 * block_size * G bytes
        per thread).
    n_threads
        Threads for the non-parametric computation (default: the CPUs available to the process;
        pass Snakemake's ``threads``). The result does not depend on it.

    Returns
    -------
    A new genes x samples array. With a single batch the data are returned unchanged (a copy).
    Genes constant within a batch of >= 2 samples are returned unchanged (as in sva).

    Raises
    ------
    InputError
        Wrong shapes, missing or infinite values, a batch with one sample when ``mean_only`` is
        false, an unknown ``reference_batch``.
    AnalysisError
        Batch and covariates confounded (the design has no full rank).
    """
    dat = np.asarray(data, dtype=np.float64)
    if dat.ndim != 2:
        raise InputError(f"ComBat needs a genes x samples matrix, got {dat.ndim} dimension(s)")
    # names are for messages only: ignore them when they do not fit the matrix
    genes = genes if genes is not None and len(genes) == dat.shape[0] else None
    samples = samples if samples is not None and len(samples) == dat.shape[1] else None
    _check_finite(dat, genes, samples)
    if parametric not in (True, False) or mean_only not in (True, False):
        raise InputError("ComBat: parametric and mean_only must be true or false")
    layout = _batch_layout(batch, dat.shape[1], reference_batch, mean_only)
    if layout.levels.size < 2:
        log.info(
            "ComBat: one batch only (%s); data returned unchanged",
            layout.levels[0] if layout.levels.size else "-",
        )
        return dat.copy()
    design = _design(layout, covariates, dat.shape[1])
    return _fit_adjust(dat, design, layout, parametric, mean_only, genes, block_size, n_threads)


@dataclass(frozen=True)
class BatchLayout:
    """The batches of a ComBat run, in R's factor order."""

    levels: np.ndarray  #: batch labels, sorted (R's factor levels)
    index: list[np.ndarray]  #: sample (column) indices of each batch
    sizes: np.ndarray  #: samples per batch (float64)
    reference: int | None  #: position of the reference batch in :attr:`levels`


def _check_finite(
    dat: np.ndarray, genes: Sequence[str] | None, samples: Sequence[str] | None
) -> None:
    """Missing or infinite values are an InputError naming genes and samples."""
    bad = ~np.isfinite(dat)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        cols = np.flatnonzero(bad.any(axis=0))
        raise InputError(
            f"ComBat: {int(bad.sum())} missing or infinite value(s) in {rows.size} gene(s) "
            f"({_names(genes, rows, 'gene')}) and {cols.size} sample(s) "
            f"({_names(samples, cols, 'sample')})",
            hint="remove or impute these genes before batch correction (the merge keeps only "
            "genes measured in every sample)",
        )


def _batch_layout(
    labels: Sequence, n_samples: int, reference_batch, mean_only: bool
) -> BatchLayout:
    """Batch labels checked (one per sample, known reference, no single-sample batch unless mean-only)."""
    batch = np.asarray(labels)
    if batch.ndim != 1 or batch.size != n_samples:
        raise InputError(
            f"ComBat: {batch.size} batch labels for {n_samples} samples",
            hint="give exactly one batch label per sample (column)",
        )
    levels = _batch_levels(batch)
    index = [np.flatnonzero(batch == lev) for lev in levels]
    sizes = np.array([b.size for b in index], dtype=np.float64)
    ref = None
    if reference_batch is not None and levels.size >= 2:
        hits = np.flatnonzero(levels.astype(str) == str(reference_batch))
        if hits.size != 1:
            raise InputError(
                f"ComBat: reference batch {reference_batch!r} is not one of the batches "
                f"({', '.join(map(str, levels))})",
                hint="set merge.combat.reference_batch to one of these labels, or null",
            )
        ref = int(hits[0])
    single = [str(levels[i]) for i in range(levels.size) if sizes[i] == 1]
    if single and not mean_only and levels.size >= 2:
        raise InputError(
            f"ComBat: batch(es) {', '.join(single)} have a single sample, so their variance "
            "cannot be estimated",
            hint="use mean_only: true (merge.combat.mean_only), or drop/merge these samples",
        )
    return BatchLayout(levels=levels, index=index, sizes=sizes, reference=ref)


def _design(layout: BatchLayout, covariates: np.ndarray | None, n_samples: int) -> np.ndarray:
    """sva's design: batch indicators (reference batch column = intercept) + covariates.

    Only a numpy rank guard here: the stage checks batch x condition confounding with
    :func:`markerflow.model.design.check_confounding` before calling ComBat.
    """
    n_batch = layout.levels.size
    batchmod = np.zeros((n_samples, n_batch))
    for i, idx in enumerate(layout.index):
        batchmod[idx, i] = 1.0
    if layout.reference is not None:
        batchmod[:, layout.reference] = 1.0
    cov = np.zeros((n_samples, 0))
    if covariates is not None:
        cov = np.asarray(covariates, dtype=np.float64)
        if cov.ndim == 1:
            cov = cov[:, None]
        if cov.ndim != 2 or cov.shape[0] != n_samples:
            raise InputError(
                f"ComBat: covariates must be samples x k ({n_samples} rows), got shape {cov.shape}"
            )
        if not np.isfinite(cov).all():
            raise InputError("ComBat: covariates contain missing values")
        cov = cov[:, ~np.all(cov == 1.0, axis=0)]
    # sva drops every all-ones column (an intercept; a batch spanning all samples cannot occur here).
    design = np.hstack([batchmod, cov])
    keep_col = ~np.all(design == 1.0, axis=0)
    if layout.reference is not None:
        keep_col[layout.reference] = True
    design = design[:, keep_col]
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise AnalysisError(
            "ComBat: the covariates are confounded with batch or with each other (batch + "
            f"covariate design of rank < {design.shape[1]}; batches "
            f"{', '.join(map(str, layout.levels))}); ComBat would remove real biology. Check the "
            "batch x condition table with markerflow.model.design.check_confounding"
        )
    return design


def _fit_adjust(
    dat: np.ndarray,
    design: np.ndarray,
    layout: BatchLayout,
    parametric: bool,
    mean_only: bool,
    genes: Sequence[str] | None,
    block_size: int,
    n_threads: int | None,
) -> np.ndarray:
    """Order samples by batch, leave out genes constant within a batch, run ComBat, restore order."""
    n_genes, n_samples = dat.shape
    batches, ref = layout.index, layout.reference
    n_batch = layout.levels.size
    # Samples ordered by batch, so each batch is a contiguous column slice (no copies per batch).
    perm = np.concatenate(batches)
    identity = bool(np.all(perm == np.arange(n_samples)))
    x = dat if identity else dat[:, perm]
    design = design[perm]
    bounds = np.concatenate([[0], np.cumsum([idx.size for idx in batches])])
    cols = [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(n_batch)]

    # Genes constant within any batch of >= 2 samples: not adjusted (sva's zero.rows).
    zero = np.zeros(n_genes, dtype=bool)
    for c in cols:
        if c.stop - c.start > 1:
            zero |= x[:, c].max(axis=1) == x[:, c].min(axis=1)
    if zero.any():
        log.warning(
            "ComBat: %d gene(s) are constant within a batch (%s); they are not adjusted",
            int(zero.sum()),
            _names(genes, np.flatnonzero(zero), "gene"),
        )
        if zero.all():
            return dat.copy()
        x_fit = x[~zero]
    else:
        x_fit = x

    with np.errstate(divide="ignore", invalid="ignore"):
        adjusted = _combat_core(
            x_fit, design, cols, layout.sizes, ref, parametric, mean_only, block_size, n_threads
        )
    bad_rows = ~np.isfinite(adjusted).all(axis=1)
    if bad_rows.any():  # e.g. a zero pooled variance after removing covariate effects
        log.warning(
            "ComBat: %d gene(s) could not be adjusted (zero residual variance); left unchanged",
            int(bad_rows.sum()),
        )
        adjusted[bad_rows] = x_fit[bad_rows]
    if zero.any():
        full = x.copy() if x is dat else x
        full[~zero] = adjusted
        adjusted = full
    if identity:
        return adjusted
    out = x if x is not adjusted else np.empty_like(adjusted)  # reuse the permuted copy
    out[:, perm] = adjusted
    return out


@dataclass
class Standardised:
    """Data standardised gene-wise (sva: ``s.data``) and what undoes it."""

    data: np.ndarray  #: genes x samples, (x - stand_mean) / sd
    stand_mean: np.ndarray  #: genes x samples: grand mean + covariate part of the fit
    sd: np.ndarray  #: per gene, sqrt of the pooled variance


@dataclass
class BatchMoments:
    """Per-batch estimates on the standardised scale (rows = batches, columns = genes)."""

    gamma_hat: np.ndarray  #: batch location effects
    delta_hat: np.ndarray  #: batch scale effects (within-batch variances; 1 when mean-only)
    xbar: np.ndarray  #: within-batch means
    ss: np.ndarray  #: within-batch centred sums of squares
    n: np.ndarray  #: samples per batch


@dataclass
class Priors:
    """Empirical-Bayes hyperparameters per batch (sva: ``gamma.bar``, ``t2``, ``a.prior``, ``b.prior``)."""

    gamma_bar: np.ndarray
    t2: np.ndarray
    a: np.ndarray
    b: np.ndarray


def _combat_core(
    x: np.ndarray,
    design: np.ndarray,
    cols: list[slice],
    n_batches: np.ndarray,
    ref: int | None,
    parametric: bool,
    mean_only: bool,
    block_size: int,
    n_threads: int | None,
) -> np.ndarray:
    """ComBat on samples ordered by batch (``cols`` = column slice of each batch).

    Returns a new genes x samples array in the same column order; ``x`` is not modified. Large
    arrays are allocated twice only (fresh pages are expensive): one work buffer (fitted values,
    then stand.mean) and the result (standardised data, adjusted in place), plus one buffer the
    size of the largest batch.
    """
    n_batch = len(cols)
    std = _standardise(x, design, cols, n_batches, ref)
    bdes = design[:, :n_batch]
    moments = _batch_moments(std.data, bdes, cols, mean_only)
    priors = _priors(moments)
    gamma_star, delta_star = _posteriors(
        std.data, moments, priors, cols, ref, parametric, mean_only, block_size, n_threads
    )
    return _adjust(x, std, bdes, gamma_star, delta_star, cols, ref)


def _standardise(
    x: np.ndarray, design: np.ndarray, cols: list[slice], n_batches: np.ndarray, ref: int | None
) -> Standardised:
    """sva's standardisation: fit batch + covariates, pooled variance, subtract stand.mean."""
    n_array = x.shape[1]
    n_batch = len(cols)
    # B_hat = (X'X)^-1 X' Y (genes as columns of Y).
    b_hat = np.linalg.solve(design.T @ design, (x @ design).T)  # p x G
    work = np.empty_like(x)
    if ref is not None:
        grand_mean = b_hat[ref]
        r = cols[ref]
        resid = work[:, r]
        np.matmul(b_hat.T, design[r].T, out=resid)
        np.subtract(x[:, r], resid, out=resid)
        var_pooled = np.einsum("ij,ij->i", resid, resid) / (r.stop - r.start)
    else:
        grand_mean = (n_batches / n_array) @ b_hat[:n_batch]
        np.matmul(b_hat.T, design.T, out=work)  # fitted values
        np.subtract(x, work, out=work)
        var_pooled = np.einsum("ij,ij->i", work, work) / n_array
    # stand.mean = grand mean + covariate part of the fit
    stand_mean = work
    if design.shape[1] > n_batch:
        np.matmul(b_hat[n_batch:].T, design[:, n_batch:].T, out=stand_mean)
        stand_mean += grand_mean[:, None]
    else:
        stand_mean[:] = grand_mean[:, None]
    sd = np.sqrt(var_pooled)
    s_data = np.subtract(x, stand_mean)
    s_data /= sd[:, None]
    return Standardised(data=s_data, stand_mean=stand_mean, sd=sd)


def _batch_moments(
    s_data: np.ndarray, bdes: np.ndarray, cols: list[slice], mean_only: bool
) -> BatchMoments:
    """Batch effects on the standardised scale: ``gamma.hat``, ``delta.hat`` and batch moments."""
    n_genes = s_data.shape[0]
    n_batch = len(cols)
    gamma_hat = np.linalg.solve(bdes.T @ bdes, (s_data @ bdes).T)  # n_batch x G
    # within-batch mean and sum of squares of the standardised data
    xbar = np.empty((n_batch, n_genes))
    ss = np.empty((n_batch, n_genes))
    buf = np.empty((n_genes, max(c.stop - c.start for c in cols)))
    for i, c in enumerate(cols):
        block = s_data[:, c]
        xbar[i] = block.mean(axis=1)
        centred = np.subtract(block, xbar[i][:, None], out=buf[:, : c.stop - c.start])
        ss[i] = np.einsum("ij,ij->i", centred, centred)
    del buf
    n_b = np.array([c.stop - c.start for c in cols], dtype=np.float64)
    if mean_only:
        delta_hat = np.ones((n_batch, n_genes))
    else:
        delta_hat = ss / (n_b - 1)[:, None]  # rowVars
    return BatchMoments(gamma_hat=gamma_hat, delta_hat=delta_hat, xbar=xbar, ss=ss, n=n_b)


def _priors(m: BatchMoments) -> Priors:
    """Method-of-moments hyperparameters (sva's ``aprior``/``bprior``, normal prior of gamma)."""
    mean = m.delta_hat.mean(axis=1)
    s2 = m.delta_hat.var(axis=1, ddof=1)
    return Priors(
        gamma_bar=m.gamma_hat.mean(axis=1),
        t2=m.gamma_hat.var(axis=1, ddof=1),
        a=(2 * s2 + mean**2) / s2,
        b=(mean * s2 + mean**3) / s2,
    )


def _posteriors(
    s_data: np.ndarray,
    m: BatchMoments,
    pr: Priors,
    cols: list[slice],
    ref: int | None,
    parametric: bool,
    mean_only: bool,
    block_size: int,
    n_threads: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``gamma.star`` and ``delta.star`` (batches x genes); the reference batch keeps 0 and 1."""
    n_batch, n_genes = m.gamma_hat.shape
    gamma_star = np.zeros((n_batch, n_genes))
    delta_star = np.ones((n_batch, n_genes))
    for i, c in enumerate(cols):
        if i == ref:
            continue  # sva computes it, then sets gamma* = 0, delta* = 1
        if parametric:
            if mean_only:
                gamma_star[i] = _postmean(m.gamma_hat[i], pr.gamma_bar[i], 1.0, 1.0, pr.t2[i])
            else:
                gamma_star[i], delta_star[i] = _it_sol(
                    m.xbar[i], m.ss[i], m.n[i], m.gamma_hat[i], m.delta_hat[i], pr.gamma_bar[i],
                    pr.t2[i], pr.a[i], pr.b[i],
                )  # fmt: skip
        else:
            gamma_star[i], delta_star[i] = _int_eprior(
                s_data[:, c], m.gamma_hat[i], m.delta_hat[i], block_size, n_threads
            )
    return gamma_star, delta_star


def _adjust(
    x: np.ndarray,
    std: Standardised,
    bdes: np.ndarray,
    gamma_star: np.ndarray,
    delta_star: np.ndarray,
    cols: list[slice],
    ref: int | None,
) -> np.ndarray:
    """Remove the batch effects and undo the standardisation, in place on ``std.data``."""
    s_data = std.data
    # All samples of a batch share one row of the batch design.
    for i, c in enumerate(cols):
        block = s_data[:, c]
        block -= (bdes[c.start] @ gamma_star)[:, None]
        block /= np.sqrt(delta_star[i])[:, None]
    s_data *= std.sd[:, None]
    s_data += std.stand_mean
    if ref is not None:
        s_data[:, cols[ref]] = x[:, cols[ref]]
    return s_data


def _postmean(g_hat, g_bar, n, d_star, t2):
    return (t2 * n * g_hat + d_star * g_bar) / (t2 * n + d_star)


def _postvar(sum2, n, a, b):
    return (0.5 * sum2 + b) / (n / 2 + a - 1)


def _it_sol(
    xbar: np.ndarray,
    ss: np.ndarray,
    n: float,
    g_hat: np.ndarray,
    d_hat: np.ndarray,
    g_bar: float,
    t2: float,
    a: float,
    b: float,
    conv: float = CONV,
) -> tuple[np.ndarray, np.ndarray]:
    """sva's ``it.sol``: joint posterior means of gamma and delta by fixed-point iteration.

    ``sum((x - g)^2)`` over the batch's samples is evaluated as ``SS + n (mean(x) - g)^2``
    (exact identity; ``xbar``, ``ss`` = per-gene mean and centred sum of squares), so one
    iteration costs O(G) instead of O(G n).
    """
    g_old, d_old = g_hat, d_hat
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(MAX_ITER):
            g_new = _postmean(g_hat, g_bar, n, d_old, t2)
            sum2 = ss + n * (xbar - g_new) ** 2
            d_new = _postvar(sum2, n, a, b)
            change = max(
                np.nanmax(np.abs(g_new - g_old) / g_old), np.nanmax(np.abs(d_new - d_old) / d_old)
            )
            g_old, d_old = g_new, d_new
            if not change > conv:
                break
        else:
            raise AnalysisError(f"ComBat: it.sol did not converge in {MAX_ITER} iterations")
    return g_new, d_new


def _int_eprior(
    sdat: np.ndarray,
    g_hat: np.ndarray,
    d_hat: np.ndarray,
    block_size: int = 256,
    n_threads: int | None = 1,
    chunk_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """sva's ``int.eprior`` (non-parametric prior), blocked over genes.

    For gene i with standardised values x (n of them) and every other gene j,
    ``LH_ij = (2 pi d_j)^(-n/2) exp(-sum_k (x_k - g_j)^2 / (2 d_j))``;
    ``g*_i = sum_j g_j LH_ij / sum_j LH_ij`` and likewise ``d*_i``.

    Computation (same numbers, O(G^2) flops but far fewer in practice):

    * ``log LH_ij`` is affine in (1, sum x, sum x^2), so a block of genes' log-likelihoods is one
      rank-4 matrix product which also subtracts a per-gene shift (log-sum-exp). The shift is the
      maximum over a strided subset of genes, so each row keeps a weight >= 1 (no 0/0); rows whose
      sums overflow are recomputed with the exact maximum.
    * Genes are sorted by g. With ``sum (x - g_j)^2 = SS + n (mean(x) - g_j)^2``, an upper bound
      of ``log LH`` over a chunk of sorted genes follows from the chunk's g and d ranges; chunks
      whose bound is more than ``PRUNE`` (60) below the shift for every gene of a block are
      skipped: their weights are < e^-60 relative to a weight of 1, i.e. they change the result
      by < G e^-60 (< 1e-21) relative - below double precision.
    * Buffers are reused; blocks are shared among ``n_threads`` threads (numpy releases the GIL).
    """
    return _int_eprior_sums(
        *eprior_sums(sdat), sdat.shape[1], g_hat, d_hat, block_size, n_threads, chunk_size
    )


def eprior_sums(sdat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per gene of one batch's standardised data: sum x, sum x^2 and the centred sum of squares
    ``sum (x - mean x)^2`` - all :func:`_int_eprior` needs of the data. Row by row on a
    C-contiguous copy, so the same rows give the same bits whichever other rows are present (the
    out-of-core ComBat computes them block by block)."""
    sdat = np.ascontiguousarray(sdat, dtype=np.float64)
    s1 = sdat.sum(axis=1)
    s2 = np.einsum("ij,ij->i", sdat, sdat)
    centred = sdat - (s1 / sdat.shape[1])[:, None]
    ss = np.einsum("ij,ij->i", centred, centred)
    return s1, s2, ss


def _int_eprior_sums(
    s1_in: np.ndarray,
    s2_in: np.ndarray,
    ss_in: np.ndarray,
    n: int,
    g_hat: np.ndarray,
    d_hat: np.ndarray,
    block_size: int = 256,
    n_threads: int | None = 1,
    chunk_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_int_eprior` from the per-gene sums of :func:`eprior_sums` (``n`` samples)."""
    n_genes = s1_in.size
    order = np.argsort(np.asarray(g_hat, dtype=np.float64), kind="stable")
    g = np.asarray(g_hat, dtype=np.float64)[order]
    d = np.asarray(d_hat, dtype=np.float64)[order]
    s1, s2, ss = s1_in[order], s2_in[order], ss_in[order]
    xbar = s1 / n
    # log LH_ij = A_j + s1_i * g_j / d_j - s2_i / (2 d_j) - shift_i
    coef = np.empty((4, n_genes))
    coef[0] = -0.5 * n * np.log(2 * np.pi * d) - 0.5 * n * g * g / d
    coef[1] = g / d
    coef[2] = -0.5 / d
    coef[3] = 1.0
    rhs = np.column_stack([g, d, np.ones(n_genes)])
    lhs = np.column_stack([np.ones(n_genes), s1, s2, np.zeros(n_genes)])
    stride = max(1, n_genes // 1024)
    sub = np.arange(0, n_genes, stride)
    sub_coef = np.ascontiguousarray(coef[:3, sub])
    # chunks of sorted genes: g and d ranges
    chunk_size = max(1, chunk_size)
    c_start = np.arange(0, n_genes, chunk_size)
    c_stop = np.minimum(c_start + chunk_size, n_genes)
    g_lo, g_hi = g[c_start], g[c_stop - 1]
    d_lo = np.minimum.reduceat(d, c_start)
    d_hi = np.maximum.reduceat(d, c_start)
    g_star = np.empty(n_genes)
    d_star = np.empty(n_genes)
    block_size = max(1, min(block_size, n_genes))
    fallback = [0]

    def run(starts: range) -> None:
        buf = np.empty(block_size * n_genes)
        for start in starts:
            stop = min(start + block_size, n_genes)
            nb = stop - start
            left = lhs[start:stop].copy()
            # shift = max over a subset of genes (excluding gene i itself): a lower bound of the max
            approx = left[:, :3] @ sub_coef
            own = np.flatnonzero((sub >= start) & (sub < stop))
            approx[sub[own] - start, own] = -np.inf
            shift = approx.max(axis=1)
            left[:, 3] = -shift
            # upper bound of log LH for each (gene of the block, chunk)
            xb = xbar[start:stop, None]
            gap = np.maximum(np.maximum(g_lo[None, :] - xb, xb - g_hi[None, :]), 0.0)
            q = ss[start:stop, None] + n * gap * gap
            dd = np.clip(q / n, d_lo[None, :], d_hi[None, :])
            bound = -0.5 * n * np.log(2 * np.pi * dd) - q / (2 * dd)
            need = (bound - shift[:, None] > -PRUNE).any(axis=0)
            sums = np.zeros((nb, 3))
            for a, b in _runs(need, c_start, c_stop):
                ll = buf[: nb * (b - a)].reshape(nb, b - a)  # contiguous
                np.matmul(left, coef[:, a:b], out=ll)
                lo, hi = max(start, a), min(stop, b)
                if lo < hi:  # leave gene i out of its own prior
                    diag = np.arange(lo, hi)
                    ll[diag - start, diag - a] = -np.inf
                with np.errstate(over="ignore"):
                    np.exp(ll, out=ll)
                sums += ll @ rhs[a:b]
            bad = ~np.isfinite(sums).all(axis=1) | ~(sums[:, 2] > 0)
            fallback[0] += int(bad.sum())
            for r in np.flatnonzero(bad):  # overflow: redo with the exact maximum
                i = start + r
                row = lhs[i, :3] @ coef[:3]
                row[i] = -np.inf
                sums[r] = np.exp(row - row.max()) @ rhs
            g_star[start:stop] = sums[:, 0] / sums[:, 2]
            d_star[start:stop] = sums[:, 1] / sums[:, 2]

    starts = range(0, n_genes, block_size)
    n_threads = max(1, min(n_threads or _available_cpus(), len(starts)))
    # The products here are thin (k = 4 or 3): multi-threaded BLAS only spins (6x slower
    # measured); parallelism comes from our own threads over blocks instead.
    with threadpool_limits(limits=1, user_api="blas"):
        if n_threads == 1:
            run(starts)
        else:
            with ThreadPoolExecutor(n_threads) as pool:
                for fut in [pool.submit(run, starts[k::n_threads]) for k in range(n_threads)]:
                    fut.result()
    if fallback[0]:
        log.debug("int.eprior: %d gene(s) recomputed with the exact maximum", fallback[0])
    out_g = np.empty(n_genes)
    out_d = np.empty(n_genes)
    out_g[order] = g_star
    out_d[order] = d_star
    return out_g, out_d


def _runs(need: np.ndarray, c_start: np.ndarray, c_stop: np.ndarray):
    """Column ranges [a, b) covering consecutive needed chunks."""
    idx = np.flatnonzero(need)
    if idx.size == 0:
        return
    breaks = np.flatnonzero(np.diff(idx) > 1)
    firsts = np.concatenate([[idx[0]], idx[breaks + 1]])
    lasts = np.concatenate([idx[breaks], [idx[-1]]])
    for f, last in zip(firsts, lasts, strict=True):
        yield int(c_start[f]), int(c_stop[last])


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
