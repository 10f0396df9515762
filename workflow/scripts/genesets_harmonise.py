"""One gene-set library with its members brought to current symbols (as the expression data)."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.gmt import read_gmt, write_gmt
from markerflow.io.symbols import harmonise_gene_sets, read_alias_table
from markerflow.runner import script_context

with script_context(snakemake) as log:
    sets = read_gmt(snakemake.input.gmt)
    sets, renamed = harmonise_gene_sets(sets, read_alias_table(snakemake.input.symbol_table))
    log.info("%d gene sets; %d member names brought to current symbols", len(sets), renamed)
    write_gmt(sets, snakemake.output.gmt)
