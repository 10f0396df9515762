"""GSEA p-values below 1/permutations: fgsea's adaptive multilevel splitting (Korotkevich et al. 2021).

Reference: Korotkevich G, Sukhov V, Budin N, Shpak B, Artyomov MN, Sergushichev A (2021) "Fast gene
set enrichment analysis", bioRxiv 060012; fgsea 1.2x ``fgseaMultilevel`` (R/fgseaMultilevel.R,
src/fgseaMultilevelSupplement.cpp: ``EsRuler``).

For one set size ``k`` the p-value of an observed positive enrichment score ``e`` is
``P(ES+ >= e, ES > 0) / P(ES >= 0)`` over uniformly random gene sets of size ``k`` (``ES+`` is the
largest positive deviation of the running sum; negative scores use the reversed ranking). The
numerator is estimated by multilevel splitting: ``sample_size`` random sets; at each level the lower
half (by ``ES+``) is recorded on a "ruler" and replaced by copies of the upper half, which are then
moved by Metropolis steps (swap one member for a random non-member; accept when ``ES+`` stays above
the level's median) until as many moves were accepted as ``sample_size * k``. A score that sits at
position ``i`` of the ruler has ``log p = (i // half) * E[log Beta(half, S - half + 1)] +
E[log Beta(S - i % half + 1, ...)]`` (fgsea's ``betaMeanLog`` terms), corrected by the share of
recorded samples with a positive signed ES (fgsea's ``probCorrector``, ``sign = FALSE``). The
denominator ``P(ES >= 0)`` comes from the simple permutations (``(n_ge_zero + 1) / (perm + 1)``).

Deviations from fgsea: the Metropolis kernel (compiled with numba) checks a proposal with fgsea's
O(1) candidate test, else by one pass over the set with early exit (fgsea: square-root chunks), and the random numbers
come from numpy's generators seeded from ``seed``, so values agree with fgsea in distribution, not
digit for digit; the estimator, the move budget and the stopping rules (the median no longer rises;
``levels > -log2(eps / 2)``) are fgsea's. A level whose proposals are all rejected for
``1000 * samples * k`` proposals stops (fgsea would loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma

#: fgsea's default number of samples per level (odd)
DEFAULT_SAMPLE_SIZE = 101


def _beta_mean_log(a: float | np.ndarray, b: float | np.ndarray) -> np.ndarray:
    """E[log X], X ~ Beta(a, b - a + 1): fgsea's ``betaMeanLog(a, b) = digamma(a) - digamma(b + 1)``."""
    return np.asarray(digamma(a) - digamma(np.asarray(b) + 1.0))


def multilevel_error(pvalue: np.ndarray, sample_size: int = DEFAULT_SAMPLE_SIZE) -> np.ndarray:
    """Standard deviation of log2(p) of the multilevel estimate (fgsea ``multilevelError``)."""
    from scipy.special import polygamma

    level = np.floor(-np.log2(pvalue) + 1)
    per_level = polygamma(1, (sample_size + 1) // 2) - polygamma(1, sample_size + 1)
    return np.sqrt(level * per_level) / np.log(2)


def _scores(pos: np.ndarray, weights: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(ES+, signed ES > 0) of each row of ``pos`` (sorted 0-based rank positions, samples x k)."""
    k = pos.shape[1]
    w = weights[pos]
    ns = w.sum(axis=1, keepdims=True)
    w = np.where(ns == 0, 1.0, w)  # a set whose statistics are all 0: equal weights (fgsea)
    ns = np.where(ns == 0, float(k), ns)
    tops = np.cumsum(w, axis=1) / ns - (pos - np.arange(k)) / (n - k)
    bottoms = tops - w / ns
    top = tops.max(axis=1)
    positive_es = np.maximum(top, 0.0)
    return positive_es, top > -bottoms.min(axis=1)


@dataclass
class _Ruler:
    scores: list[float]
    positive_counts: list[int]


def _duplicate(
    pos: np.ndarray, weights: np.ndarray, n: int, ruler: _Ruler
) -> tuple[np.ndarray, float]:
    """Record the lower half on the ruler; return the upper half twice plus the median sample."""
    size = pos.shape[0]
    es_plus, positive = _scores(pos, weights, n)
    order = np.argsort(es_plus, kind="stable")
    remaining = int(positive.sum())
    for i in range((size + 1) // 2):
        ruler.scores.append(float(es_plus[order[i]]))
        remaining -= int(positive[order[i]])
        ruler.positive_counts.append(remaining)
    keep = [order[size - 1 - i] for i in range((size - 1) // 2) for _ in range(2)]
    keep.append(order[size // 2])
    return pos[np.asarray(keep)], ruler.scores[-1]


def _move(
    pos: np.ndarray, weights: np.ndarray, bound: float, seed: int, moves_per_member: int = 1
) -> np.ndarray:
    """Metropolis moves of every sample until ``moves_per_member * samples * k`` moves were accepted
    (fgsea's budget, ``moves_per_member = 1``:
    proposals of one member swapped for a random non-member, ``max(1, k / 10)`` per sample in
    turn, accepted when ES+ stays above ``bound``)."""
    from markerflow.engines.gsea_kernel import move

    pos = np.ascontiguousarray(pos, dtype=np.int64)
    ranks = np.ascontiguousarray(weights, dtype=np.float64)
    move(pos, ranks, bound, seed, 1000 * moves_per_member * pos.size, moves_per_member)
    return pos


def multilevel_pvalues(
    scores: np.ndarray,
    weights: np.ndarray,
    set_size: int,
    denominator: np.ndarray,
    *,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    eps: float = 1e-50,
    seed: int = 0,
    moves_per_member: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Multilevel p-values for enrichment scores of sets of one size.

    ``scores``: observed ES (signed) of the sets of size ``set_size``; ``weights``: ``|stat|^p`` in
    rank order (decreasing statistic); ``denominator``: ``P(ES >= 0)`` (positive scores) or
    ``P(ES <= 0)`` (negative) per set, from the simple permutations. Returns (p-values, and whether
    each estimate is reliable: inside the ruler and fgsea's conditional probability >= 0.5; where it
    is not, fgsea sets log2err to NA). p-values are floored at ``eps`` (0 = no floor).
    ``moves_per_member``: accepted Metropolis moves per member and sample at each level (fgsea: 1).
    Measured against 10^7 permutations (tests/test_gsea_multilevel.py): with 1, sets of 60 genes
    at p ~ 2e-6 come out about 1.3-1.8 times too high (the copies of a level are not yet fully
    decorrelated); 4 removes that at 4 times the cost.
    """
    scores = np.asarray(scores, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    n = weights.size
    if sample_size % 2 == 0:
        sample_size += 1
    half = (sample_size + 1) // 2
    pvalues = np.ones(scores.size)
    good = np.ones(scores.size, dtype=bool)
    for sign, ranked in ((1.0, weights), (-1.0, weights[::-1].copy())):
        idx = np.flatnonzero(scores >= 0) if sign > 0 else np.flatnonzero(scores < 0)
        if idx.size == 0:
            continue
        target = float(np.abs(scores[idx]).max())
        group_eps = eps * float(denominator[idx].min()) if eps else 0.0
        rng = np.random.default_rng([seed, set_size, int(sign > 0)])
        pos = np.sort(
            np.stack([rng.choice(n, size=set_size, replace=False) for _ in range(sample_size)]),
            axis=1,
        )
        ruler = _Ruler([], [])
        pos, bound = _duplicate(pos, weights=ranked, n=n, ruler=ruler)
        while ruler.scores[-1] <= target - 1e-10:
            pos = _move(pos, ranked, bound, int(rng.integers(0, 2**31 - 1)), moves_per_member)
            previous = ruler.scores[-1]
            pos, bound = _duplicate(pos, ranked, n, ruler)
            if ruler.scores[-1] <= previous:
                break  # the median no longer rises (fgsea: "couldn't advance the median")
            if group_eps and len(ruler.scores) // half > -np.log2(0.5 * group_eps):
                break
        values = np.asarray(ruler.scores)
        counts = np.asarray(ruler.positive_counts)
        e = np.abs(scores[idx])
        at = np.searchsorted(values, e, side="left")
        beyond = e >= values[-1]
        at = np.where(beyond, values.size - 1, at)
        inside = ~(beyond & (e > values[-1] + 1e-10))
        levels = at // half
        remainder = sample_size - at % half
        log_p = levels * _beta_mean_log(half, sample_size) + _beta_mean_log(
            remainder + 1, sample_size
        )
        correction = _beta_mean_log(counts[at] + 1, remainder)
        p = np.clip(np.exp(log_p + correction), 0.0, 1.0)
        pvalues[idx] = np.minimum(1.0, p / denominator[idx])
        good[idx] = inside & (np.exp(correction) >= 0.5)
    if eps:
        floored = pvalues < eps
        pvalues[floored] = eps
        good[floored] = False
    return pvalues, good
