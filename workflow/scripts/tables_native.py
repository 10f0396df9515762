"""One cohort's DE table with limma's or DESeq2's column names (de.limma.tsv / de.deseq2.tsv)."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_tsv, write_tsv
from markerflow.runner import script_context
from markerflow.stages.tables import native_de_table

with script_context(snakemake) as log:
    table = native_de_table(
        read_tsv(snakemake.input.table, float_precision="round_trip"),  # the numbers as written
        snakemake.params.kind,
        snakemake.input.table,
    )
    log.info("%s table: %d rows, columns %s", snakemake.params.kind, len(table),
             " ".join(table.columns))  # fmt: skip
    write_tsv(table, snakemake.output.table)
