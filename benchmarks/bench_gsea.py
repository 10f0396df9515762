"""Benchmark: preranked GSEA of GO BP on 20,000 genes - multilevel, simple and gseapy.prerank.

Run as ``python benchmarks/bench_gsea.py [--dense] [--de TABLE] [--no-gseapy]``. The ranking is
synthetic with a fixed seed, as in bench_enrichment.py: every gene of the shipped GO BP library
plus made-up symbols up to ``--genes`` (20,000), N(0, 1) statistics, 30 GO terms shifted by +/-1
(``--dense``: 300 terms shifted by +/-0.5, so that - as in real cohorts with a strong signal -
hundreds of sets need multilevel p-values); ``--de TABLE`` ranks a DE table's ``stat`` column
instead. Sets of 15-500 genes, 1,000 permutations (fgsea's ``nPermSimple``), seed 1.

Printed, all in the same run: wall and CPU seconds of ``gsea_prerank`` with
``method="multilevel"`` (the default) and ``"simple"``, and of ``gseapy.prerank`` with its
default permutation test (same permutations, one thread; skipped when gseapy is not installed: it
is not a markerflow dependency), with the ratios; how many sets got multilevel p-values and the
Metropolis proposals the kernel made (ns per proposal). First-call cost of the numba kernel:
``import`` plus loading the cached machine code in a fresh process, and a cold compile (a fresh,
empty ``NUMBA_CACHE_DIR``), each measured in a subprocess.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from markerflow.io.gmt import read_gmt  # noqa: E402
from markerflow.stages.enrichment import gsea_prerank  # noqa: E402

PERMUTATIONS = 1000

#: a fresh process: import the kernel and run one small ruler (compiles or loads the cache)
FIRST_CALL = """
import time
t0 = time.perf_counter()
import numpy as np
from markerflow.engines.gsea_multilevel import multilevel_pvalues
t1 = time.perf_counter()
multilevel_pvalues(np.array([0.6]), np.linspace(3, 0, 2000), 20, np.array([0.5]), seed=1)
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
"""


def first_call(cache: str | None) -> tuple[float, float]:
    """(import seconds, first-call seconds) in a fresh process; ``cache``: NUMBA_CACHE_DIR."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = cache
    out = subprocess.run(
        [sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def timed(fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def gseapy_prerank(stats: pd.Series, sets: dict) -> None:
    import gseapy

    gene_sets = {key: list(gene_set.genes) for key, gene_set in sets.items()}
    gseapy.prerank(
        rnk=stats.sort_values(ascending=False), gene_sets=gene_sets,
        permutation_num=PERMUTATIONS, min_size=15, max_size=500, threads=1, seed=1,
        no_plot=True, outdir=None, verbose=False,
    )  # fmt: skip


def ranking(sets: dict, genes: int, dense: bool, de: Path | None) -> pd.Series:
    if de is not None:
        table = pd.read_csv(de, sep="\t")
        return pd.Series(table["stat"].to_numpy(), index=table["gene"].astype(str))
    rng = np.random.default_rng(20261123)
    universe = sorted({g for s in sets.values() for g in s.genes})[:genes]
    universe += [f"FAKE{i:05d}" for i in range(genes - len(universe))]
    stats = pd.Series(rng.normal(size=len(universe)), index=universe)
    n_planted, shift = (300, 0.5) if dense else (30, 1.0)
    for i, sid in enumerate(rng.choice(list(sets), n_planted, replace=False)):
        members = [g for g in sets[sid].genes if g in stats.index]
        stats[members] += shift if i % 2 == 0 else -shift
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--dense", action="store_true", help="300 planted sets (+/-0.5)")
    ap.add_argument("--de", type=Path, help="rank this DE table's stat column instead")
    ap.add_argument("--no-gseapy", action="store_true")
    ap.add_argument("--eps", type=float, default=1e-50)
    ap.add_argument("--threads", type=int, default=1, help="multilevel rulers at once")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as cold:
        imp_cold, call_cold = first_call(cold)
        imp_warm, call_warm = first_call(cold)  # the cache just written
    print(
        f"numba kernel, fresh process: import {imp_cold:.2f} s; first call cold (compile)"
        f" {call_cold:.2f} s, from the cache {call_warm:.2f} s (import {imp_warm:.2f} s)"
    )

    from markerflow.engines import gsea_multilevel

    sets = read_gmt(ROOT / "resources" / "genesets" / "GO_BP_symbols_10-500.gmt")
    stats = ranking(sets, args.genes, args.dense, args.de)
    gsea_prerank(stats.head(2000), dict(list(sets.items())[:50]), 100, seed=1)  # load the kernel

    gsea_multilevel.TALLY[:] = 0
    multi, ml_wall, ml_cpu = timed(
        gsea_prerank, stats, sets, PERMUTATIONS, seed=1, method="multilevel", eps=args.eps,
        threads=args.threads,
    )  # fmt: skip
    proposals = int(gsea_multilevel.TALLY[0])
    simple, s_wall, s_cpu = timed(gsea_prerank, stats, sets, PERMUTATIONS, seed=1, method="simple")
    n_ml = int((multi["pvalue_method"] == "multilevel").sum())
    print(
        f"GO BP: {len(stats)} genes, {len(multi)} sets of 15-500 genes, {PERMUTATIONS}"
        f" permutations; {n_ml} sets got multilevel p-values (eps {args.eps:g},"
        f" {args.threads} thread(s))"
    )
    print(
        f"multilevel {ml_wall:.2f} s wall / {ml_cpu:.2f} s CPU; simple {s_wall:.2f} s /"
        f" {s_cpu:.2f} s; multilevel / simple: {ml_wall / s_wall:.2f} wall, {ml_cpu / s_cpu:.2f}"
        f" CPU; kernel: {proposals:.3g} proposals,"
        f" {1e9 * max(ml_cpu - s_cpu, 0) / max(proposals, 1):.0f} ns CPU each"
    )
    print(
        f"smallest p: multilevel {multi['pvalue'].min():.3g}, simple {simple['pvalue'].min():.3g};"
        f" padj < 0.05: multilevel {(multi['padj'] < 0.05).sum()},"
        f" simple {(simple['padj'] < 0.05).sum()}"
    )
    if args.no_gseapy:
        return
    try:
        import gseapy  # noqa: F401
    except ImportError:
        print("gseapy: not installed (pip install gseapy to time gseapy.prerank in the same run)")
        return
    _, g_wall, g_cpu = timed(gseapy_prerank, stats, sets)
    print(
        f"gseapy.prerank {g_wall:.2f} s wall / {g_cpu:.2f} s CPU; markerflow / gseapy (wall):"
        f" multilevel {ml_wall / g_wall:.4f}, simple {s_wall / g_wall:.4f}"
    )


if __name__ == "__main__":
    main()
