"""markerflow: transcriptome cohorts to ranked, validated biomarker candidates.

The library holds every statistic and parser of the workflow as pure functions on numpy/pandas
objects; `workflow/scripts/` only wire Snakemake's inputs and outputs to them. The layers and the
rule of imports are described in docs/architecture.md.
"""

import csv as _csv
import sys as _sys
from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("markerflow")  # one source of truth: pyproject.toml
except _PackageNotFoundError:  # a checkout used uninstalled (scripts put src/ first)
    __version__ = "0+unknown"

# Header cells of GEO files (e.g. a long !Series_summary) and table cells may exceed the csv
# module's default 128 kB field limit; raise it once for every parser of the package.
_csv.field_size_limit(min(_sys.maxsize, 2**31 - 1))
