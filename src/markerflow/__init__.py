"""markerflow: transcriptome cohorts to ranked, validated biomarker candidates.

The library holds every statistic and parser of the workflow as pure functions on numpy/pandas
objects; `workflow/scripts/` only wire Snakemake's inputs and outputs to them. The layers and the
rule of imports are described in docs/architecture.md.
"""

import csv as _csv
import sys as _sys


def __getattr__(name: str) -> str:
    """``markerflow.__version__``, looked up on first use (PEP 562): importlib.metadata scans the
    installed distributions, a fixed cost every workflow job paid at import (issue 20)."""
    if name != "__version__":
        raise AttributeError(f"module 'markerflow' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("markerflow")  # one source of truth: pyproject.toml
    except PackageNotFoundError:  # a checkout used uninstalled (scripts put src/ first)
        found = "0+unknown"
    globals()["__version__"] = found
    return found


# Header cells of GEO files (e.g. a long !Series_summary) and table cells may exceed the csv
# module's default 128 kB field limit; raise it once for every parser of the package.
_csv.field_size_limit(min(_sys.maxsize, 2**31 - 1))
