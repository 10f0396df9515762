"""Stop on near-duplicate samples or shared sample IDs across cohorts; table the study warnings."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import write_tsv
from markerflow.runner import script_context
from markerflow.stages.guards import run_guards

with script_context(snakemake) as log:
    p = snakemake.params
    # paths: the library reads the matrices one at a time
    matrices = dict(zip(p.cohorts, snakemake.input.expression, strict=True))
    table = run_guards(matrices, dict(p.roles), list(p.warnings))
    for message in table["message"]:
        log.warning("%s", message)
    log.info("no shared or near-duplicate samples across %d cohorts", len(matrices))
    write_tsv(table, snakemake.output.table)
