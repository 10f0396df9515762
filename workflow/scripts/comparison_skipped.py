"""The cohorts a comparison skips, with the reason (decided when the workflow started)."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)
import pandas as pd

from markerflow.io.tables import write_tsv
from markerflow.runner import script_context

with script_context(snakemake) as log:
    table = pd.DataFrame(
        list(snakemake.params.rows), columns=["comparison", "cohort", "role", "reason"]
    )
    for row in table.itertuples():
        log.info("cohort %s skipped: %s", row.cohort, row.reason)
    write_tsv(table, snakemake.output.table)
