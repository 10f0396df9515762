"""Benchmark limma-voom (voom + weighted lmFit + eBayes) against R limma in the same run.

Usage: python benchmarks/voom.py [--genes 60000] [--samples 200] [--no-r]
Synthetic negative-binomial counts (seed 1; 10% of genes with a log2 fold change ~ N(0, 1),
dispersion 0.05 + 2 / mean), two groups of equal size. Both sides get the same matrix (written to a
temporary TSV; read time excluded) and time the same steps on it: TMM factors, voom with the TMM
library sizes, lmFit with the voom weights, eBayes (limma 3.54.1 / edgeR 3.40.2 in R; the
markerflow engines here). filterByExpr is applied first, outside the timing, on both sides.
Prints both times, the ratio markerflow / R (target <= 0.25) and the largest difference of the
moderated t between the two (relative where |t| >= 1, absolute below).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from markerflow.engines import edger, limma
from markerflow.engines import voom as voom_mod

R_SCRIPT = r"""
suppressPackageStartupMessages({ library(limma); library(edgeR) })
args <- commandArgs(TRUE)
cnt <- as.matrix(read.delim(args[1], row.names = 1, check.names = FALSE))
group <- factor(rep(c("control", "case"), length.out = ncol(cnt)), levels = c("control", "case"))
design <- model.matrix(~group)
cnt <- cnt[filterByExpr(cnt, group = group), ]
t0 <- proc.time()[["elapsed"]]
lib <- colSums(cnt) * calcNormFactors(cnt)
v <- voom(cnt, design, lib.size = lib)
fit <- eBayes(lmFit(v, design))
el <- proc.time()[["elapsed"]] - t0
write.table(data.frame(t = sprintf("%.17g", fit$t[, 2])), args[2], quote = FALSE,
            row.names = FALSE)
cat(sprintf("R_ELAPSED %.3f %d\n", el, nrow(cnt)))
"""


def simulate(n_genes: int, n_samples: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mean = np.exp(rng.normal(4.0, 2.0, n_genes))
    disp = 0.05 + 2.0 / mean
    case = np.arange(n_samples) % 2 == 1
    lfc = np.where(rng.random(n_genes) < 0.1, rng.normal(0, 1, n_genes), 0.0)
    sf = np.exp(rng.normal(0, 0.2, n_samples))
    mu = mean[:, None] * sf[None, :] * np.where(case, 2.0 ** lfc[:, None], 1.0)
    size = 1.0 / disp[:, None]
    return rng.negative_binomial(size, size / (size + mu)).astype(np.float64)


def run_markerflow(y: np.ndarray, design: np.ndarray) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    lib = y.sum(axis=0) * edger.calc_norm_factors(y)
    v = voom_mod.voom(y, design, lib_size=lib)
    fit = limma.ebayes(limma.lm_fit(v.expression, design, weights=v.weights))
    return time.perf_counter() - t0, fit.t[:, 1]


def run_r(y: np.ndarray) -> tuple[float, np.ndarray] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "counts.tsv"
        pd.DataFrame(
            y.astype(np.int64),
            index=[f"g{i + 1}" for i in range(y.shape[0])],
            columns=[f"s{j + 1}" for j in range(y.shape[1])],
        ).to_csv(path, sep="\t", index_label="gene_id")
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT)
        out = Path(tmp) / "t.tsv"
        proc = subprocess.run(
            ["Rscript", str(script), str(path), str(out)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        for line in proc.stdout.splitlines():
            if line.startswith("R_ELAPSED"):
                return float(line.split()[1]), pd.read_csv(out, sep="\t")["t"].to_numpy()
        print("R failed:", proc.stderr[-2000:])
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--genes", type=int, default=60000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--no-r", action="store_true", help="skip the R comparison")
    args = ap.parse_args()
    y = simulate(args.genes, args.samples)
    group = np.where(np.arange(args.samples) % 2 == 1, "case", "control")
    design = np.column_stack([np.ones(args.samples), (group == "case").astype(float)])
    y = y[edger.filter_by_expr(y, group=group)]
    wall, t = run_markerflow(y, design)
    print(
        f"{args.genes} x {args.samples} ({y.shape[0]} genes after filterByExpr): "
        f"markerflow TMM + voom + lmFit + eBayes {wall:.2f} s"
    )
    if not args.no_r:
        r = run_r(y)
        if r is None:
            print("  R limma: not available")
        else:
            # relative for |t| >= 1, absolute below (near t = 0 the coefficient is a difference of
            # nearly equal means and its relative error is rounding noise amplified)
            rel = float(np.max(np.abs(t - r[1]) / np.maximum(np.abs(r[1]), 1.0)))
            rel_all = float(np.max(np.abs(t - r[1]) / np.maximum(np.abs(r[1]), 1e-300)))
            print(
                f"  R calcNormFactors + voom + lmFit + eBayes {r[0]:.2f} s; "
                f"ratio markerflow/R = {wall / r[0]:.3f} (target <= 0.25); "
                f"max |t - t_R| / max(|t_R|, 1) = {rel:.1e} (plain relative {rel_all:.1e})"
            )


if __name__ == "__main__":
    main()
