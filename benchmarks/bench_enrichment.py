"""Benchmark: ORA + preranked GSEA of GO BP (~6.5k sets) on 20,000 genes, simple and multilevel.

Run as ``python benchmarks/bench_enrichment.py [--quick]``. Synthetic statistics with a fixed seed:
the gene universe is every gene of the shipped GO BP library plus made-up symbols up to 20,000;
statistics are N(0, 1) with 30 GO terms shifted (+/-1). Target (issue 6): < 60 s and < 4 GB peak on
2 cores for ORA (up + down) + GSEA with 1,000 permutations. ``--quick``: the first
1,000 GO BP sets and 200 permutations.

GSEA runs twice, with fgsea's two p-value estimators (``method="simple"``: permutations only;
``"multilevel"``: fgseaMultilevel's adaptive multilevel splitting for the sets whose permutation
p-value is imprecise), and, when gseapy is installed (``pip install gseapy``; not a markerflow
dependency), gseapy.prerank with the same permutations on one thread, all in the same run; the
ratios of the times are printed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from markerflow.io.gmt import read_gmt  # noqa: E402
from markerflow.stages.enrichment import gsea_prerank, ora_up_down  # noqa: E402

TARGET_S = 60.0
TARGET_GB = 4.0


def gseapy_time(stats: pd.Series, sets: dict, permutations: int) -> float | None:
    """Seconds for gseapy.prerank on the same ranking and sets (one thread), or None."""
    try:
        import gseapy
    except ImportError:
        return None
    gene_sets = {key: list(gene_set.genes) for key, gene_set in sets.items()}
    t0 = time.perf_counter()
    gseapy.prerank(
        rnk=stats.sort_values(ascending=False), gene_sets=gene_sets, permutation_num=permutations,
        min_size=15, max_size=500, threads=1, seed=1, no_plot=True, outdir=None, verbose=False,
    )  # fmt: skip
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 sets, 200 permutations")
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--permutations", type=int, default=1000)
    args = ap.parse_args()
    perms = 200 if args.quick else args.permutations

    t0 = time.perf_counter()
    sets = read_gmt(ROOT / "resources" / "genesets" / "GO_BP_symbols_10-500.gmt")
    if args.quick:
        sets = dict(list(sets.items())[:1000])
    t_read = time.perf_counter() - t0

    rng = np.random.default_rng(20261123)
    universe = sorted({g for s in sets.values() for g in s.genes})[: args.genes]
    universe += [f"FAKE{i:05d}" for i in range(args.genes - len(universe))]
    stat = rng.normal(size=len(universe))
    s = pd.Series(stat, index=universe)
    planted = rng.choice(list(sets), 30, replace=False)
    for i, sid in enumerate(planted):
        members = [g for g in sets[sid].genes if g in s.index]
        s[members] += 1.0 if i % 2 == 0 else -1.0
    de = pd.DataFrame({"gene": s.index, "stat": s.to_numpy(), "log2fc": s.to_numpy() / 4})
    de["padj"] = np.minimum(1.0, 2 * np.exp(-np.abs(de["stat"]) * 1.5))

    t1 = time.perf_counter()
    ora_df = ora_up_down(de, sets, 0.05, 0.0, 10, 500)
    t_ora = time.perf_counter() - t1
    t2 = time.perf_counter()
    simple_df = gsea_prerank(
        s, sets, permutations=perms, seed=1, min_size=15, max_size=500, method="simple"
    )
    t_simple = time.perf_counter() - t2
    t2 = time.perf_counter()
    gsea_df = gsea_prerank(
        s, sets, permutations=perms, seed=1, min_size=15, max_size=500, method="multilevel"
    )
    t_gsea = time.perf_counter() - t2
    total = time.perf_counter() - t0
    t_gseapy = gseapy_time(s, sets, perms)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    hits = gsea_df.set_index("term_id").reindex(planted)
    print(
        f"genes {len(s)}, sets read {len(sets)}, ORA rows {len(ora_df)}, GSEA sets {len(gsea_df)},"
        f" permutations {perms}"
    )
    print(
        f"read GMT {t_read:.2f} s, ORA up+down {t_ora:.2f} s, GSEA multilevel {t_gsea:.2f} s,"
        f" total {total:.2f} s"
    )
    n_ml = int((gsea_df["pvalue_method"] == "multilevel").sum())
    print(
        f"GSEA simple {t_simple:.2f} s, multilevel {t_gsea:.2f} s ({n_ml} sets re-estimated;"
        f" ratio {t_gsea / t_simple:.2f}); smallest p: simple {simple_df['pvalue'].min():.3g},"
        f" multilevel {gsea_df['pvalue'].min():.3g}; padj < 0.05: simple"
        f" {(simple_df['padj'] < 0.05).sum()}, multilevel {(gsea_df['padj'] < 0.05).sum()}"
    )
    if t_gseapy is None:
        print("gseapy: not installed (pip install gseapy to time gseapy.prerank in the same run)")
    else:
        print(
            f"gseapy.prerank {t_gseapy:.2f} s; markerflow / gseapy: simple"
            f" {t_simple / t_gseapy:.4f}, multilevel {t_gsea / t_gseapy:.4f}"
        )
    print(f"peak RSS {peak_gb:.2f} GB")
    tested = hits["padj"].notna().sum()
    print(
        f"planted sets called (of {tested} tested): padj < 0.05: {(hits['padj'] < 0.05).sum()},"
        f" fdr_gsea < 0.05: {(hits['fdr_gsea'] < 0.05).sum()}"
    )
    if not args.quick:
        print(
            f"time / target ({TARGET_S:.0f} s): {total / TARGET_S:.3f};"
            f" memory / target ({TARGET_GB:.0f} GB): {peak_gb / TARGET_GB:.3f}"
        )


if __name__ == "__main__":
    main()
