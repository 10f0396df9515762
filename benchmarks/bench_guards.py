"""Benchmark the near-duplicate guard with its subset pre-filter against the loop without it.

Usage: python benchmarks/bench_guards.py [--cohorts 40] [--samples 250] [--genes 20000]
           [--matrices DIR]

Seeded cohorts shaped like the workflow's gene-level matrices (log2 scale, gene means and
shared latent factors, so unrelated samples correlate as in one tissue; each cohort on ~95 % of
the genes, 2 % missing values in every third cohort) with two planted near-duplicates; or, with
``--matrices``, every ``*/normalized.parquet`` under DIR (e.g. a finished study's
``results/<comparison>/de``, what the guards rule reads). Prints the wall time of ``near_duplicates`` with the pre-filter
(``markerflow.stages.guards._subset_screen``) and without it (the previous guard, measured in
the same run), their ratio, the cohort pairs the pre-filter passes on, and whether both report
the same pairs (they must).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import markerflow.stages.guards as guards


def _cohorts(n_cohorts: int, samples: int, n_genes: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(1)
    genes = np.array([f"G{i}" for i in range(n_genes)])
    means = rng.normal(7, 2, n_genes)
    loadings = rng.normal(0, 0.4, (n_genes, 4))
    cohorts = {}
    for c in range(n_cohorts):
        own = np.sort(rng.choice(n_genes, int(0.95 * n_genes), replace=False))
        factors = rng.normal(0, 1, (4, samples))
        x = means[own, None] + loadings[own] @ factors + rng.normal(0, 0.5, (own.size, samples))
        x += rng.normal(0, 0.3) + rng.normal(0, 0.2, (own.size, 1))  # cohort batch
        if c % 3 == 2:
            x[rng.random(x.shape) < 0.02] = np.nan
        ids = [f"C{c}_S{j}" for j in range(samples)]
        cohorts[f"C{c:03d}"] = pd.DataFrame(x, index=genes[own], columns=ids)
    for src, dst in [(0, n_cohorts - 1), (n_cohorts // 2, 1)]:
        a, b = cohorts[f"C{src:03d}"], cohorts[f"C{dst:03d}"]
        copied = a.iloc[:, 3].reindex(b.index).fillna(b.iloc[:, 5])
        b.iloc[:, 5] = copied.to_numpy() + rng.normal(0, 0.05, len(b))
    return cohorts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cohorts", type=int, default=40)
    parser.add_argument("--samples", type=int, default=250)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument(
        "--matrices", type=Path, help="a results/<comparison>/de folder of a finished run"
    )
    args = parser.parse_args(argv)
    if args.matrices:
        paths = sorted(args.matrices.glob("*/normalized.parquet"))
        matrices: dict = {p.parent.name: p for p in paths}
        what = f"{len(paths)} matrices under {args.matrices}"
    else:
        matrices = _cohorts(args.cohorts, args.samples, args.genes)
        what = f"{args.cohorts} generated cohorts x {args.samples} samples x ~{args.genes} genes"
    t0 = time.perf_counter()
    prepared = guards.prepare(matrices)
    t_prepare = time.perf_counter() - t0
    n = len(prepared)
    samples = sum(p.columns.size for p in prepared.values())
    print(f"{what}: {samples} samples, {n * (n - 1) // 2} cohort pairs; prepared in "
          f"{t_prepare:.1f} s", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    kept = guards._subset_screen(prepared, 0.99, 50)
    t_screen = time.perf_counter() - t0
    t0 = time.perf_counter()
    filtered = guards._near_duplicates(prepared, 0.99, 50)
    t_filtered = time.perf_counter() - t0
    t0 = time.perf_counter()
    unfiltered = guards._near_duplicates(prepared, 0.99, 50, prefilter=False)
    t_unfiltered = time.perf_counter() - t0
    print(f"pre-filter alone: {t_screen:.1f} s, passes on {len(kept or ())} cohort pair(s)")
    print(f"with pre-filter: {t_filtered:.1f} s; without: {t_unfiltered:.1f} s; "
          f"ratio {t_filtered / t_unfiltered:.3f}")  # fmt: skip
    same = filtered == unfiltered
    print(f"near-duplicates found: {len(filtered)} with, {len(unfiltered)} without; identical: "
          f"{same}")  # fmt: skip
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
