"""The study's tables as one Excel workbook (results/tables.xlsx)."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.runner import script_context
from markerflow.stages.tables import write_workbook

with script_context(snakemake) as log:
    n = write_workbook(list(snakemake.input.tables), snakemake.params.root,
                       snakemake.output.workbook)  # fmt: skip
    log.info("%d tables in %s", n, snakemake.output.workbook)
