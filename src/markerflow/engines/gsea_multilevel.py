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

Deviations from fgsea: the kernel (:mod:`markerflow.engines.gsea_kernel`, numba) is fgsea's
``EsRuler`` with its square-root chunks and O(1) candidate test, but its random numbers come from
a splitmix64 stream seeded per (``seed``, set size, sign), so values agree with fgsea in
distribution, not digit for digit (and are identical on every platform); the estimator, the move
budget and the stopping rules (the median no longer rises; ``levels > -log2(eps / 2)``) are
fgsea's. A level whose proposals are all rejected for ``1000 * samples * k`` proposals stops
(fgsea would loop).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

#: fgsea's default number of samples per level (odd)
DEFAULT_SAMPLE_SIZE = 101
#: levels at most (eps = 0): each halves p, and 2^-1100 is below the smallest double
MAX_LEVELS = 1100
#: proposals made and moves accepted by the kernel in this process (diagnostics, benchmarks)
TALLY = np.zeros(2, dtype=np.int64)
#: a level stops after this many proposals per required accepted move (fgsea would loop)
PROPOSAL_FACTOR = 1000


def _beta_mean_log(a: float | np.ndarray, b: float | np.ndarray) -> np.ndarray:
    """E[log X], X ~ Beta(a, b - a + 1): fgsea's ``betaMeanLog(a, b) = digamma(a) - digamma(b + 1)``."""
    return np.asarray(digamma(a) - digamma(np.asarray(b) + 1.0))


def multilevel_error(pvalue: np.ndarray, sample_size: int = DEFAULT_SAMPLE_SIZE) -> np.ndarray:
    """Standard deviation of log2(p) of the multilevel estimate (fgsea ``multilevelError``)."""
    from scipy.special import polygamma

    level = np.floor(-np.log2(pvalue) + 1)
    per_level = polygamma(1, (sample_size + 1) // 2) - polygamma(1, sample_size + 1)
    return np.sqrt(level * per_level) / np.log(2)


def seed_of(seed: int, set_size: int, positive: bool) -> int:
    """The kernel's seed for one (seed, set size, sign) ruler: independent streams per ruler, so a
    set's p-value does not depend on which other sizes were analysed."""
    return int(np.random.default_rng([seed, set_size, int(positive)]).integers(0, 2**63 - 1))


def _ruler(
    ranked: np.ndarray,
    set_size: int,
    sample_size: int,
    target: float,
    seed: int,
    max_levels: int,
    moves_per_member: int,
) -> tuple[np.ndarray, np.ndarray]:
    """fgsea's ``EsRuler::extend`` (compiled: :func:`markerflow.engines.gsea_kernel.extend_ruler`)."""
    from markerflow.engines.gsea_kernel import extend_ruler

    values, counts = extend_ruler(
        np.ascontiguousarray(ranked, dtype=np.float64), int(set_size), int(sample_size),
        float(target), int(seed), int(min(max_levels, MAX_LEVELS)), int(moves_per_member),
        PROPOSAL_FACTOR, TALLY,
    )  # fmt: skip
    return values, counts


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
        # fgsea's level cap: eps relative to the group's smallest denominator
        group_eps = eps * float(denominator[idx].min()) if eps else 0.0
        max_levels = int(np.floor(-np.log2(0.5 * group_eps))) if group_eps else MAX_LEVELS
        values, counts = _ruler(
            ranked, set_size, sample_size, target, seed_of(seed, set_size, sign > 0),
            max_levels, moves_per_member,
        )  # fmt: skip
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
