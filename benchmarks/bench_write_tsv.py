"""Benchmark write_tsv against the pandas to_csv call it replaces, on the same tables, same run.

Usage: python benchmarks/bench_write_tsv.py [--rows 20597] [--repeats 5]
Tables shaped like the workflow's largest TSVs (seeded): a DE table (gene + 9 float + 1 int
column) and a candidate table (gene, direction + 20 float columns + text), NaN in one column.
Prints, per table, the best of ``--repeats`` wall times of pandas' ``to_csv`` (the previous
write_tsv) and of write_tsv, their ratio, and whether the bytes are equal (they must be).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from markerflow.io.tables import FLOAT_FORMAT, write_tsv


def _tables(rows: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(1)
    genes = [f"GENE{i}" for i in range(rows)]
    de = pd.DataFrame({"gene": genes} | {f"f{i}": rng.normal(size=rows) for i in range(9)})
    de["n_samples"] = rng.integers(10, 500, size=rows)
    de.loc[::11, "f3"] = np.nan
    cand = pd.DataFrame({"gene": genes, "direction": np.where(rng.uniform(size=rows) < 0.5,
                                                              "up", "down")})  # fmt: skip
    cand = cand.assign(**{f"c{i}": rng.uniform(size=rows) for i in range(20)})
    cand["components_used"] = "effect_size,significance,stability"
    return {"de": de, "candidates": cand}


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20597)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, df in _tables(args.rows).items():
            old, new = Path(tmp, f"{name}.pandas.tsv"), Path(tmp, f"{name}.tsv")

            def pandas_write(df=df, old=old) -> None:
                df.to_csv(old, sep="\t", index=False, na_rep="NA", float_format=FLOAT_FORMAT,
                          lineterminator="\n")  # fmt: skip

            t_old = _best(pandas_write, args.repeats)
            t_new = _best(lambda df=df, new=new: write_tsv(df, new), args.repeats)
            same = old.read_bytes() == new.read_bytes()
            print(f"{name}: {df.shape[0]} x {df.shape[1]}: pandas to_csv {t_old:.3f} s, "
                  f"write_tsv {t_new:.3f} s, ratio {t_new / t_old:.2f}, bytes equal: {same}")  # fmt: skip
            if not same:
                raise SystemExit(f"{name}: write_tsv wrote other bytes than pandas")


if __name__ == "__main__":
    main()
