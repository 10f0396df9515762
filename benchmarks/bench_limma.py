"""Benchmark markerflow.engines.limma: lm_fit + ebayes + top_table on a GEO-sized array study.

Synthetic 54,675 probes x 600 samples (HG-U133 Plus 2 size), 6 batches, 2 groups, design
~group + batch, fixed seed; one BLAS thread. Timed: lm_fit + ebayes + top_table (data
generation excluded). Reference: R 4.2.2 limma lmFit+eBayes+topTable on the same shape, one
core, ~4.5 s (shared/notes/libraries.md). Target <= 1.1 s and peak RSS <= 2 GB.

    python benchmarks/bench_limma.py [--quick] [--variants]

--quick: 5,000 probes x 100 samples. --variants: also time trend, robust and trend+robust.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from markerflow.engines import limma  # noqa: E402

R_REFERENCE_S = 4.5
TARGET_S = 1.1


def make_data(n_genes: int, n_samples: int, seed: int = 20240611) -> tuple[np.ndarray, np.ndarray]:
    """Log2-scale expression with gene-wise variances, a group effect on 5% of genes and
    additive batch effects; returns (y genes x samples, design samples x 7)."""
    rng = np.random.default_rng(seed)
    group = np.tile([0, 1], n_samples // 2 + 1)[:n_samples]
    rng.shuffle(group)
    batch = np.repeat(np.arange(6), -(-n_samples // 6))[:n_samples]
    design = np.column_stack(
        [np.ones(n_samples), group] + [(batch == b) for b in range(1, 6)]
    ).astype(np.float64)
    sd = np.sqrt(0.08 * 4 / rng.chisquare(4, n_genes))
    y = rng.standard_normal((n_genes, n_samples))
    y *= sd[:, None]
    y += rng.uniform(3, 13, n_genes)[:, None]
    y += rng.normal(0, 0.3, (n_genes, 6))[:, batch]
    de = rng.random(n_genes) < 0.05
    y[de] += rng.normal(0, 1, de.sum())[:, None] * group
    return y, design


def run(y: np.ndarray, design: np.ndarray, **kw) -> tuple[float, int]:
    t0 = time.perf_counter()
    fit = limma.lm_fit(y, design)
    eb = limma.ebayes(fit, **kw)
    tab = limma.top_table(eb, coef=1)
    elapsed = time.perf_counter() - t0
    return elapsed, int((tab["adj.P.Val"] < 0.05).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5,000 x 100 instead of 54,675 x 600")
    ap.add_argument("--variants", action="store_true", help="also time trend/robust variants")
    args = ap.parse_args()
    n_genes, n_samples = (5000, 100) if args.quick else (54675, 600)
    y, design = make_data(n_genes, n_samples)
    print(f"data: {n_genes} x {n_samples}, design {design.shape[1]} columns, one BLAS thread")
    run(y[:2000], design)  # warm-up (imports, scipy special-function tables)
    elapsed, n_de = run(y, design)
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"lm_fit+ebayes+top_table: {elapsed:.3f} s  ({n_de} genes adj.P<0.05)")
    if not args.quick:
        print(
            f"R limma reference: ~{R_REFERENCE_S} s  ->  speed-up x{R_REFERENCE_S / elapsed:.1f}"
            f"  (ratio python/R {elapsed / R_REFERENCE_S:.2f}); target <= {TARGET_S} s:"
            f" {'met' if elapsed <= TARGET_S else 'NOT met'}"
        )
    print(
        f"peak RSS: {rss_gb:.2f} GB, data generation included (input matrix"
        f" {y.nbytes / 1024**3:.2f} GB); target <= 2 GB"
    )
    tracemalloc.start()
    run(y, design)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"peak extra memory allocated by lm_fit+ebayes+top_table (tracemalloc): {peak / 1024**2:.0f} MB"
    )
    if args.variants:
        for name, kw in (
            ("trend", {"trend": True}),
            ("robust", {"robust": True}),
            ("trend+robust", {"trend": True, "robust": True}),
        ):
            elapsed, n_de = run(y, design, **kw)
            print(f"  {name:13s} {elapsed:.3f} s  ({n_de} genes adj.P<0.05)")
        yn = y.copy()
        rng = np.random.default_rng(1)
        rows = rng.choice(n_genes, n_genes // 20, replace=False)
        yn[rows, rng.integers(0, n_samples, rows.size)] = np.nan
        elapsed, n_de = run(yn, design)
        print(f"  NaN in 5% of rows ({rows.size} rows) {elapsed:.3f} s  ({n_de} adj.P<0.05)")
        rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"peak RSS after variants: {rss_gb:.2f} GB")


if __name__ == "__main__":
    main()
