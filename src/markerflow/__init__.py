"""markerflow: transcriptome cohorts to ranked, validated biomarker candidates.

The library holds every statistic and parser of the workflow as pure functions on numpy/pandas
objects; `workflow/scripts/` only wire Snakemake's inputs and outputs to them.
"""

__version__ = "0.1.0"
