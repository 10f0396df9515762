"""Benchmark markerflow.engines.combat.combat on a GEO-sized merged matrix.

54,675 genes (HG-U133 Plus 2) x 600 samples, 6 batches of 100, a 2-group condition covariate,
synthetic log2 data with additive and multiplicative batch effects (fixed seed).
Targets: parametric <= 4 s (sva::ComBat ~16.5 s on this machine, R reference BLAS, one core),
non-parametric <= 60 s, peak RSS <= 3 GB. Each variant runs in its own process so the peak RSS
printed is that variant's (data generation included).

    python benchmarks/bench_combat.py [--quick] [--threads N] [--variant param|nonparam|meanonly]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

R_PARAM_SECONDS = 16.5  # sva::ComBat parametric, same size (shared/notes/libraries.md)
TARGETS = {"param": 4.0, "meanonly": 4.0, "nonparam": 60.0}


def make_data(n_genes: int, n_samples: int, n_batches: int, seed: int = 20261123):
    rng = np.random.default_rng(seed)
    batch = np.repeat(np.arange(n_batches), n_samples // n_batches).astype(str)
    cond = np.tile([0.0, 1.0], n_samples // 2)
    base = rng.uniform(4, 12, size=(n_genes, 1))
    x = rng.standard_normal((n_genes, n_samples))
    x *= 0.3
    x += base
    x += 0.5 * cond * (rng.random((n_genes, 1)) < 0.05)
    for b in range(n_batches):
        cols = batch == str(b)
        x[:, cols] *= rng.uniform(0.7, 1.4, size=(n_genes, 1))
        x[:, cols] += rng.normal(0.3 * b, 0.2, size=(n_genes, 1))
    return x, batch, cond[:, None]


def run_one(variant: str, quick: bool, threads: int | None) -> dict:
    from threadpoolctl import threadpool_limits

    from markerflow.engines.combat import combat

    shape = (5_000, 120) if quick else (54_675, 600)
    x, batch, cond = make_data(*shape, n_batches=6)
    kwargs = {
        "param": {},
        "meanonly": {"mean_only": True},
        "nonparam": {"parametric": False},
    }[variant]
    with threadpool_limits(limits=threads):
        t0 = time.perf_counter()
        out = combat(x, batch, cond, **kwargs)
        elapsed = time.perf_counter() - t0
    assert np.isfinite(out).all()
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return {
        "variant": variant,
        "shape": list(shape),
        "threads": threads or "default",
        "seconds": elapsed,
        "peak_rss_gb": rss_gb,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5,000 x 120 instead of 54,675 x 600")
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads (default: library's)")
    ap.add_argument("--variant", choices=list(TARGETS), help="run one variant in this process")
    ap.add_argument("--single-thread-too", action="store_true", help="repeat with 1 BLAS thread")
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(run_one(args.variant, args.quick, args.threads)))
        return
    thread_settings = [args.threads] + ([1] if args.single_thread_too and args.threads != 1 else [])
    print(
        f"{'variant':9} {'shape':>12} {'threads':>8} {'seconds':>8} {'target':>7} "
        f"{'vs R':>7} {'peak RSS GB':>12}"
    )
    for threads in thread_settings:
        for variant in ("param", "meanonly", "nonparam"):
            cmd = [sys.executable, __file__, "--variant", variant]
            cmd += ["--quick"] if args.quick else []
            cmd += ["--threads", str(threads)] if threads else []
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            ratio = (
                R_PARAM_SECONDS / res["seconds"]
                if variant == "param" and not args.quick
                else float("nan")
            )
            shape = "x".join(map(str, res["shape"]))
            status = (
                "ok" if res["seconds"] <= TARGETS[variant] and res["peak_rss_gb"] <= 3 else "SLOW"
            )
            if args.quick:
                status = "(quick)"
            print(
                f"{variant:9} {shape:>12} {res['threads']!s:>8} {res['seconds']:8.2f} "
                f"{TARGETS[variant]:7.1f} {ratio:6.1f}x {res['peak_rss_gb']:12.2f} {status}",
                flush=True,
            )
    print("vs R = sva::ComBat parametric time (16.5 s) / ours (parametric only)")


if __name__ == "__main__":
    main()
