"""Make scripts import the markerflow library of this checkout (src/), ahead of any installed copy,
and make their numerics independent of the number of cores.

Snakemake appends the scripts directory to ``sys.path``; importing this module first puts
``<project>/src`` at the front, locally and inside cluster jobs alike (moved to the front if it was
already on the path behind another checkout's ``src``, e.g. an editable install in a shared venv).

Determinism: Snakemake sets ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/... to the job's
``threads``, which ``--cores`` caps; multi-threaded BLAS reductions sum in a thread-dependent order,
so e.g. the DESeq2 table of a run with ``--cores 1`` differed in the last bits from one with
``--cores 2``. Every job therefore runs BLAS/OpenMP single-threaded (a rule's ``threads`` remain
available for process-level parallelism, e.g. pydeseq2's ``n_cpus``).
"""

import os
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
# first, even when already on the path behind another copy (Snakemake's preamble appends the
# workflow's sys.path, after e.g. an editable install of a different checkout)
while SRC in sys.path:
    sys.path.remove(SRC)
sys.path.insert(0, SRC)

BLAS_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "BLIS_NUM_THREADS",
)
for _variable in BLAS_THREAD_VARIABLES:
    os.environ[_variable] = "1"  # read by BLAS/OpenMP libraries when they load
if "numpy" in sys.modules:  # already loaded (e.g. by the Snakemake preamble): limit it at runtime
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
