"""Intra-block correlation and the blocked (GLS) linear model fit, as limma for paired designs.

Ports, step by step, of Bioconductor limma 3.54.1 ``duplicateCorrelation`` (R/dups.R, with
``block=``) and ``gls.series`` (``lmFit(block=, correlation=)``, R/lmfit.R), and of statmod
1.5.0 ``mixedModel2Fit`` / ``glmgam.fit`` (REML variance components by a gamma GLM with identity
link, the randomized-block method of Smyth & Verbyla):

- Smyth GK, Michaud J, Scott HS (2005). Use of within-array replicate spots for assessing
  differential expression in microarray experiments. Bioinformatics 21:2067-2075.
- Smyth GK, Verbyla AP (1996). A conditional likelihood approach to residual maximum likelihood
  estimation in generalized linear models. J R Stat Soc B 58:565-572 (``glmgam.fit``).

For each gene, REML estimates of the residual and block variance components ``(s_e, s_b)`` of
``y = X b + Z u + e`` come from the residual space of ``X``: with ``Q2`` an orthonormal basis of
it and ``U diag(d) U'`` the eigen-decomposition of ``Q2' Z Z' Q2`` (``La.svd``), the squared
rotated residuals ``(U' Q2' y)^2`` are independent with means ``s_e + d s_b``, a gamma GLM with
identity link fitted by ``glmgam.fit`` (Levenberg-damped Fisher scoring, ``tol = 1e-6``,
``maxit = 20`` as duplicateCorrelation calls it). The correlation is ``s_b / (s_e + s_b)``,
clipped to ``[1 / (1 - max block size) + 0.01, 0.99]``; the consensus is
``tanh(mean(atanh(rho), trim = 0.15))``.

Vectorised over genes: genes with the same observed samples (and the same weights row, when
weights are array weights) share ``Q2``, ``U`` and ``d``, so their rotated residuals are one
matrix product, and the gamma GLM iterations run on all genes at once (a loop over iterations
and damping steps, with per-gene state, never over genes). Genes with probe-specific weights are
transformed in batches (stacked numpy QR/SVD). The fitted values do not depend on the basis
chosen for an eigenspace of repeated ``d`` (the GLM sees only sums over equal ``d``), so numpy's
LAPACK bases give R's numbers to rounding.

Deviations from R: none intended in what is ported. As in R, a gene's fit that fails (a
non-positive-definite damped information matrix, an undefined comparison) gives NA (NaN here)
for that gene only. Not ported: limma's within-array duplicate spots (``block = NULL`` with
``ndups``/``spacing``); a block is required. R prints a note for a rank-deficient design in
duplicateCorrelation and carries on; so does this port (the block fit itself needs full rank).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.linalg import solve_triangular

from markerflow.engines.limma import LinearFit, _check_weights, _fit_block
from markerflow.errors import AnalysisError, InputError
from markerflow.rcompat.qr import estimable_columns
from markerflow.rcompat.summaries import mean_trim

__all__ = ["DupCorResult", "duplicate_correlation", "lm_fit_blocked"]

_BATCH = 64  # genes per stacked QR/SVD when weights are probe-specific
_CHUNK = 8192  # genes per vectorised gamma-GLM fit (memory ~ 10 x _CHUNK x n doubles)


@dataclasses.dataclass(frozen=True)
class DupCorResult:
    """Result of :func:`duplicate_correlation` (limma's ``consensus.correlation`` and
    ``atanh.correlations``; NaN where R has NA)."""

    consensus: float
    atanh_correlations: np.ndarray


# --------------------------------------------------------------------------------------------
# input checks shared by both functions
# --------------------------------------------------------------------------------------------
def _check_inputs(
    y: np.ndarray, design: np.ndarray | None, block: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.array(y, dtype=np.float64)
    if y.ndim != 2:
        raise InputError("expression data must be a 2-d genes x samples matrix")
    n = y.shape[1]
    x = np.ones((n, 1)) if design is None else np.asarray(design, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[0] != n:
        raise InputError(
            f"design has {x.shape[0]} rows but the expression matrix has {n} samples",
            hint="give one design row per sample, in the column order of the matrix",
        )
    if not np.all(np.isfinite(x)):
        raise InputError("design matrix contains missing or infinite values")
    b = np.asarray(block)
    if b.ndim != 1 or b.size != n:
        raise InputError(
            f"block has {b.size} values but the expression matrix has {n} samples",
            hint="give one block (subject) label per sample, in the column order of the matrix",
        )
    missing = [
        i for i, v in enumerate(b.tolist()) if v is None or (isinstance(v, float) and v != v)
    ]
    if missing:
        raise InputError(
            f"block label missing for sample {missing[0] + 1} (column {missing[0]} of the matrix)"
            f"{f' and {len(missing) - 1} more' if len(missing) > 1 else ''}",
            hint="give every sample its block (subject), or leave the sample out",
        )
    if y.shape[0] == 0:
        raise InputError("expression matrix has zero rows")
    return y, x, b


def _as_matrix_weights(weights: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """limma's ``asMatrixWeights`` (:func:`markerflow.engines.limma._check_weights`) as a
    writable copy: the genes x samples matrix and whether the weights are array weights."""
    w, array_w = _check_weights(weights, shape)
    return np.array(w, dtype=np.float64), array_w


def _groups(keys: np.ndarray) -> list[np.ndarray]:
    """Row indices of each distinct row of ``keys`` (bytes per gene), in first-seen order."""
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(first.size + 1))
    return [order[bounds[k] : bounds[k + 1]] for k in np.argsort(first)]


# --------------------------------------------------------------------------------------------
# statmod::glmgam.fit, vectorised over genes (X = [1, d], identity link)
# --------------------------------------------------------------------------------------------
def _rowdot(a: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Row-wise ``sum(a * d)``; ``d`` is one shared row (1 x m) or one row per gene."""
    return a @ d[0] if d.shape[0] == 1 else np.einsum("ij,ij->i", a, d)


def _deviance_gamma(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """statmod's ``deviance.gamma`` per row: ``2 sum((y - mu) / mu - log(y / mu))``, Inf when a
    fitted value is negative, with the ``y < 1e-15 & mu < 1e-15`` terms left out."""
    with np.errstate(divide="ignore", invalid="ignore"):
        term = (y - mu) / mu - np.log(y / mu)
    o = (y < 1e-15) & (mu < 1e-15)
    anyo = o.any(axis=1)
    if anyo.any():
        term = np.where(o, 0.0, term)
    dev = 2 * term.sum(axis=1)
    if anyo.any():
        dev[o.all(axis=1)] = 0.0
    dev[(mu < 0).any(axis=1)] = np.inf
    return dev


def _glmgam_fit(
    d: np.ndarray, y: np.ndarray, start: np.ndarray, tol: float = 1e-6, maxit: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """statmod 1.5.0 ``glmgam.fit(cbind(1, d), y, coef.start = start, tol, maxit)`` for many
    genes at once: gamma GLM, identity link, Levenberg damping.

    ``d`` is 1 x m (shared) or genes x m, ``y`` genes x m, ``start`` genes x 2. Returns the
    coefficients (genes x 2) and a flag per gene for R's errors (a failed Cholesky
    factorisation, an NA in a test of the loop), which duplicateCorrelation turns into NA.
    """
    g, _ = y.shape
    beta = start.astype(np.float64).copy()
    failed = np.zeros(g, dtype=bool)
    d2 = d * d
    mu = beta[:, :1] + beta[:, 1:2] * d
    if (mu < 0).any(axis=1).any():  # "Starting values give negative fitted values"
        failed |= (mu < 0).any(axis=1)
    dev = _deviance_gamma(y, mu)
    lam = np.zeros(g)
    active = ~failed
    it = 0
    while active.any():
        it += 1
        a = np.flatnonzero(active)
        ya, mua, da = y[a], mu[a], (d if d.shape[0] == 1 else d[a])
        d2a = d2 if d.shape[0] == 1 else d2[a]
        v = mua * mua
        v = np.maximum(v, v.max(axis=1, keepdims=True) / 10**3)
        iv = 1 / v
        x11 = iv.sum(axis=1)
        x12 = _rowdot(iv, da)
        x22 = _rowdot(iv, d2a)
        maxinfo = np.maximum(x11, x22)
        if it == 1:
            lam[a] = np.abs((x11 + x22) / 2) / 2
        r = (ya - mua) * iv
        dl1 = r.sum(axis=1)
        dl2 = _rowdot(r, da)
        betaold = beta[a].copy()
        devold = dev[a]
        lev = np.zeros(a.size, dtype=np.intp)
        dbeta = np.zeros((a.size, 2))
        pending = np.ones(a.size, dtype=bool)  # still in the damping loop
        toomuch = np.zeros(a.size, dtype=bool)
        while pending.any():
            p = np.flatnonzero(pending)
            lev[p] += 1
            la = lam[a[p]]
            a11 = x11[p] + la
            a12 = x12[p]
            a22 = x22[p] + la
            with np.errstate(invalid="ignore", divide="ignore"):
                r11 = np.sqrt(a11)
                r12 = a12 / r11
                s22 = a22 - r12 * r12
                bad = ~(a11 > 0) | ~(s22 > 0)  # chol(): "not positive definite"
                r22 = np.sqrt(s22)
                z1 = dl1[p] / r11
                z2 = (dl2[p] - r12 * z1) / r22
                b2 = z2 / r22
                b1 = (z1 - r12 * b2) / r11
            if bad.any():
                failed[a[p[bad]]] = True
                pending[p[bad]] = False
                keep = ~bad
                p, b1, b2 = p[keep], b1[keep], b2[keep]
                if p.size == 0:
                    break
            dbeta[p, 0], dbeta[p, 1] = b1, b2
            nb = betaold[p] + dbeta[p]
            beta[a[p]] = nb
            dsub = da if da.shape[0] == 1 else da[p]
            mup = nb[:, :1] + nb[:, 1:2] * dsub
            mu[a[p]] = mup
            devp = _deviance_gamma(ya[p], mup)
            dev[a[p]] = devp
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = devp / mup.max(axis=1)
            c1, c2 = devp <= devold[p], ratio < 1e-15
            na1 = np.isnan(devp) | np.isnan(devold[p])
            na2 = np.isnan(ratio)
            ok = c1 | c2
            undefined = ~ok & (na1 | na2)  # if (NA) in R: an error
            if undefined.any():
                failed[a[p[undefined]]] = True
                pending[p[undefined]] = False
            done = ok
            pending[p[done]] = False
            rest = ~done & ~undefined
            if rest.any():
                pr = p[rest]
                tm = lam[a[pr]] / maxinfo[pr] > 1e15
                if tm.any():  # "Too much damping": beta back to betaold (mu, dev are not)
                    beta[a[pr[tm]]] = betaold[pr[tm]]
                    toomuch[pr[tm]] = True
                    pending[pr[tm]] = False
                lam[a[pr[~tm]]] *= 2
        still = ~failed[a]
        big = lam[a] / maxinfo > 1e15  # R: if (lambda/maxinfo > 1e+15) break
        stop = toomuch | big | ~still
        one = still & ~stop & (lev == 1)
        lam[a[one]] /= 10
        with np.errstate(invalid="ignore", divide="ignore"):
            crit = dl1 * dbeta[:, 0] + dl2 * dbeta[:, 1]
            ratio = dev[a] / mu[a].max(axis=1)
        conv = (crit < tol) | (ratio < 1e-15)
        undefined = still & ~stop & ~conv & (np.isnan(crit) | np.isnan(ratio))
        failed[a[undefined]] = True
        stop |= conv | undefined | (it > maxit)
        active[a[stop]] = False
    return beta, failed


# --------------------------------------------------------------------------------------------
# statmod::mixedModel2Fit(only.varcomp = TRUE) for a group of genes sharing X and Z
# --------------------------------------------------------------------------------------------
def _residual_rotation(xw: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``W = U' Q2'`` (mq x n) and ``d`` (mq) of mixedModel2Fit for one (weighted) design."""
    est = estimable_columns(xw)
    n = xw.shape[0]
    r = est.size
    q, _ = np.linalg.qr(xw[:, est], mode="complete") if r else (np.eye(n), None)
    q2 = q[:, r:]
    mq = n - r
    u, s, _ = np.linalg.svd(q2.T @ z, full_matrices=True)
    d = np.zeros(mq)
    d[: s.size] = s**2
    return u.T @ q2.T, d


def _varcomp(d: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Variance components (genes x 2: residual, block) from the rotated squared residuals, as
    mixedModel2Fit: OLS of ``dy`` on ``[1, d]`` (``lm.fit``, NA for an aliased column), then
    ``glmgam.fit`` from it (or from ``(mean(dy), 0)`` when OLS fits a negative value) when
    ``mq > 2``, more than one ``d`` exceeds 1e-15 and ``var(d) > 1e-15``. ``d`` is 1 x mq
    (shared) or genes x mq. Failed fits are NaN."""
    g, mq = dy.shape
    shared = d.shape[0] == 1
    out = np.full((g, 2), np.nan)
    if shared:
        dx = np.column_stack([np.ones(mq), d[0]])
        coef, _, _, _ = _fit_block(dy, dx)
        var_d = float(np.var(d[0], ddof=1)) if mq > 1 else math.nan
        use_glm = np.full(g, mq > 2 and int(np.sum(np.abs(d[0]) > 1e-15)) > 1 and var_d > 1e-15)
    else:
        coef = np.full((g, 2), np.nan)
        for i in range(0, g, _BATCH):  # stacked 2-column least squares, rank per gene
            sl = slice(i, i + _BATCH)
            dx = np.stack([np.ones_like(d[sl]), d[sl]], axis=2)
            qb, rb = np.linalg.qr(dx)
            eff = np.einsum("bij,bi->bj", qb, dy[sl])
            full = np.abs(rb[:, 1, 1]) >= 1e-7 * np.sqrt(np.einsum("ij,ij->i", d[sl], d[sl]))
            c2 = np.where(full, eff[:, 1] / rb[:, 1, 1], np.nan)
            c1 = np.where(
                full, (eff[:, 0] - rb[:, 0, 1] * c2) / rb[:, 0, 0], eff[:, 0] / rb[:, 0, 0]
            )
            coef[sl, 0], coef[sl, 1] = c1, c2
        with np.errstate(invalid="ignore"):
            var_dg = np.var(d, axis=1, ddof=1) if mq > 1 else np.full(g, np.nan)
        use_glm = (mq > 2) & ((np.abs(d) > 1e-15).sum(axis=1) > 1) & (var_dg > 1e-15)
    out[~use_glm] = coef[~use_glm]
    if use_glm.any():
        gi = np.flatnonzero(use_glm)
        c = coef[gi]
        dg = d if shared else d[gi]
        fitted = c[:, :1] + c[:, 1:2] * dg
        start = c.copy()
        neg = ~np.all(fitted >= 0, axis=1)
        start[neg, 0] = dy[gi][neg].mean(axis=1)
        start[neg, 1] = 0.0
        beta, failed = _glmgam_fit(dg, dy[gi], start, tol=1e-6, maxit=20)
        beta[failed] = np.nan
        out[gi] = beta
    return out


def duplicate_correlation(
    y: np.ndarray,
    design: np.ndarray | None,
    block: np.ndarray,
    weights: np.ndarray | None = None,
    trim: float = 0.15,
) -> DupCorResult:
    """Consensus intra-block correlation, as ``limma::duplicateCorrelation(y, design, block =
    block, weights = weights, trim = trim)`` (limma 3.54.1, statmod 1.5.0).

    ``y`` is genes x samples (NaN/inf = missing), ``design`` samples x p (None: intercept only),
    ``block`` one label per sample (e.g. the subject), ``weights`` None, one per sample (array
    weights) or genes x samples (non-positive = missing). A gene enters when it has more than
    ``p + 2`` observations in more than one block and fewer blocks than observations minus one;
    its correlation is REML's ``s_b / (s_e + s_b)`` (module docstring), clipped to
    ``[1 / (1 - max block size) + 0.01, 0.99]``; NaN otherwise or when its fit fails, as R's NA.
    The consensus is ``tanh`` of the ``trim``-trimmed mean of the finite ``atanh`` values. As in
    R, blocks all of size 1, or a block factor already in the design, give correlation 0.
    """
    y, x, blk = _check_inputs(y, design, block)
    g, n = y.shape
    nbeta = x.shape[1]
    levels, codes = np.unique(blk, return_inverse=True)
    codes = codes.ravel()
    max_block = int(np.bincount(codes).max())
    zeros = DupCorResult(0.0, np.zeros(g))
    if max_block == 1:
        return zeros  # R: "Blocks all of size 1: setting intrablock correlation to zero."
    est = estimable_columns(x)
    q, _ = np.linalg.qr(x[:, est], mode="complete")
    zb = (codes[:, None] == np.arange(1, levels.size)[None, :]).astype(np.float64)
    if zb.size and np.max(np.abs(q[:, est.size :].T @ zb), initial=0.0) < 1e-8:
        return zeros  # R: "Block factor already encoded in the design matrix"
    array_w = True
    w = None
    if weights is not None:
        w, array_w = _as_matrix_weights(weights, (g, n))
        with np.errstate(invalid="ignore"):
            w[~(w > 0)] = np.nan
        y[~np.isfinite(w)] = np.nan
    obs = np.isfinite(y)
    rho = np.full(g, np.nan)
    keys = np.packbits(obs, axis=1)
    # transform each missingness group, then fit the gamma GLM once per residual dimension mq
    # (groups of equal mq are stacked, each gene with its own d), so that many small NaN
    # patterns cost one vectorised fit rather than one each
    buckets: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for rows in _groups(keys):
        o = obs[rows[0]]
        nobs = int(o.sum())
        oc = codes[o]
        ulev = np.unique(oc)
        if not (nobs > nbeta + 2 and 1 < ulev.size < nobs - 1):
            continue
        z = (oc[:, None] == ulev[None, :]).astype(np.float64)  # model.matrix(~0 + A)
        xo = x[o]
        yo = y[np.ix_(rows, np.flatnonzero(o))]
        if w is None or array_w:
            if w is not None:
                sw = np.sqrt(w[rows[0], o])
                xo, yo = sw[:, None] * xo, yo * sw
            rot, d = _residual_rotation(xo, z)
            dy = (yo @ rot.T) ** 2
            buckets.setdefault(d.size, []).append((rows, d[None, :], dy))
            continue
        sw = np.sqrt(w[np.ix_(rows, np.flatnonzero(o))])
        r_est = estimable_columns(xo)
        mq = nobs - r_est.size
        for i in range(0, rows.size, _BATCH):  # probe weights: stacked QR/SVD per batch
            sws = sw[i : i + _BATCH]
            xs = sws[:, :, None] * xo[None, :, r_est]
            qs, _ = np.linalg.qr(xs, mode="complete")
            q2 = qs[:, :, r_est.size :]
            us, ss, _ = np.linalg.svd(np.swapaxes(q2, 1, 2) @ z, full_matrices=True)
            dd = np.zeros((sws.shape[0], mq))
            dd[:, : ss.shape[1]] = ss**2
            e = np.einsum("bij,bi->bj", q2, yo[i : i + _BATCH] * sws)
            dyb = np.einsum("bij,bi->bj", us, e) ** 2
            buckets.setdefault(mq, []).append((rows[i : i + _BATCH], dd, dyb))
    for parts in buckets.values():
        rows = np.concatenate([pr for pr, _, _ in parts])
        if len(parts) == 1:
            dcat, dycat = parts[0][1], parts[0][2]
        else:
            dcat = np.concatenate(
                [np.broadcast_to(pd_, (pr.size, pd_.shape[1])) for pr, pd_, _ in parts]
            )
            dycat = np.concatenate([pdy for _, _, pdy in parts])
        vc = np.empty((rows.size, 2))
        for i in range(0, rows.size, _CHUNK):  # bounds the GLM's temporaries
            sl = slice(i, i + _CHUNK)
            vc[sl] = _varcomp(dcat if dcat.shape[0] == 1 else dcat[sl], dycat[sl])
        with np.errstate(invalid="ignore", divide="ignore"):
            rr = vc[:, 1] / (vc[:, 0] + vc[:, 1])
        rr[np.isnan(vc[:, 0])] = np.nan
        rho[rows] = rr
    rhomax = 0.99
    rhomin = 1 / (1 - max_block) + 0.01
    with np.errstate(invalid="ignore"):
        rho = np.where(rho < rhomin, rhomin, rho)
        rho = np.where(rho > rhomax, rhomax, rho)
    arho = np.arctanh(rho)
    fin = arho[~np.isnan(arho)]
    consensus = math.tanh(mean_trim(fin, trim)) if fin.size else math.nan
    return DupCorResult(consensus, arho)


# --------------------------------------------------------------------------------------------
# gls.series: lmFit(block =, correlation =)
# --------------------------------------------------------------------------------------------
def lm_fit_blocked(
    y: np.ndarray,
    design: np.ndarray,
    block: np.ndarray,
    correlation: float,
    weights: np.ndarray | None = None,
) -> LinearFit:
    """Gene-wise generalised least squares with a block-diagonal correlation, as
    ``limma::lmFit(y, design, block = block, correlation = correlation, weights = weights)``
    (``gls.series``, limma 3.54.1).

    The correlation matrix ``V`` has 1 on the diagonal and ``correlation`` between samples of
    the same block (scaled by ``1 / sqrt(w)`` on both sides with weights); with ``V = L L'``
    (Cholesky), ``L^-1 y`` is fitted by ordinary least squares on ``L^-1 X``. Genes without
    missing values (and array weights) share ``L``; genes with missing values use ``V`` of their
    observed samples, one factorisation per missingness pattern (R: one per gene), and probe
    weights one per gene in stacked batches. ``sigma`` is the whitened residual SD with
    ``df_residual = n_obs - rank``; ``cov_coefficients`` is ``(X' V^-1 X)^-1`` of the full
    design, ``amean`` the plain row mean, ``design`` the unwhitened design, so
    :func:`~markerflow.engines.limma.contrasts_fit`, ``ebayes`` and ``top_table`` apply as to
    :func:`~markerflow.engines.limma.lm_fit`.
    """
    y, x, blk = _check_inputs(y, design, block)
    if not np.isfinite(correlation):
        raise InputError("the intra-block correlation is not a finite number")
    if abs(correlation) >= 1:
        raise AnalysisError("correlation is 1 or -1, so the model is degenerate")
    g, n = y.shape
    p = x.shape[1]
    if estimable_columns(x).size < p:
        raise AnalysisError(
            "design matrix is not of full column rank: some coefficients are not estimable "
            "(a covariate is constant or confounded with another)"
        )
    _, codes = np.unique(blk, return_inverse=True)
    codes = codes.ravel()
    cormatrix = np.where(codes[:, None] == codes[None, :], float(correlation), 0.0)
    np.fill_diagonal(cormatrix, 1.0)
    # Amean as lmFit's getEAWP: row means of the data as given, NaN left out
    present = ~np.isnan(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        amean = np.where(present, y, 0.0).sum(axis=1) / present.sum(axis=1)
    w = None
    array_w = True
    if weights is not None:
        wm = np.asarray(weights, dtype=np.float64)
        w, array_w = _as_matrix_weights(np.where(np.isnan(wm), 0.0, wm), (g, n))
        low = w < 1e-15
        y[low] = np.nan
        w[low] = np.nan
    coef = np.full((g, p), np.nan)
    su = np.full((g, p), np.nan)
    sigma = np.full(g, np.nan)
    dfres = np.zeros(g)
    obs = np.isfinite(y)
    if w is not None and not array_w:
        groups = [(rows, False) for rows in _groups(np.packbits(obs, axis=1))]
    else:
        groups = [(rows, True) for rows in _groups(np.packbits(obs, axis=1))]
    for rows, shared in groups:
        o = obs[rows[0]]
        oi = np.flatnonzero(o)
        nobs = oi.size
        if nobs == 0:
            continue
        v = cormatrix[np.ix_(oi, oi)]
        xo = x[oi]
        yo = y[np.ix_(rows, oi)]
        if shared:
            if w is not None:
                wrs = 1 / np.sqrt(w[rows[0], oi])
                v = wrs[:, None] * v * wrs[None, :]
            lchol = np.linalg.cholesky(v)
            yw = solve_triangular(lchol, yo.T, lower=True).T
            if np.all(xo == 0):
                dfres[rows] = nobs
                sigma[rows] = np.sqrt(np.einsum("ij,ij->i", yw, yw) / nobs)
                continue
            xw = solve_triangular(lchol, xo, lower=True)
            c, s, rss, rank = _fit_block(yw, xw)
            coef[rows], su[rows] = c, s
            dfres[rows] = nobs - rank
            if nobs - rank > 0:
                sigma[rows] = np.sqrt(rss / (nobs - rank))
            continue
        assert w is not None
        est = estimable_columns(xo)
        rank = est.size
        for i in range(0, rows.size, _BATCH):  # probe weights: one V per gene, stacked
            rb = rows[i : i + _BATCH]
            wrs = 1 / np.sqrt(w[np.ix_(rb, oi)])
            vb = wrs[:, :, None] * v[None] * wrs[:, None, :]
            lb = np.linalg.cholesky(vb)
            ywb = np.linalg.solve(lb, yo[i : i + _BATCH, :, None])[:, :, 0]
            if np.all(xo == 0):
                dfres[rb] = nobs
                sigma[rb] = np.sqrt(np.einsum("ij,ij->i", ywb, ywb) / nobs)
                continue
            xwb = np.linalg.solve(lb, np.broadcast_to(xo[:, est], (rb.size, nobs, rank)))
            qb, rr = np.linalg.qr(xwb)
            eff = np.einsum("bij,bi->bj", qb, ywb)
            cb = np.linalg.solve(rr, eff[:, :, None])[:, :, 0]
            rinv = np.linalg.inv(rr)
            res = ywb - np.einsum("bij,bj->bi", qb, eff)
            ce = np.full((rb.size, p), np.nan)
            se = np.full((rb.size, p), np.nan)
            ce[:, est] = cb
            se[:, est] = np.sqrt(np.einsum("bij,bij->bi", rinv, rinv))
            coef[rb], su[rb] = ce, se
            dfres[rb] = nobs - rank
            if nobs - rank > 0:
                sigma[rb] = np.sqrt(np.einsum("ij,ij->i", res, res) / (nobs - rank))
    lfull = np.linalg.cholesky(cormatrix)
    _, rfull = np.linalg.qr(solve_triangular(lfull, x, lower=True))
    rinv_full = solve_triangular(rfull, np.eye(p))
    return LinearFit(
        coefficients=coef,
        stdev_unscaled=su,
        sigma=sigma,
        df_residual=dfres,
        amean=amean,
        cov_coefficients=rinv_full @ rinv_full.T,
        design=x,
    )
