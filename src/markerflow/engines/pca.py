"""Principal components of a genes x samples matrix and the batch-mixing silhouette (numpy in/out).

* :func:`top_components` - top-k sample scores of a gene-centred matrix (Gram matrix or truncated SVD).
* :func:`pca` - principal components of the samples, as ``prcomp(t(x))`` (genes centred, not scaled),
  with deterministic signs.
* :class:`BlockGram` - the same principal components accumulated over gene blocks (out of core:
  the samples x samples Gram matrix of the gene-centred data, never the whole matrix).
* :class:`BlockKrylov` - the same from repeated passes over gene blocks without the Gram matrix
  (block Lanczos), for sample counts whose Gram matrix is too large (:data:`GRAM_SAMPLES_MAX`).
* :func:`batch_mixing` - silhouette width of the batch labels on the top PCs (Rousseeuw 1987;
  used for batch-effect assessment e.g. by Buttner et al. 2019, Nat Methods 16:43). Near 0 or
  below = batches well mixed; near 1 = samples cluster by batch.
"""

from __future__ import annotations

import logging

import numpy as np

from markerflow.errors import InputError

log = logging.getLogger(__name__)

#: above this many samples (and genes) :func:`pca` uses a truncated SVD instead of the Gram matrix
_GRAM_MAX = 1000
#: above this many samples the out-of-core merge uses :class:`BlockKrylov` instead of
#: :class:`BlockGram` (Gram matrix 512 MB at 8,000 samples; its cost grows as samples^2 x genes)
GRAM_SAMPLES_MAX = 8000


def top_components(centred: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Top-``k`` sample scores, their variances and the total variance of a gene-centred matrix.

    ``centred`` is genes x samples with each gene centred. Small sample counts use the
    eigen-decomposition of the samples x samples Gram matrix (``G = V S^2 V'``, same scores as the
    SVD, ~50x faster than the SVD of 54,675 probes x 200 samples); thousands of samples use a
    truncated SVD (ARPACK with a fixed start vector, so deterministic) of the top components only.
    Signs are not fixed here.
    """
    k = max(0, min(k, *centred.shape))
    total = float(np.einsum("ij,ij->", centred, centred))
    if k == 0:
        return np.zeros((centred.shape[1], 0)), np.zeros(0), total
    if min(centred.shape) > _GRAM_MAX and k < min(centred.shape) - 1:
        from scipy.sparse.linalg import svds

        n = min(centred.shape)
        _, s, vt = svds(centred, k=k, v0=np.full(n, 1.0 / np.sqrt(n)), solver="arpack", tol=1e-10)
        order = np.argsort(s)[::-1]
        return vt[order].T * s[order], s[order] ** 2, total
    eigval, eigvec = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(eigval)[::-1][:k]
    var = np.maximum(eigval[order], 0.0)
    return eigvec[:, order] * np.sqrt(var), var, total


def pca(data: np.ndarray, n_components: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of the samples of a genes x samples matrix.

    Genes are centred across samples (not scaled, as ``prcomp(t(x))``); the SVD of the centred
    samples x genes matrix gives scores ``U S`` and explained variance ``S^2 / sum(S^2)``, computed
    for the top components only (:func:`top_components`). Signs
    are fixed so that the largest |score| of each component is positive (deterministic output).

    Returns
    -------
    scores : samples x k array, k = min(n_components, n_samples, n_genes)
    explained_variance_ratio : length-k array (share of the total variance)
    """
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 2:
        raise InputError("PCA needs a genes x samples matrix")
    if not np.isfinite(x).all():
        raise InputError(
            "PCA: the matrix has missing values", hint="drop genes with missing values first"
        )
    # top components only (Gram matrix or truncated SVD): a full SVD of 4,000 samples x 20,000
    # genes takes minutes (benchmarks/scale)
    scores, var, total = top_components(x - x.mean(axis=1, keepdims=True), n_components)
    return _signed(scores, var, total)


def _signed(scores: np.ndarray, var: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray]:
    """Scores with the largest |score| of each component positive, and explained ratios."""
    k = scores.shape[1]
    ratio = var / total if total > 0 else np.zeros(k)
    if k:
        pivot = np.argmax(np.abs(scores), axis=0)
        signs = np.sign(scores[pivot, np.arange(k)])
        signs[signs == 0] = 1.0
        scores *= signs
    return scores, ratio


class BlockGram:
    """Principal components of the samples from gene blocks (out of core), as :func:`pca`.

    Method: every gene is centred on its own (its block holds all of its samples), so the
    samples x samples Gram matrix of the centred data and its total sum of squares are sums over
    genes: ``G = sum_blocks C_b' C_b``. The top-``k`` eigenvectors of ``G`` times the square roots
    of their eigenvalues are the PCA scores ``U S`` of ``prcomp(t(x))`` (same signs rule as
    :func:`pca`). Up to ``_GRAM_MAX`` samples the full symmetric eigendecomposition
    (``numpy.linalg.eigh``, as :func:`top_components`); above, Lanczos (ARPACK ``eigsh`` on ``G``,
    fixed start vector, tolerance 0 = machine precision; deterministic). Memory: ``G`` is
    n_samples^2 doubles (128 MB at 4,000 samples, 20 GB at 50,000), and its cost grows as
    samples^2 x genes: above :data:`GRAM_SAMPLES_MAX` samples the merge uses
    :class:`BlockKrylov` instead. Deviation from :func:`pca`: the
    sums run block by block, so values differ from the in-memory matrix product by rounding
    (one block: identical).
    """

    #: one pass over the blocks is enough (the interface :class:`BlockKrylov` shares)
    done = True

    def __init__(self, n_samples: int) -> None:
        self.gram = np.zeros((n_samples, n_samples))
        self.total = 0.0
        self.n_genes = 0

    def end_pass(self) -> None:
        """Nothing to do: the Gram matrix is complete after one pass."""

    def add(self, block: np.ndarray) -> None:
        """Add a genes x samples block (float64, finite)."""
        x = np.asarray(block, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.gram.shape[0]:
            raise InputError(
                f"PCA: a gene block must be genes x {self.gram.shape[0]} samples, got {x.shape}"
            )
        centred = x - x.mean(axis=1, keepdims=True)
        self.gram += centred.T @ centred
        self.total += float(np.einsum("ij,ij->", centred, centred))
        self.n_genes += x.shape[0]

    def pca(self, n_components: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, explained_variance_ratio)`` as :func:`pca` of the whole matrix."""
        n = self.gram.shape[0]
        k = max(0, min(n_components, n, self.n_genes))
        if k == 0:
            return np.zeros((n, 0)), np.zeros(0)
        if min(n, self.n_genes) > _GRAM_MAX and k < n - 1:
            from scipy.sparse.linalg import eigsh

            eigval, eigvec = eigsh(self.gram, k=k, v0=np.full(n, 1.0 / np.sqrt(n)), tol=0)
        else:
            eigval, eigvec = np.linalg.eigh(self.gram)
        order = np.argsort(eigval)[::-1][:k]
        var = np.maximum(eigval[order], 0.0)
        return _signed(eigvec[:, order] * np.sqrt(var), var, self.total)


class BlockKrylov:
    """Principal components of the samples from repeated passes over gene blocks, as :func:`pca`,
    without the samples x samples Gram matrix.

    Method: block Lanczos (a block Krylov subspace method; Golub & Underwood 1977; analysis in
    Musco & Musco 2015, NeurIPS) on ``G = C'C`` (``C`` the gene-centred genes x samples matrix),
    applied one pass per Krylov block: a pass adds ``C_b' (C_b Q)`` of every gene block ``C_b``
    for the current orthonormal block ``Q`` (samples x ``block_size``). After each pass the next
    block is ``G Q`` orthogonalised twice (classical Gram-Schmidt, then QR) against all earlier
    blocks, and a Rayleigh-Ritz step on the whole basis ``K`` gives the Ritz pairs ``(theta, K w)``
    of ``K' G K``. It stops when every one of the top ``n_components`` Ritz pairs has a relative
    residual ``||G v - theta v|| / theta`` of at most ``tol`` (``G v`` is known without another
    pass: ``G K`` is stored), or after ``max_passes`` passes (a warning names the residual
    reached). The start block is fixed (``numpy.random.default_rng(seed)``), and the sums run
    block by block in the caller's order, so results are deterministic.

    Accuracy (stated; tests/test_pca_krylov.py): an eigenvalue's relative error is at most about
    the squared residual times ``theta / gap``, an eigenvector's angle about residual x
    ``theta / gap``. On the 20-cohort benchmark's merged matrix (20,597 genes x 4,000 samples,
    PC 10 and 11 only 1.3 % apart) 35 passes of 10 columns gave eigenvalues to 2e-14, scores to
    1e-11 of the largest score. Memory: two samples x (passes x ``block_size``) arrays (320 MB at
    50,000 samples and 40 passes), never samples^2. Deviation from :func:`pca`: an iterative
    eigensolver, so values agree with the exact decomposition to the accuracy above, not to
    rounding.
    """

    def __init__(
        self,
        n_samples: int,
        n_components: int = 10,
        *,
        block_size: int = 10,
        tol: float = 1e-10,
        max_passes: int = 60,
        seed: int = 0,
    ) -> None:
        self.n_samples = int(n_samples)
        self.k = max(0, min(int(n_components), self.n_samples))
        self.block_size = max(1, min(int(block_size), self.n_samples))
        self.tol = float(tol)
        self.max_passes = int(max_passes)
        start = np.random.default_rng(seed).standard_normal((self.n_samples, self.block_size))
        self._q = np.linalg.qr(start)[0]
        self._basis: list[np.ndarray] = []
        self._images: list[np.ndarray] = []
        self._y = np.zeros_like(self._q)
        self.total = 0.0
        self.n_genes = 0
        self.passes = 0
        self.residual = float("inf")
        self.done = self.k == 0
        self._theta = np.zeros(0)
        self._vectors = np.zeros((self.n_samples, 0))

    def add(self, block: np.ndarray) -> None:
        """Add a genes x samples block (float64, finite) to the current pass."""
        if self.done:
            raise RuntimeError("BlockKrylov: converged, no further pass is needed")
        x = np.asarray(block, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_samples:
            raise InputError(
                f"PCA: a gene block must be genes x {self.n_samples} samples, got {x.shape}"
            )
        centred = x - x.mean(axis=1, keepdims=True)
        self._y += centred.T @ (centred @ self._q)
        if self.passes == 0:
            self.total += float(np.einsum("ij,ij->", centred, centred))
            self.n_genes += x.shape[0]

    def end_pass(self) -> None:
        """Finish a pass: Rayleigh-Ritz on the basis so far, then the next block (or done)."""
        self.passes += 1
        self._basis.append(self._q)
        self._images.append(self._y)
        basis, images = np.hstack(self._basis), np.hstack(self._images)
        small = basis.T @ images
        theta, w = np.linalg.eigh((small + small.T) / 2)
        k = min(self.k, self.n_genes, theta.size)
        order = np.argsort(theta)[::-1][:k]
        theta, w = theta[order], w[:, order]
        vectors = basis @ w
        with np.errstate(divide="ignore", invalid="ignore"):
            res = np.linalg.norm(images @ w - vectors * theta, axis=0) / np.abs(theta)
        res = np.where(theta > 0, res, 0.0)  # a zero eigenvalue: the data have no more rank
        self._theta, self._vectors = theta, vectors
        self.residual = float(res.max()) if res.size else 0.0
        # the next block: G Q orthogonalised against the basis (twice: classical Gram-Schmidt
        # loses orthogonality once), without directions that are numerically inside it (an
        # invariant subspace: the Ritz pairs are then exact) and at most up to n columns
        nxt = self._y - basis @ (basis.T @ self._y)
        nxt -= basis @ (basis.T @ nxt)
        room = self.n_samples - basis.shape[1]
        q, r = np.linalg.qr(nxt)
        scale = max(float(np.abs(theta).max(initial=0.0)), float(np.abs(self._y).max()), 1e-300)
        keep = np.flatnonzero(np.abs(np.diag(r)) > 1e-12 * scale)[:room]
        exhausted = keep.size == 0
        if self.residual <= self.tol or exhausted or self.passes >= self.max_passes:
            self.done = True
            if self.residual > self.tol and not exhausted:
                log.warning(
                    "PCA (block Krylov): %d passes, relative residual %.1e > %.0e",
                    self.passes, self.residual, self.tol,
                )  # fmt: skip
            log.info("PCA (block Krylov): %d passes over the blocks, max relative residual %.1e",
                     self.passes, self.residual)  # fmt: skip
            return
        q = q[:, keep]
        q -= basis @ (basis.T @ q)
        self._q = np.linalg.qr(q)[0]
        self._y = np.zeros_like(self._q)

    def pca(self, n_components: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, explained_variance_ratio)`` as :func:`pca` of the whole matrix (after the
        last pass)."""
        if not self.done:
            raise RuntimeError("BlockKrylov: more passes are needed (see done)")
        k = self._theta.size if n_components is None else min(n_components, self._theta.size)
        var = np.maximum(self._theta[:k], 0.0)
        return _signed(self._vectors[:, :k] * np.sqrt(var), var, self.total)


def batch_mixing(
    data: np.ndarray | None, batch, n_pcs: int = 10, scores: np.ndarray | None = None
) -> float:
    """Mean silhouette width of the batch labels on the top ``n_pcs`` principal components.

    Lower = better mixed (<= 0: batches overlap). NaN when it is undefined: a single batch, or
    every sample in its own batch.
    """
    from sklearn.metrics import silhouette_score

    batch = np.asarray(batch).astype(str)
    n_labels = np.unique(batch).size
    if n_labels < 2 or n_labels > batch.size - 1:
        return float("nan")
    if scores is None:
        if data is None:
            raise ValueError("batch_mixing needs the matrix or its PCA scores")
        scores, _ = pca(data, n_pcs)
    if scores.shape[1] == 0:
        return float("nan")
    return float(silhouette_score(scores, batch, metric="euclidean"))
