"""Benchmark the RNA-seq counts path (validate, filter, deseq2, vst) against R DESeq2.

Usage: python benchmarks/bench_counts.py [--quick] [--no-r] [--size 60000x100]
Synthetic negative-binomial counts (seed 1): 20,000 x 100 and 60,000 x 100 (--quick: 5,000 x 20),
two groups of equal size, 10% of genes with a log2 fold change ~ N(0, 1), dispersion trend
0.05 + 2/mean. Prints wall time and peak memory of markerflow's path, and, when Rscript with
DESeq2 is available, R's DESeq() + results() + varianceStabilizingTransformation() time on the same
matrix (written to a temporary TSV; R's read time excluded) and the ratio markerflow / R.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from markerflow.io.matrices import validate_counts
from markerflow.stages import counts as C
from markerflow.stages.genes import filter_low_counts

R_SCRIPT = r"""
suppressPackageStartupMessages(library(DESeq2))
args <- commandArgs(TRUE)
cnt <- as.matrix(read.delim(args[1], row.names = 1, check.names = FALSE))
cd <- data.frame(condition = factor(rep(c("control", "case"), length.out = ncol(cnt)),
                                    levels = c("control", "case")), row.names = colnames(cnt))
t0 <- proc.time()[["elapsed"]]
keep <- rowSums(cnt >= 10) >= min(table(cd$condition))
dds <- DESeqDataSetFromMatrix(cnt[keep, ], cd, ~condition)
dds <- DESeq(dds, quiet = TRUE)
r <- results(dds, name = "condition_case_vs_control")
v <- varianceStabilizingTransformation(dds, blind = TRUE)
cat(sprintf("R_ELAPSED %.3f %d\n", proc.time()[["elapsed"]] - t0, sum(r$padj < 0.1, na.rm = TRUE)))
"""


def simulate(n_genes: int, n_samples: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    mean = np.exp(rng.normal(4.0, 2.0, n_genes))
    disp = 0.05 + 2.0 / mean
    cond = np.array(["control", "case"] * (n_samples // 2))
    lfc = np.where(rng.random(n_genes) < 0.1, rng.normal(0, 1, n_genes), 0.0)
    sf = np.exp(rng.normal(0, 0.2, n_samples))
    mu = mean[:, None] * sf[None, :] * np.where(cond == "case", 2.0 ** lfc[:, None], 1.0)
    size = 1.0 / disp[:, None]
    y = rng.negative_binomial(size, size / (size + mu))
    samples = [f"s{i + 1}" for i in range(n_samples)]
    counts = pd.DataFrame(y, index=[f"g{i + 1}" for i in range(n_genes)], columns=samples)
    sheet = pd.DataFrame({"sample": samples, "condition": cond, "batch": "b1"})
    return counts, sheet


def run_markerflow(counts, sheet):
    t0 = time.perf_counter()
    times = {}
    m = validate_counts(counts, "synthetic")
    times["validate"] = time.perf_counter() - t0
    t = time.perf_counter()
    f, _ = filter_low_counts(m, sheet.set_index("sample")["condition"])
    times["filter"] = time.perf_counter() - t
    t = time.perf_counter()
    v = C.vst(f, n_cpus=N_CPUS)
    times["vst"] = time.perf_counter() - t
    t = time.perf_counter()
    de = C.deseq2(f, sheet, case="case", control="control", vst_values=v, n_cpus=N_CPUS)
    times["deseq2"] = time.perf_counter() - t
    return time.perf_counter() - t0, times, de, f


def run_r(filtered_input: pd.DataFrame) -> tuple[float, int] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "counts.tsv"
        filtered_input.to_csv(path, sep="\t", index_label="gene_id")
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT)
        proc = subprocess.run(
            ["Rscript", str(script), str(path)], capture_output=True, text=True, timeout=3600
        )
        for line in proc.stdout.splitlines():
            if line.startswith("R_ELAPSED"):
                _, sec, nde = line.split()
                return float(sec), int(nde)
        print("R failed:", proc.stderr[-2000:])
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="5,000 x 20 only")
    ap.add_argument("--no-r", action="store_true", help="skip the R comparison")
    ap.add_argument("--n-cpus", type=int, default=1, help="threads for markerflow (default 1)")
    ap.add_argument("--size", help="one size only, genes x samples, e.g. 60000x100")
    args = ap.parse_args()
    global N_CPUS
    N_CPUS = args.n_cpus
    sizes = [(5000, 20)] if args.quick else [(20000, 100), (60000, 100)]
    if args.size:
        g, n = (int(v) for v in args.size.lower().split("x"))
        sizes = [(g, n)]
    for n_genes, n_samples in sizes:
        counts, sheet = simulate(n_genes, n_samples)
        tracemalloc.start()
        wall, times, de, filtered = run_markerflow(counts, sheet)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        steps = ", ".join(f"{k} {v:.2f}s" for k, v in times.items())
        print(
            f"{n_genes} x {n_samples}: markerflow {wall:.2f} s ({steps}); "
            f"{len(filtered)} genes after filter; {(de['padj'] < 0.1).sum()} padj<0.1; "
            f"peak traced memory {peak / 2**20:.0f} MiB, process max RSS {rss:.0f} MiB"
        )
        if not args.no_r:
            r = run_r(counts)
            if r is None:
                print("  R DESeq2: not available")
            else:
                print(
                    f"  R DESeq2 (filter + DESeq + results + VST): {r[0]:.2f} s, {r[1]} "
                    f"padj<0.1; ratio markerflow/R = {wall / r[0]:.2f}"
                )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
