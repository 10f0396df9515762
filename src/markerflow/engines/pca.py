"""Principal components of a genes x samples matrix and the batch-mixing silhouette (numpy in/out).

* :func:`top_components` - top-k sample scores of a gene-centred matrix (Gram matrix or truncated SVD).
* :func:`pca` - principal components of the samples, as ``prcomp(t(x))`` (genes centred, not scaled),
  with deterministic signs.
* :func:`batch_mixing` - silhouette width of the batch labels on the top PCs (Rousseeuw 1987;
  used for batch-effect assessment e.g. by Buttner et al. 2019, Nat Methods 16:43). Near 0 or
  below = batches well mixed; near 1 = samples cluster by batch.
"""

from __future__ import annotations

import numpy as np

from markerflow.errors import InputError

#: above this many samples (and genes) :func:`pca` uses a truncated SVD instead of the Gram matrix
_GRAM_MAX = 1000


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
    k = scores.shape[1]
    ratio = var / total if total > 0 else np.zeros(k)
    if k:
        pivot = np.argmax(np.abs(scores), axis=0)
        signs = np.sign(scores[pivot, np.arange(k)])
        signs[signs == 0] = 1.0
        scores *= signs
    return scores, ratio


def batch_mixing(
    data: np.ndarray, batch, n_pcs: int = 10, scores: np.ndarray | None = None
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
        scores, _ = pca(data, n_pcs)
    if scores.shape[1] == 0:
        return float("nan")
    return float(silhouette_score(scores, batch, metric="euclidean"))
