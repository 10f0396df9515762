"""The out-of-core merge (``merge_and_correct_files``) as it writes its Parquet files now against
the writer before issue 20's sixth round, in the same run: one row group per gene block
(``row_group_rows=1``) and every block converted by ``pa.Table.from_pandas``.

A merged matrix is samples wide and a Parquet writer keeps about 820 bytes of metadata per column
chunk until it closes, so one row group per 64 MiB block (167 genes at 50,000 samples) made the
writers' metadata grow as samples^2 (issue 20: 9.66 GB peak at 100 cohorts x 500), and
``from_pandas`` costs about 4 s per block at 50,000 columns, whatever its rows. This writes
seeded cohort gene matrices (log2-like, a shift and scale per batch, a within-cohort batch in
every third cohort, a case/control condition) to --workdir, then runs the merge once each way,
each in its own process, one after the other, and prints wall time, CPU time, exact peak RSS
(``ru_maxrss``), the row groups and footer size of the corrected matrix, and whether both
hold the same values (they must: only the writing differs).

    python benchmarks/bench_merge_files.py [--cohorts 100 --samples 500 --genes 17385]
        [--workdir /tmp/bench_merge] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's library
SEED = 20261203


def sheet_of(cohort: int, samples: int) -> pd.DataFrame:
    ids = [f"C{cohort:03d}_S{j:04d}" for j in range(samples)]
    within = (np.arange(samples) % 2).astype(str) if cohort % 3 == 2 else np.full(samples, "1")
    condition = np.where(np.arange(samples) % 2 == np.arange(samples) // 2 % 2, "case", "control")
    return pd.DataFrame({"sample": ids, "condition": condition, "batch": within})


def generate(args: argparse.Namespace, workdir: Path) -> None:
    from markerflow.io.tables import write_matrix

    genes = pd.Index([f"G{i:05d}" for i in range(args.genes)], name="gene")
    means = np.random.default_rng(SEED).uniform(4, 12, (args.genes, 1))
    for c in range(args.cohorts):
        rng = np.random.default_rng([SEED, c])
        sheet = sheet_of(c, args.samples)
        x = means + rng.standard_normal((args.genes, args.samples)) * 0.3
        x += 0.5 * (sheet["condition"].to_numpy() == "case") * (rng.random((args.genes, 1)) < 0.05)
        for b in np.unique(sheet["batch"]):
            cols = (sheet["batch"] == b).to_numpy()
            x[:, cols] = x[:, cols] * rng.uniform(0.8, 1.2, (args.genes, 1)) + rng.normal(0, 0.3)
        write_matrix(
            pd.DataFrame(x, index=genes, columns=sheet["sample"]), workdir / f"C{c:03d}.parquet"
        )


def run(args: argparse.Namespace, workdir: Path) -> dict:
    import pyarrow.parquet as pq
    from threadpoolctl import threadpool_limits

    from markerflow.stages.merge import merge_and_correct_files

    threadpool_limits(limits=1)  # the merge rule's one thread
    if args.layout == "before":  # the writer before: from_pandas for every block
        from markerflow.io.tables import MatrixWriter

        MatrixWriter._like_first = lambda self, block: False  # type: ignore[method-assign]
    paths = {f"C{c:03d}": workdir / f"C{c:03d}.parquet" for c in range(args.cohorts)}
    sheets = {f"C{c:03d}": sheet_of(c, args.samples) for c in range(args.cohorts)}
    out = workdir / args.layout
    t0, c0 = time.perf_counter(), time.process_time()
    summary = merge_and_correct_files(
        paths, sheets, out / "expression.parquet", out / "uncorrected.parquet",
        n_threads=1, row_group_rows=1 if args.layout == "before" else None,
    )  # fmt: skip
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    meta = pq.ParquetFile(out / "expression.parquet").metadata
    return {
        "seconds": seconds,
        "cpu": cpu,
        "row_groups": meta.num_row_groups,
        "footer_mb": meta.serialized_size / 2**20,
        "silhouette_after": float(summary.mixing["silhouette_after"].iloc[0]),
    }


def same_values(workdir: Path) -> bool:
    import pyarrow.parquet as pq

    for name in ("expression.parquet", "uncorrected.parquet"):
        a, b = (pq.ParquetFile(workdir / layout / name) for layout in ("before", "now"))
        for start in range(0, a.metadata.num_rows, 2048):  # a few thousand genes at a time
            stop = min(start + 2048, a.metadata.num_rows)
            if not _rows(a, start, stop).equals(_rows(b, start, stop)):
                return False
    return True


def _rows(handle, start: int, stop: int):
    """Rows start..stop-1 of a Parquet file, reading only the row groups that hold them."""
    import pyarrow as pa

    parts, offset = [], 0
    for g in range(handle.metadata.num_row_groups):
        n = handle.metadata.row_group(g).num_rows
        if offset < stop and offset + n > start:
            table = handle.read_row_group(g)
            parts.append(
                table.slice(max(start - offset, 0), min(stop, offset + n) - max(start, offset))
            )
        offset += n
    return pa.concat_tables(parts).combine_chunks()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cohorts", type=int, default=100)
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--genes", type=int, default=17_385)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/bench_merge"))
    p.add_argument("--quick", action="store_true", help="20 x 500 samples, 3,000 genes")
    p.add_argument("--layout", choices=["before", "now"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.cohorts, args.genes = 20, 3_000
    workdir = args.workdir
    if args.layout:
        result = run(args, workdir)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    t0 = time.perf_counter()
    generate(args, workdir)
    n = args.cohorts * args.samples
    print(f"merge of {args.cohorts} cohorts x {args.samples} samples ({n:,}) x {args.genes:,} "
          f"genes (generated in {time.perf_counter() - t0:.0f} s), one thread")  # fmt: skip
    results = {}
    for layout in ("before", "now"):
        cmd = [sys.executable, __file__, "--layout", layout, "--cohorts", str(args.cohorts),
               "--samples", str(args.samples), "--genes", str(args.genes),
               "--workdir", str(workdir)]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = results[layout] = json.loads(out.strip().splitlines()[-1])
        print(f"{layout:>9}: {r['seconds']:7.1f} s wall, {r['cpu']:7.1f} s CPU, peak RSS "
              f"{r['peak_rss_mb'] / 1024:5.2f} GB, {r['row_groups']} row groups, footer "
              f"{r['footer_mb']:.1f} MB")  # fmt: skip
    old, new = results["before"], results["now"]
    print(f"ratio now / before: wall {new['seconds'] / old['seconds']:.2f}, "
          f"peak RSS {new['peak_rss_mb'] / old['peak_rss_mb']:.2f}")  # fmt: skip
    print(f"same values in both: {same_values(workdir)}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
