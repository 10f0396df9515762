"""Out-of-core ComBat (markerflow.engines.combat_blocks) against the in-memory ComBat at GEO size.

Default: 54,675 genes (HG-U133 Plus 2) x 4,000 samples, 20 batches of 200 in shuffled order, a
2-group condition covariate, additive + multiplicative batch effects (issue 20's acceptance size).
The matrix is generated block by block from per-block seeds, so the out-of-core run never holds
the whole matrix and the in-memory run sees the same numbers.

1. ``inmemory`` (own process): generate the whole matrix, ``combat()``, write the result to a raw
   float64 file in --workdir; print time and peak RSS.
2. ``blocks`` (own process): pass 1 over generated blocks, pass 2 block by block, each adjusted
   block compared with the same rows of the in-memory result read from that file (no mmap);
   print time, peak RSS and the maximum absolute difference (acceptance: <= 1e-12).

    python benchmarks/bench_combat_blocks.py [--genes 54675 --samples 4000 --batches 20]
        [--block-rows 4096] [--workdir /tmp] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's library
SEED = 20261201


def layout(n_samples: int, n_batches: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    batch = rng.permutation(np.arange(n_samples) % n_batches).astype(str)
    cond = rng.permutation(np.arange(n_samples) % 2).astype(float)
    return batch, cond[:, None]


def make_block(k: int, rows: int, batch: np.ndarray, cond: np.ndarray) -> np.ndarray:
    """Rows of block ``k``: the same numbers whichever run asks for them."""
    rng = np.random.default_rng([SEED, k])
    n = batch.size
    x = rng.standard_normal((rows, n)) * 0.3 + rng.uniform(4, 12, (rows, 1))
    x += 0.5 * cond[:, 0] * (rng.random((rows, 1)) < 0.05)
    for b in np.unique(batch):
        cols = batch == b
        x[:, cols] *= rng.uniform(0.7, 1.4, (rows, 1))
        x[:, cols] += rng.normal(0.03 * int(b), 0.2, (rows, 1))
    return x


def block_rows_of(n_genes: int, step: int):
    for k, start in enumerate(range(0, n_genes, step)):
        yield k, start, min(step, n_genes - start)


def run(args: argparse.Namespace) -> dict:
    from threadpoolctl import threadpool_limits

    from markerflow.engines.combat import combat
    from markerflow.engines.combat_blocks import adjust_block, fit_blocks

    batch, cond = layout(args.samples, args.batches)
    out_file = Path(args.workdir) / f"combat_inmemory_{args.genes}x{args.samples}.f64"
    gen_step = args.block_rows  # generation blocks = ComBat blocks
    with threadpool_limits(limits=1):
        if args.mode == "inmemory":
            x = np.empty((args.genes, args.samples))
            for k, start, rows in block_rows_of(args.genes, gen_step):
                x[start : start + rows] = make_block(k, rows, batch, cond)
            t0 = time.perf_counter()
            y = combat(x, batch, cond)
            seconds = time.perf_counter() - t0
            y.tofile(out_file)
            return {"seconds": seconds, "max_abs_diff": None}
        generating = [0.0]

        def generate(k: int, rows: int) -> np.ndarray:
            g0 = time.perf_counter()
            block = make_block(k, rows, batch, cond)
            generating[0] += time.perf_counter() - g0
            return block

        t0 = time.perf_counter()
        blocks = (generate(k, rows) for k, _, rows in block_rows_of(args.genes, gen_step))
        fit = fit_blocks(blocks, batch, cond)
        pass1 = time.perf_counter() - t0 - generating[0]
        diff = 0.0
        pass2 = 0.0
        with open(out_file, "rb") as handle:
            for k, start, rows in block_rows_of(args.genes, gen_step):
                block = generate(k, rows)
                c0 = time.perf_counter()
                adjusted = adjust_block(fit, block, start)
                pass2 += time.perf_counter() - c0
                handle.seek(start * args.samples * 8)
                want = np.fromfile(handle, dtype=np.float64, count=rows * args.samples)
                diff = max(diff, float(np.abs(adjusted - want.reshape(rows, args.samples)).max()))
        return {"seconds": pass1 + pass2, "pass1": pass1, "pass2": pass2, "max_abs_diff": diff}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--genes", type=int, default=54_675)
    p.add_argument("--samples", type=int, default=4_000)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--block-rows", type=int, default=4_096)
    p.add_argument("--workdir", default="/tmp")
    p.add_argument("--quick", action="store_true", help="5,000 x 400, 8 batches")
    p.add_argument("--mode", choices=["inmemory", "blocks"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.genes, args.samples, args.batches = 5_000, 400, 8
    if args.mode:
        result = run(args)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    shape = (
        f"{args.genes:,} x {args.samples:,}, {args.batches} batches, blocks of {args.block_rows:,}"
    )
    print(f"ComBat parametric, {shape} (generation included in peak RSS, not in seconds)")
    results = {}
    for mode in ("inmemory", "blocks"):
        cmd = [sys.executable, __file__, "--mode", mode, "--genes", str(args.genes),
               "--samples", str(args.samples), "--batches", str(args.batches),
               "--block-rows", str(args.block_rows), "--workdir", args.workdir]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
        r = results[mode]
        passes = f" (pass 1 {r['pass1']:.1f} s, pass 2 {r['pass2']:.1f} s)" if "pass1" in r else ""
        print(f"{mode:>9}: {r['seconds']:7.1f} s ComBat{passes}, peak RSS "
              f"{r['peak_rss_mb'] / 1024:5.2f} GB")  # fmt: skip
    diff = results["blocks"]["max_abs_diff"]
    print(f"max |blocks - in-memory| = {diff:.3g} (acceptance <= 1e-12): "
          f"{'PASS' if diff <= 1e-12 else 'FAIL'}")  # fmt: skip
    ratio = results["blocks"]["peak_rss_mb"] / results["inmemory"]["peak_rss_mb"]
    print(f"peak RSS blocks / in-memory = {ratio:.2f}")
    os.remove(Path(args.workdir) / f"combat_inmemory_{args.genes}x{args.samples}.f64")


if __name__ == "__main__":
    main()
