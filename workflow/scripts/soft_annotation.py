"""Probe -> symbol table of a SOFT family (chosen platform) or GDS (IDENTIFIER) cohort."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.soft import soft_annotation, write_annotation
from markerflow.runner import script_context

with script_context(snakemake):
    table = soft_annotation(
        snakemake.input.soft, snakemake.params.source, snakemake.params.platform
    )
    write_annotation(table, snakemake.output.annotation)
