"""limma-voom: precision weights for log-counts, and sample quality weights.

A numpy re-implementation of Bioconductor limma 3.54.1 functions ``voom``, ``arrayWeights``
(``method = "genebygene"``, limma's ``.arrayWeightsGeneByGene``) and ``voomWithQualityWeights``,
mirrored from the R source:

- Law CW, Chen Y, Shi W, Smyth GK (2014). voom: precision weights unlock linear model analysis
  tools for RNA-seq read counts. Genome Biology 15:R29.
- Ritchie ME et al. (2006). Empirical array quality weights in the analysis of microarray data.
  BMC Bioinformatics 7:261; Liu R et al. (2015). Why weight? Modelling sample and observational
  level variability improves power in RNA-seq analyses. Nucleic Acids Research 43:e97.

``voom``: ``E = log2((counts + 0.5) / (lib_size + 1) * 1e6)``; a (weighted) linear fit
(:func:`markerflow.engines.limma.lm_fit`); the square root of each gene's residual SD against its
mean log-count (``Amean + mean(log2(lib_size + 1)) - log2(1e6)``, all-zero genes left out) smoothed
by ``lowess(f = span)`` (:func:`markerflow.rcompat.lowess.lowess`); the trend, linearly
interpolated with constant extrapolation (``approxfun(rule = 2)``), evaluated at each fitted
log-count gives the weight ``1 / trend^4``. Deviations (rounding level, ~1e-15 relative): the
fitted log-count is ``fitted + log2(lib_size + 1) - log2(1e6)`` (R takes ``2^`` then ``log2``), and
the trend is interpolated through lowess's locally fitted points only
(:func:`markerflow.rcompat.lowess.lowess_fit_points`; lowess's other outputs lie on the lines
between them). ``normalize.method`` is ``"none"`` (limma's default):
give TMM-scaled library sizes instead (``lib_size * norm_factors``, as voom of a DGEList).

``voomWithQualityWeights`` (3.54 defaults): voom, ``arrayWeights(method = "genebygene")`` with the
voom weights as prior weights, voom again with those sample weights in the fit, sample weights
again, and the final weights = voom weights x sample weights. The gene-by-gene REML of
``arrayWeights`` is a sequential update over genes (each gene's fit uses the sample weights left by
the previous one), so it is the one loop over genes in markerflow: inherently sequential, with
one small QR and one (n-1) x (n-1) solve per gene, as in R.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from markerflow.engines import limma
from markerflow.errors import AnalysisError, InputError
from markerflow.rcompat.interpolate import approx_rule2_ties_mean
from markerflow.rcompat.lowess import lowess, lowess_fit_points

__all__ = ["VoomResult", "array_weights", "voom", "voom_with_quality_weights"]


@dataclasses.dataclass
class VoomResult:
    """limma's ``EList`` from voom: log-CPM values, precision weights and the trend."""

    expression: np.ndarray  #: genes x samples, log2-CPM (limma's ``E``)
    weights: np.ndarray  #: genes x samples precision weights
    lib_size: np.ndarray  #: library sizes used (samples)
    design: np.ndarray  #: samples x p
    sample_weights: np.ndarray | None = None  #: voomWithQualityWeights' sample weights
    trend_x: np.ndarray | None = None  #: mean log2 count per gene (voom.xy$x)
    trend_y: np.ndarray | None = None  #: sqrt residual SD per gene (voom.xy$y)


def _check(counts: np.ndarray, design: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim != 2:
        raise InputError("counts must be a 2-d genes x samples matrix")
    if y.shape[0] < 2:
        raise InputError("voom needs at least two genes to fit a mean-variance trend")
    if np.isnan(y).any():
        raise InputError("NA counts are not allowed", hint="replace missing counts by 0")
    if (y < 0).any():
        raise InputError("negative counts are not allowed")
    x = np.ones((y.shape[1], 1)) if design is None else np.asarray(design, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    return y, x


def voom(
    counts: np.ndarray,
    design: np.ndarray | None = None,
    lib_size: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    span: float = 0.5,
) -> VoomResult:
    """``limma::voom(counts, design, lib.size, weights = weights, span = span)`` (3.54).

    ``counts``: genes x samples; ``design``: samples x p (intercept only if None); ``lib_size``
    defaults to the column sums; ``weights`` (sample or genes x samples) enter the linear fit.
    Fewer than two genes with residual df give unit weights (as R, with a warning there).
    """
    y_counts, x = _check(counts, design)
    lib = y_counts.sum(axis=0) if lib_size is None else np.asarray(lib_size, dtype=np.float64)
    if lib.shape != (y_counts.shape[1],):
        raise InputError(
            f"lib_size has {lib.size} values but the matrix has {y_counts.shape[1]} samples"
        )
    e = y_counts + 0.5  # log2((counts + 0.5) / (lib_size + 1) * 1e6), in place
    e /= (lib + 1)[None, :]
    e *= 1e6
    np.log2(e, out=e)
    fit = limma.lm_fit(e, x, weights=weights)
    if int(np.sum(fit.df_residual > 0)) < 2:
        return VoomResult(e, np.ones_like(e), lib, x)
    sx = fit.amean + float(np.mean(np.log2(lib + 1))) - math.log2(1e6)
    sy = np.sqrt(fit.sigma)
    allzero = y_counts.sum(axis=1) == 0
    if allzero.any():
        sx, sy = sx[~allzero], sy[~allzero]
    line = lowess(sx, sy, f=span)
    # the trend through lowess's locally fitted points only (the rest of its output is linear
    # interpolation between them): the same function, and a short table for millions of look-ups
    order = np.argsort(sx, kind="stable")
    knots = order[lowess_fit_points(sx, f=span)]
    # log2(1e-6 * 2^fitted * (lib + 1)), as R, in one pass
    logcount = fit.coefficients @ x.T
    logcount += (np.log2(lib + 1) - math.log2(1e6))[None, :]
    trend = approx_rule2_ties_mean(sx[knots], line[knots], logcount.ravel()).reshape(logcount.shape)
    w = np.square(trend, out=trend)
    np.square(w, out=w)
    np.divide(1.0, w, out=w)
    return VoomResult(e, w, lib, x, trend_x=sx, trend_y=sy)


def array_weights(
    expression: np.ndarray,
    design: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    prior_n: float = 10,
) -> np.ndarray:
    """Sample quality weights, ``limma::arrayWeights(E, design, weights, method = "genebygene")``.

    limma's ``.arrayWeightsGeneByGene`` with ``var.design = contr.sum(n)``: one Fisher-scoring
    step of the log-linear variance model per gene, in gene order, starting from the prior
    information ``prior_n * Z2'Z2``. Zero weights make an observation missing (as R). Fewer than
    two genes, or fewer than two residual df, give unit weights.
    """
    e = np.asarray(expression, dtype=np.float64).copy()
    g, n = e.shape
    aw = np.ones(n)
    if g < 2:
        return aw
    x = np.ones((n, 1)) if design is None else np.asarray(design, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    p = np.linalg.matrix_rank(x)
    if p < x.shape[1]:
        raise AnalysisError("design matrix is not of full column rank")
    if n - p < 2:
        return aw
    w_prior: np.ndarray | None = None
    if weights is not None:
        w_prior = np.array(np.broadcast_to(np.asarray(weights, dtype=np.float64), e.shape))
        if np.isnan(w_prior).any():
            raise InputError("NA weights are not allowed")
        if (w_prior < 0).any():
            raise InputError("negative weights are not allowed")
        if np.isinf(w_prior).any():
            raise InputError("infinite weights are not allowed")
        zero = w_prior == 0
        if zero.any():
            e[zero] = np.nan
            w_prior[zero] = 1.0
    e[np.isinf(e)] = np.nan
    # contr.sum(n): identity on the first n-1 samples, -1 for the last
    z2 = np.vstack([np.eye(n - 1), -np.ones((1, n - 1))])
    gam = np.zeros(n - 1)
    info2 = prior_n * (z2.T @ z2)
    has_na: np.ndarray = np.asarray(np.isnan(e).any(axis=1))
    diag = np.diag_indices(n - 1)
    for i in range(g):  # sequential by construction (see the module docstring)
        w = aw if w_prior is None else aw * w_prior[i]
        yi = e[i]
        xi = x
        obs: np.ndarray | None = None
        if has_na[i]:
            obs = np.isfinite(yi)
            if int(obs.sum()) <= 2:
                continue
            xi, yi, w = x[obs], yi[obs], w[obs]
            if xi.shape[0] - p < 2:
                continue
        sw = np.sqrt(w)
        q, _ = np.linalg.qr(xi * sw[:, None])
        wy = yi * sw
        res = wy - q @ (q.T @ wy)
        s2 = float(res @ res) / (xi.shape[0] - p)
        if s2 < 1e-15:
            continue
        hat = np.einsum("ij,ij->i", q, q)
        if obs is None:
            d = res**2
            h1 = 1 - hat
        else:
            d = np.zeros(n)
            h1 = np.zeros(n)
            d[obs] = res**2
            h1[obs] = 1 - hat
        # info = Z' diag(h1) Z with Z = cbind(1, Z2); info2 += Schur complement of info[1, 1].
        # With Z2 = contr.sum(n): Z2' diag(h) Z2 = diag(h[:-1]) + h[-1], Z2' h = h[:-1] - h[-1].
        info_1z = h1[:-1] - h1[-1]
        info2 = info2 - np.outer(info_1z, info_1z) / h1.sum()
        info2 += h1[-1]
        info2[diag] += h1[:-1]
        z = d / s2 - h1
        gam = gam + np.linalg.solve(info2, z[:-1] - z[-1])
        aw = np.exp(np.append(-gam, gam.sum()))
    return aw


def voom_with_quality_weights(
    counts: np.ndarray,
    design: np.ndarray | None = None,
    lib_size: np.ndarray | None = None,
    span: float = 0.5,
) -> VoomResult:
    """``limma::voomWithQualityWeights(counts, design, lib.size)`` with 3.54 defaults
    (``method = "genebygene"``, ``prior.n = 10``, no variance design)."""
    v = voom(counts, design, lib_size=lib_size, span=span)
    aw = array_weights(v.expression, v.design, weights=v.weights)
    v = voom(counts, design, lib_size=lib_size, weights=aw, span=span)
    aw = array_weights(v.expression, v.design, weights=v.weights)
    v.weights = v.weights * aw[None, :]
    v.sample_weights = aw
    return v
