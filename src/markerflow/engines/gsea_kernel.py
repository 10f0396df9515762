"""The compiled multilevel-splitting kernel of :mod:`markerflow.engines.gsea_multilevel` (numba).

Port of fgsea 1.31 ``EsRuler::extend`` / ``duplicateSamples`` / ``perturbate``
(src/fgseaMultilevelSupplement.cpp, ctlab/fgsea a7f9912), written from its algorithm:

- one ruler per set size and sign: ``sample_size`` uniformly random sets of size ``k`` (sorted rank
  positions), then levels of "record the lower half of ES+ on the ruler, replace it by copies of
  the upper half, move every sample by Metropolis swaps that keep ES+ above the level's median
  until ``sample_size * k`` moves were accepted";
- fgsea's square-root chunks: at each level the positions ``0..n-1`` are cut into
  ``max(1, floor(sqrt(k)))`` chunks at the medians (over the samples) of the members' positions
  ``j * k / chunks``; each sample keeps the member count and rank sum of every chunk, so checking
  whether a proposed set still has ES+ above the bound skips whole chunks whose sum cannot lift
  the running sum over it: O(sqrt k) per proposal instead of O(k); fgsea's O(1) "candidate" test
  (the member where the running sum last crossed the bound, kept up to date by each swap) first.

Deviations from fgsea: a sample is one sorted array with per-chunk end indices (fgsea: a vector per
chunk), so an accepted swap moves up to ``k`` integers with one memmove; random numbers come from
a splitmix64 generator seeded per (seed, size, sign) with exact (rejection) bounded integers, so
values agree with fgsea in distribution, not digit for digit, and are identical on every platform;
a level whose proposals are almost all rejected stops after ``proposal_factor * samples * k``
proposals (fgsea would loop forever).

Kept in its own module so that only jobs that need multilevel GSEA p-values import numba. The
compiled code is cached (``cache=True``) beside this file when its ``__pycache__`` is writable;
otherwise (a read-only install, a cluster node with a read-only or shared home) in
``$NUMBA_CACHE_DIR`` if set, else ``<tmp>/markerflow-numba-<uid>`` (:func:`_cache_dir`), instead of
numba's fallback ``~/.cache/numba`` and its import-time ``RuntimeError`` when that is not writable.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _cache_dir() -> str | None:
    """Where numba should cache this module's machine code, or None for numba's in-tree default
    (``__pycache__`` beside this file, used when writable). A user's ``NUMBA_CACHE_DIR`` wins."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    here = Path(__file__).resolve().parent / "__pycache__"
    try:
        here.mkdir(exist_ok=True)
        tempfile.TemporaryFile(dir=here).close()
        return None
    except OSError:
        uid = os.getuid() if hasattr(os, "getuid") else 0
        path = Path(tempfile.gettempdir()) / f"markerflow-numba-{uid}"
        path.mkdir(exist_ok=True)
        return str(path)


_CACHE = _cache_dir()

import numba  # noqa: E402  (numba.config.CACHE_DIR must be set before the decorators run)
import numpy as np  # noqa: E402

if _CACHE is not None:
    setattr(numba.config, "CACHE_DIR", _CACHE)  # noqa: B010  (read when the decorators run)

_MASK32 = np.uint64(0xFFFFFFFF)


@numba.njit(cache=True)
def _next64(state: np.ndarray) -> np.uint64:
    """splitmix64 (Steele, Lea, Flood 2014): the next 64 random bits; ``state`` is a uint64[1]."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True)
def _below(state: np.ndarray, bound: int) -> int:
    """A uniform integer in ``[0, bound)`` (bound < 2^32): Lemire's multiply-shift with rejection,
    exact."""
    b = np.uint64(bound)
    m = (_next64(state) >> np.uint64(32)) * b
    low = m & _MASK32
    if low < b:
        threshold = (np.uint64(4294967296) - b) % b
        while low < threshold:
            m = (_next64(state) >> np.uint64(32)) * b
            low = m & _MASK32
    return np.int64(m >> np.uint64(32))  # type: ignore[return-value]  # int64: unifies with int


@numba.njit(cache=True)
def _scores(row: np.ndarray, ranks: np.ndarray, n: int) -> tuple[float, bool]:
    """(ES+, whether the signed ES is positive) of one sorted sample (fgsea ``calcPositiveES``,
    ``calcES > 0``); a sample whose ranks are all 0 gets equal weights."""
    k = row.size
    total = 0.0
    for i in range(k):
        total += ranks[row[i]]
    equal = total == 0.0
    if equal:
        total = float(k)
    q1 = 1.0 / (n - k)
    mass = 0.0
    top = 0.0
    bottom = 0.0
    for i in range(k):
        # running sum just before member i (its minimum) and just after it (its maximum)
        low = mass / total - q1 * (row[i] - i)
        mass += 1.0 if equal else ranks[row[i]]
        high = mass / total - q1 * (row[i] - i)
        if i == 0 or high > top:
            top = high
        if i == 0 or low < bottom:
            bottom = low
    return max(top, 0.0), top > -bottom


@numba.njit(cache=True)
def _shift(
    row: np.ndarray, src: int | np.integer, dst: int | np.integer, value: int | np.integer
) -> None:
    """Remove ``row[src]`` and put ``value`` at final index ``dst`` (row stays sorted)."""
    if dst > src:
        row[src:dst] = row[src + 1 : dst + 1].copy()
    elif dst < src:
        row[dst + 1 : src + 1] = row[dst:src].copy()
    row[dst] = value


@numba.njit(cache=True)
def _chunk_of_index(ends: np.ndarray, index: int | np.integer) -> int:
    c = 0
    while ends[c] <= index:
        c += 1
    return c


@numba.njit(cache=True)
def _perturb(
    row: np.ndarray,
    ends: np.ndarray,
    sums: np.ndarray,
    totals: np.ndarray,
    s: int,
    ranks: np.ndarray,
    bounds: np.ndarray,
    bound: float,
    state: np.ndarray,
) -> tuple[int, int]:
    """fgsea ``perturbate`` of one sample: ``max(1, k / 10)`` proposals; returns (accepted moves,
    proposals). ``ends[c]``: index in ``row`` after the last member below ``bounds[c]``;
    ``sums[c]``: rank sum of chunk ``c``; ``totals[s]``: rank sum of the sample."""
    k = row.size
    n = ranks.size
    chunks = bounds.size
    q1 = 1.0 / (n - k)
    iters = max(1, int(k * 0.1))  # fgsea's pertPrmtr
    moves = 0
    has_cand = False
    cand_value, cand_x, cand_y = -1, 0, 0.0
    for _ in range(iters):
        old_index = _below(state, k)
        new = _below(state, n)
        old = row[old_index]
        # chunk of the new position (first bound above it) and its place in the row
        nc = 0
        while bounds[nc] <= new:
            nc += 1
        lo = ends[nc - 1] if nc > 0 else 0
        at = lo + np.searchsorted(row[lo : ends[nc]], new)
        if at < ends[nc] and row[at] == new:
            if old == new:
                moves += 1
            continue
        oc = _chunk_of_index(ends, old_index)
        total = totals[s] - ranks[old] + ranks[new]
        if total <= 0.0:
            continue  # all-zero ranks cannot exceed a bound >= 0
        final = at - 1 if new > old else at
        _shift(row, old_index, final, new)
        if oc < nc:
            for c in range(oc, nc):
                ends[c] -= 1
        else:
            for c in range(nc, oc):
                ends[c] += 1
        sums[oc] -= ranks[old]
        sums[nc] += ranks[new]
        if has_cand and old == cand_value:
            has_cand = False
        if has_cand:
            if old < cand_value:
                cand_x += 1
                cand_y -= ranks[old]
            if new < cand_value:
                cand_x -= 1
                cand_y += ranks[new]
        q2 = 1.0 / total
        if has_cand and q2 * cand_y - q1 * cand_x > bound:
            totals[s] = total
            moves += 1
            continue
        # scan the chunks: skip a chunk whose whole rank sum cannot reach the bound
        cur_x = 0
        cur_y = 0.0
        last = -1
        ok = False
        start = 0
        for c in range(chunks):
            stop = ends[c]
            if q2 * (cur_y + sums[c]) - q1 * cur_x < bound:
                cur_y += sums[c]
                cur_x += bounds[c] - last - 1 - (stop - start)
                last = bounds[c] - 1
            else:
                for i in range(start, stop):
                    pos = row[i]
                    cur_y += ranks[pos]
                    cur_x += pos - last - 1
                    if q2 * cur_y - q1 * cur_x > bound:
                        ok = True
                        has_cand = True
                        cand_value, cand_x, cand_y = pos, cur_x, cur_y
                        break
                    last = pos
                if ok:
                    break
                cur_x += bounds[c] - 1 - last
                last = bounds[c] - 1
            start = stop
        if ok:
            totals[s] = total
            moves += 1
            continue
        # rejected: undo
        _shift(row, final, old_index, old)
        if oc < nc:
            for c in range(oc, nc):
                ends[c] += 1
        else:
            for c in range(nc, oc):
                ends[c] -= 1
        sums[oc] += ranks[old]
        sums[nc] -= ranks[new]
        if has_cand and new == cand_value:
            has_cand = False
        if has_cand:
            if old < cand_value:
                cand_x -= 1
                cand_y += ranks[old]
            if new < cand_value:
                cand_x += 1
                cand_y -= ranks[new]
    return moves, iters


@numba.njit(cache=True)
def _duplicate(
    samples: np.ndarray,
    ranks: np.ndarray,
    ruler: np.ndarray,
    positive_counts: np.ndarray,
    filled: int,
) -> int:
    """fgsea ``duplicateSamples``: record the lower half (by ES+) on the ruler with the number of
    samples still above it whose signed ES is positive, replace the samples by two copies of each
    of the upper half plus the median; returns the new ruler length."""
    size = samples.shape[0]
    n = ranks.size
    es_plus = np.empty(size)
    positive = np.empty(size, dtype=np.bool_)
    for s in range(size):
        es_plus[s], positive[s] = _scores(samples[s], ranks, n)
    order = np.argsort(es_plus, kind="mergesort")
    remaining = 0
    for s in range(size):
        if positive[s]:
            remaining += 1
    for i in range((size + 1) // 2):
        ruler[filled] = es_plus[order[i]]
        if positive[order[i]]:
            remaining -= 1
        positive_counts[filled] = remaining
        filled += 1
    old = samples.copy()
    j = 0
    for i in range((size - 1) // 2):
        samples[j] = old[order[size - 1 - i]]
        samples[j + 1] = old[order[size - 1 - i]]
        j += 2
    samples[j] = old[order[size // 2]]
    return filled


@numba.njit(cache=True)
def extend_ruler(
    ranks: np.ndarray,
    k: int,
    sample_size: int,
    target: float,
    seed: int,
    max_levels: int,
    moves_per_member: int,
    proposal_factor: int,
) -> tuple[np.ndarray, np.ndarray]:
    """fgsea ``EsRuler::extend`` for sets of size ``k`` on ``ranks`` (``|stat|^p`` in rank order,
    reversed for negative scores) up to ES+ ``target``: returns the ruler (ES+ values recorded,
    increasing) and fgsea's ``probCorrector`` counts. Stops when the ruler reaches ``target``, the
    median no longer rises, or after ``max_levels`` levels (fgsea's ``eps`` rule). ``sample_size``
    must be odd."""
    n = ranks.size
    half = (sample_size + 1) // 2
    state = np.empty(1, dtype=np.uint64)
    state[0] = np.uint64(seed)
    # uniformly random k-subsets (Floyd's algorithm), sorted
    samples = np.empty((sample_size, k), dtype=np.int64)
    used = np.zeros(n, dtype=np.bool_)
    for s in range(sample_size):
        j = 0
        for r in range(n - k, n):
            x = _below(state, r + 1)
            if used[x]:
                x = r
            used[x] = True
            samples[s, j] = x
            j += 1
        for i in range(k):
            used[samples[s, i]] = False
        samples[s].sort()
    capacity = half * (max_levels + 2)
    ruler = np.empty(capacity)
    counts = np.empty(capacity, dtype=np.int64)
    filled = _duplicate(samples, ranks, ruler, counts, 0)
    chunks = max(1, int(np.sqrt(k)))
    bounds = np.empty(chunks, dtype=np.int64)
    ends = np.empty((sample_size, chunks), dtype=np.int64)
    sums = np.empty((sample_size, chunks))
    totals = np.empty(sample_size)
    column = np.empty(sample_size, dtype=np.int64)
    levels = 1
    while ruler[filled - 1] <= target - 1e-10:
        bound = ruler[filled - 1]
        # chunk bounds: medians over the samples of the members at j * k / chunks
        at = 0
        for c in range(chunks - 1):
            at += (k + c) // chunks
            column[:] = samples[:, at]
            column.sort()
            bounds[c] = column[sample_size // 2]
        bounds[chunks - 1] = n
        for s in range(sample_size):
            c = 0
            sums[s, :] = 0.0
            total = 0.0
            for i in range(k):
                pos = samples[s, i]
                while bounds[c] <= pos:
                    ends[s, c] = i
                    c += 1
                sums[s, c] += ranks[pos]
                total += ranks[pos]
            while c < chunks:
                ends[s, c] = k
                c += 1
            totals[s] = total
        moves = 0
        proposals = 0
        budget = moves_per_member * sample_size * k
        while moves < budget and proposals < proposal_factor * budget:
            for s in range(sample_size):
                accepted, tried = _perturb(
                    samples[s], ends[s], sums[s], totals, s, ranks, bounds, bound, state
                )
                moves += accepted
                proposals += tried
        previous = ruler[filled - 1]
        filled = _duplicate(samples, ranks, ruler, counts, filled)
        levels += 1
        if ruler[filled - 1] <= previous:
            break  # fgsea: "couldn't advance the median"
        if levels > max_levels:
            break
    return ruler[:filled].copy(), counts[:filled].copy()
