"""The compiled Metropolis kernel of :mod:`markerflow.engines.gsea_multilevel` (numba).

Kept in its own module so that only jobs that need multilevel GSEA p-values import numba; the
compiled code is cached beside this file (``cache=True``) and reused by later processes.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def first_above(row, ranks, total, q1, bound):
    """fgsea's compareStat: the first member where the running sum exceeds ``bound``:
    (its index, non-members before it, rank sum up to it), or index -1."""
    current = 0.0
    last = -1
    before = 0
    mass = 0.0
    for i in range(row.size):
        pos = row[i]
        before += pos - last - 1
        mass += ranks[pos]
        current = mass / total - q1 * before
        if current > bound:
            return i, before, mass
        last = pos
    return -1, before, mass


@numba.njit(cache=True)
def move(samples, ranks, bound, seed, max_proposals, moves_per_member):
    """fgsea's ``perturbate`` for every sample in turn (``max(1, k / 10)`` proposals each) until
    ``moves_per_member * samples * k`` moves were accepted or ``max_proposals`` were made; ``samples`` (sorted rank
    positions, samples x k) is changed in place. A proposal swaps a random member for a random
    position; it is accepted when the running sum still exceeds ``bound`` (ES+ > bound)."""
    np.random.seed(seed)  # noqa: NPY002  (numba compiles only the legacy API; seeded per call)
    size, k = samples.shape
    n = ranks.size
    q1 = 1.0 / (n - k)
    iters = max(1, int(k * 0.1))  # fgsea's pertPrmtr
    totals = np.empty(size)
    for s in range(size):
        totals[s] = ranks[samples[s]].sum()
    backup = np.empty(k, dtype=samples.dtype)
    moves = 0
    proposals = 0
    while moves < moves_per_member * size * k and proposals < max_proposals:
        for s in range(size):
            row = samples[s]
            # fgsea's candidate: a member where the running sum was above the bound, with the
            # non-members before it and the rank sum up to it, updated by every accepted swap
            has_candidate = False
            cand_value, cand_before, cand_mass = -1, 0, 0.0
            for _ in range(iters):
                proposals += 1
                old_index = np.random.randint(0, k)  # noqa: NPY002
                new = np.random.randint(0, n)  # noqa: NPY002
                at = np.searchsorted(row, new)
                if at < k and row[at] == new:
                    if row[old_index] == new:
                        moves += 1
                    continue
                old = row[old_index]
                total = totals[s] - ranks[old] + ranks[new]
                if total <= 0:
                    continue
                if has_candidate and old == cand_value:
                    has_candidate = False
                before, mass = cand_before, cand_mass
                if has_candidate:
                    if old < cand_value:
                        before += 1
                        mass -= ranks[old]
                    if new < cand_value:
                        before -= 1
                        mass += ranks[new]
                backup[:] = row
                # remove row[old_index], insert new: the row stays sorted
                if new > old:
                    for i in range(old_index, at - 1):
                        row[i] = row[i + 1]
                    row[at - 1] = new
                else:
                    for i in range(old_index, at, -1):
                        row[i] = row[i - 1]
                    row[at] = new
                if has_candidate and mass / total - q1 * before > bound:
                    cand_before, cand_mass = before, mass
                    totals[s] = total
                    moves += 1
                    continue
                index, before, mass = first_above(row, ranks, total, q1, bound)
                if index >= 0:
                    has_candidate = True
                    cand_value, cand_before, cand_mass = row[index], before, mass
                    totals[s] = total
                    moves += 1
                else:
                    row[:] = backup
    return moves
