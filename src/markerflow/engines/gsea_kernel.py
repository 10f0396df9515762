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

Deviations from fgsea, none changing which proposals are accepted (the test is exact: ES+ of
the proposed set > bound): a sample's chunks are rows of one fixed-capacity array (fgsea: a vector
per chunk); a proposal is judged on the proposed set read off the current one, and applied only
when accepted (fgsea applies, then undoes a rejected one); chunk look-ups are branch-free counts
over the ~sqrt(k) entries instead of binary searches. Random numbers come from a splitmix64
generator seeded per (seed, size, sign) with exact (rejection) bounded integers, so values agree
with fgsea in distribution, not digit for digit, and are identical on every platform. A level
whose proposals are almost all rejected stops after ``proposal_factor * samples * k`` proposals
(fgsea would loop forever).

Kept in its own module so that only jobs that need multilevel GSEA p-values import numba.
Compilation takes several seconds, so the machine code is cached (``cache=True``), where
:func:`cache_dir` says: ``$NUMBA_CACHE_DIR`` if set (numba's own rule), else ``__pycache__`` beside
this file when writable (numba's default), else ``<tmp>/markerflow-numba-<uid>`` - not numba's
fallback ``~/.cache/numba``, which on a cluster node may be read-only (numba then raises
``RuntimeError: cannot cache function`` at import) or a shared home.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def cache_dir(
    package_dir: Path | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """Where numba should cache this module's machine code: None for numba's own choice
    (``$NUMBA_CACHE_DIR`` when set, else ``package_dir/__pycache__`` when writable), else a
    per-user directory under the system temporary directory (created)."""
    environ = os.environ if environ is None else environ
    if environ.get("NUMBA_CACHE_DIR"):
        return None
    here = (package_dir or Path(__file__).resolve().parent) / "__pycache__"
    try:
        here.mkdir(exist_ok=True)
        tempfile.TemporaryFile(dir=here).close()
        return None
    except OSError:
        uid = os.getuid() if hasattr(os, "getuid") else 0
        path = Path(tempfile.gettempdir()) / f"markerflow-numba-{uid}"
        path.mkdir(mode=0o700, exist_ok=True)  # private: numba loads machine code from it
        return str(path)


_CACHE = cache_dir()

import numba  # noqa: E402  (numba.config.CACHE_DIR must be set before the decorators run)
import numpy as np  # noqa: E402

if _CACHE is not None:
    setattr(numba.config, "CACHE_DIR", _CACHE)  # noqa: B010  (read when the decorators run)

_MASK32 = np.uint64(0xFFFFFFFF)
#: :func:`null_es`: positions whose approximate running sum is this close to the approximate
#: extreme are evaluated exactly (the approximation is within 20 ulp of 1 = 4.4e-15 of it)
NULL_TOLERANCE = 1e-12


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
def _count_at_most(values: np.ndarray, size: int, x: int | np.integer) -> int:
    """How many of ``values[:size]`` (sorted) are <= ``x``: a branch-free count, faster than a
    binary search on the ~sqrt(k) entries of a chunk (no mispredicted branches)."""
    count = 0
    for i in range(size):
        count += values[i] <= x
    return count


@numba.njit(cache=True)
def _count_below(values: np.ndarray, row: int, size: int, x: int | np.integer) -> int:
    """How many of ``values[row, :size]`` are < ``x`` (branch-free)."""
    count = 0
    for i in range(size):
        count += values[row, i] < x
    return count


@numba.njit(cache=True)
def _perturb(
    data: np.ndarray,
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
    proposals). The sample is held in chunks as fgsea's ``SampleChunks``: ``data[c, :size]``
    (sorted positions in ``bounds[c - 1] .. bounds[c] - 1``), ``ends[c]`` the number of members
    in chunks ``0..c`` (so ``size = ends[c] - ends[c - 1]``), ``sums[c]`` their rank sum;
    ``totals[s]``: the sample's rank sum.

    A proposal (member ``old_index`` out, position ``new`` in) is accepted iff the proposed set
    has ES+ > ``bound``, decided as fgsea does (candidate test, then the chunk scan) but on the
    proposed set read off the current one, so a rejected proposal changes nothing."""
    chunks = bounds.size
    k = ends[chunks - 1]
    n = ranks.size
    q1 = 1.0 / (n - k)
    iters = max(1, int(k * 0.1))  # fgsea's pertPrmtr
    moves = 0
    has_cand = False
    cand_value, cand_x, cand_y = -1, 0, 0.0
    for _ in range(iters):
        old_index = _below(state, k)
        new = _below(state, n)
        oc = _count_at_most(ends, chunks, old_index)  # chunk of the member leaving
        out = old_index - (ends[oc - 1] if oc > 0 else 0)
        old = data[oc, out]
        nc = _count_at_most(bounds, chunks, new)  # chunk of the new position
        new_size = ends[nc] - (ends[nc - 1] if nc > 0 else 0)
        at = _count_below(data, nc, new_size, new)
        if at < new_size and data[nc, at] == new:
            if old == new:
                moves += 1
            continue
        total = totals[s] - ranks[old] + ranks[new]
        if total <= 0.0:
            continue  # all-zero ranks cannot exceed a bound >= 0
        q2 = 1.0 / total
        accepted = False
        # fgsea's O(1) test: the member where the running sum last crossed the bound
        if has_cand and old != cand_value:
            x, y = cand_x, cand_y
            if old < cand_value:
                x += 1
                y -= ranks[old]
            if new < cand_value:
                x -= 1
                y += ranks[new]
            if q2 * y - q1 * x > bound:
                accepted = True
                cand_x, cand_y = x, y
        if not accepted:
            # chunk scan of the proposed set: skip a chunk whose rank sum cannot reach the bound
            cur_x = 0
            cur_y = 0.0
            last = -1
            start = 0
            for c in range(chunks):
                size = ends[c] - start
                start = ends[c]
                chunk_sum = sums[c]
                members = size
                if c == oc:
                    chunk_sum -= ranks[old]
                    members -= 1
                if c == nc:
                    chunk_sum += ranks[new]
                    members += 1
                if q2 * (cur_y + chunk_sum) - q1 * cur_x < bound:
                    cur_y += chunk_sum
                    cur_x += bounds[c] - last - 1 - members
                    last = bounds[c] - 1
                    continue
                skip = out if c == oc else -1
                i = 0
                inserted = c != nc
                while True:
                    if not inserted and (i == size or data[c, i] > new):
                        pos = new
                        inserted = True
                    elif i < size:
                        pos = data[c, i]
                        i += 1
                        if i - 1 == skip:
                            continue
                    else:
                        break
                    cur_y += ranks[pos]
                    cur_x += pos - last - 1
                    if q2 * cur_y - q1 * cur_x > bound:
                        accepted = True
                        has_cand = True
                        cand_value, cand_x, cand_y = pos, cur_x, cur_y
                        break
                    last = pos
                if accepted:
                    break
                cur_x += bounds[c] - 1 - last
                last = bounds[c] - 1
        if not accepted:
            continue
        # apply the swap: erase from chunk oc, insert into chunk nc (fgsea's vector erase/insert)
        old_size = ends[oc] - (ends[oc - 1] if oc > 0 else 0)
        for i in range(out, old_size - 1):
            data[oc, i] = data[oc, i + 1]
        if oc == nc:
            new_size -= 1
            if out < at:
                at -= 1
        for i in range(new_size, at, -1):
            data[nc, i] = data[nc, i - 1]
        data[nc, at] = new
        if oc < nc:
            for c in range(oc, nc):
                ends[c] -= 1
        else:
            for c in range(nc, oc):
                ends[c] += 1
        sums[oc] -= ranks[old]
        sums[nc] += ranks[new]
        totals[s] = total
        moves += 1
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


@numba.njit(cache=True, nogil=True)
def extend_ruler(
    ranks: np.ndarray,
    k: int,
    sample_size: int,
    target: float,
    seed: int,
    max_levels: int,
    moves_per_member: int,
    proposal_factor: int,
    tally: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """fgsea ``EsRuler::extend`` for sets of size ``k`` on ``ranks`` (``|stat|^p`` in rank order,
    reversed for negative scores) up to ES+ ``target``: returns the ruler (ES+ values recorded,
    increasing) and fgsea's ``probCorrector`` counts. Stops when the ruler reaches ``target``, the
    median no longer rises, or after ``max_levels`` levels (fgsea's ``eps`` rule). ``sample_size``
    must be odd. ``tally`` (int64[2]) gets the proposals made and moves accepted added."""
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
    data = np.empty((sample_size, chunks, k), dtype=np.int32)
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
            j = 0
            sums[s, :] = 0.0
            total = 0.0
            for i in range(k):
                pos = samples[s, i]
                while bounds[c] <= pos:
                    ends[s, c] = i
                    c += 1
                    j = 0
                data[s, c, j] = pos
                j += 1
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
                    data[s], ends[s], sums[s], totals, s, ranks, bounds, bound, state
                )
                moves += accepted
                proposals += tried
        tally[0] += proposals
        tally[1] += moves
        for s in range(sample_size):  # chunks back to one sorted row per sample
            i = 0
            for c in range(chunks):
                for j in range(ends[s, c] - i):
                    samples[s, i] = data[s, c, j]
                    i += 1
        previous = ruler[filled - 1]
        filled = _duplicate(samples, ranks, ruler, counts, filled)
        levels += 1
        if ruler[filled - 1] <= previous:
            break  # fgsea: "couldn't advance the median"
        if levels > max_levels:
            break
    return ruler[:filled].copy(), counts[:filled].copy()


@numba.njit(cache=True)
def null_es(absw: np.ndarray, draws: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """fgsea ``fgseaSimple``'s null: the ES of the first ``m`` positions of each row of ``draws``
    (permutations x max(sizes) random rank positions, without repeats) for every ``m`` in
    ``sizes`` (increasing); returns sizes x permutations.

    The same arithmetic, in the same order, as sorting each prefix and taking numpy's row-wise
    cumulative sums (``markerflow.stages.enrichment._null_es`` did that), so the values are
    bit-identical; a row's prefix is kept sorted by insertion as ``m`` grows (no sort per size)
    and its ES is one pass over it. A prefix whose weights are all 0 gets equal weights (fgsea).

    The pass finds the running sum's extremes with reciprocal multiplications, which differ from
    fgsea's divisions by at most ~20 ulp of 1 (4.4e-15, every term lies in [-2, 2]); only the
    positions within :data:`NULL_TOLERANCE` of an approximate extreme are then evaluated with the
    divisions, so the maximum and minimum are the exact ones (the true extreme is always among
    them) at about half the cost of dividing at every position (issue 20).
    """
    n = absw.size
    perms = draws.shape[0]
    kmax = draws.shape[1]
    out = np.empty((sizes.size, perms))
    pos = np.empty(kmax, dtype=np.int64)
    sums = np.empty(kmax)
    approx_top = np.empty(kmax)
    approx_bottom = np.empty(kmax)
    for p in range(perms):
        filled = 0
        for si in range(sizes.size):
            m = sizes[si]
            while filled < m:  # insert the next draw into the sorted prefix
                x = np.int64(draws[p, filled])
                j = filled
                while j > 0 and pos[j - 1] > x:
                    pos[j] = pos[j - 1]
                    j -= 1
                pos[j] = x
                filled += 1
            nr = 0.0
            for i in range(m):
                nr += absw[pos[i]]
            equal = nr == 0.0
            if equal:
                nr = 0.0
                for _ in range(m):
                    nr += 1.0
            # the running sum's extremes from reciprocal multiplications (two roundings more
            # than the divisions, |error| <= 20 ulp of 1), then exactly, with fgsea's divisions,
            # at the few positions within NULL_TOLERANCE of them: the same values, half the cost
            r1 = 1.0 / nr
            r2 = 1.0 / (n - m)
            cs = 0.0
            high = -np.inf
            low = np.inf
            for i in range(m):
                w = 1.0 if equal else absw[pos[i]]
                cs += w
                sums[i] = cs
                top = cs * r1 - (pos[i] - i) * r2
                bottom = top - w * r1
                approx_top[i] = top
                approx_bottom[i] = bottom
                if top > high:
                    high = top
                if bottom < low:
                    low = bottom
            high -= NULL_TOLERANCE
            low += NULL_TOLERANCE
            maxp = -np.inf
            minn = np.inf
            for i in range(m):
                if approx_top[i] >= high or approx_bottom[i] <= low:
                    w = 1.0 if equal else absw[pos[i]]
                    top = sums[i] / nr - (pos[i] - i) / (n - m)
                    bottom = top - w / nr
                    if top > maxp:
                        maxp = top
                    if bottom < minn:
                        minn = bottom
            if maxp > -minn:
                out[si, p] = maxp
            elif maxp < -minn:
                out[si, p] = minn
            else:
                out[si, p] = 0.0
    return out
