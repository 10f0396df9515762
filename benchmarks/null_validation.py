"""Null study for external validation (issue 15): how often does a validation AUC interval exclude
0.5 when there is nothing to find?

Pure noise (tests/synthetic.py ``study_cohorts``): per data seed, 3 discovery cohorts (20 vs 20)
run the whole selection chain (markerflow.stages.validation.select_signature: merge/ComBat, meta,
candidates, signature) and the frozen signature scores ``--validation`` fresh noise cohorts
(20 vs 20). Prints, per signature method, the number of validation intervals and the number that
exclude 0.5 (expected 5 % for a 95 % interval), with a Clopper-Pearson 95 % interval of the rate.

    .venv/bin/python benchmarks/null_validation.py --seeds 40 --validation 5   # 200 cohorts
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from synthetic import study_cohorts  # noqa: E402

from markerflow.stages.cohorts import load_cohort  # noqa: E402
from markerflow.stages.de import array_de  # noqa: E402
from markerflow.stages.validation import (  # noqa: E402
    ChainSettings,
    DiscoveryInput,
    auc_interval,
    score_frozen,
    select_signature,
)


def run(method: str, seeds: int, n_val: int, n_genes: int) -> dict[str, float]:
    excluded = total = 0
    below = above = 0
    aucs = []
    for seed in range(seeds):
        names = ("D1", "D2", "D3", *(f"V{i}" for i in range(n_val)))
        cohorts, _ = study_cohorts(5000 + seed, names, n_genes=n_genes)
        disc = {
            c: DiscoveryInput(*cohorts[c], array_de(*cohorts[c], "case", "control", cohort=c))
            for c in names[:3]
        }
        settings = ChainSettings(case_label="case", control_label="control", seed=seed,
                                 method=method, preselect=300, stability_subsamples=50,
                                 pool_size=50, max_genes=20,
                                 weights={"pathway": 0.5, "expression": 0.25})  # fmt: skip
        frozen = select_signature(disc, settings).frozen
        for c in names[3:]:
            cohort = load_cohort(*cohorts[c], "case", "control", name=c)
            scores, _ = score_frozen(frozen, cohort)
            auc, _, lo, hi, _ = auc_interval(scores, cohort.is_case)
            aucs.append(auc)
            total += 1
            below += int(hi < 0.5)
            above += int(lo > 0.5)
            excluded += int(hi < 0.5 or lo > 0.5)
    ci = stats.binomtest(excluded, total).proportion_ci(0.95, method="exact")
    return {"method": method, "cohorts": total, "excluded": excluded, "below": below,
            "above": above, "rate": excluded / total, "rate_low": ci.low, "rate_high": ci.high,
            "mean_auc": float(np.mean(aucs)), "sd_auc": float(np.std(aucs, ddof=1))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--validation", type=int, default=5, help="validation cohorts per seed")
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--methods", nargs="+", default=["logistic", "forward_search"])
    args = parser.parse_args()
    for method in args.methods:
        start = time.perf_counter()
        r = run(method, args.seeds, args.validation, args.genes)
        print(f"{method}: {r['excluded']} of {r['cohorts']} null validation intervals exclude 0.5 "
              f"({r['below']} below, {r['above']} above), rate {r['rate']:.3f} "
              f"[{r['rate_low']:.3f}, {r['rate_high']:.3f}]; AUC mean {r['mean_auc']:.3f} "
              f"sd {r['sd_auc']:.3f}; {time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
