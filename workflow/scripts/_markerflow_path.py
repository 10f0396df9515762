"""Make scripts import the markerflow library of this checkout (src/), ahead of any installed copy.

Snakemake appends the scripts directory to ``sys.path``; importing this module first puts
``<project>/src`` at the front, locally and inside cluster jobs alike.

It also pins BLAS/OpenMP to one thread before numpy is loaded, so results do not depend on
``--cores``: Snakemake exports ``OPENBLAS_NUM_THREADS=<threads of the job>``, and OpenBLAS started
with 1 thread and with >= 2 threads sums in different orders (the DESeq2 table of GSE85567 differed
in the last bits between ``--cores 1`` and ``--cores 2``; limiting threads after start-up, e.g.
with threadpoolctl, does not restore the 1-thread results). Jobs run side by side instead.
"""

import os
import sys
from pathlib import Path

if "numpy" not in sys.modules:
    for _var in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "GOTO_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    ):
        os.environ[_var] = "1"

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)
