"""Random-effects meta-analysis of the discovery cohorts' DE tables, and the forest plot."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import write_tsv
from markerflow.plots.figure import count_noun, save_figure
from markerflow.plots.meta import forest_plot
from markerflow.runner import script_context
from markerflow.stages.columnar import read_de_summary
from markerflow.stages.meta import meta_analysis

with script_context(snakemake) as log:
    p = snakemake.params
    tables = {
        c: read_de_summary(path) for c, path in zip(p.cohorts, snakemake.input.tables, strict=True)
    }
    meta = meta_analysis(
        tables, min_cohorts=p.min_cohorts, leave_one_out=bool(p.leave_one_out), method=p.method
    )
    log.info("meta-analysis of %d cohort(s): %d genes", len(tables), len(meta))
    write_tsv(meta, snakemake.output.table)
    fig = forest_plot(
        meta,
        top=int(p.forest_top),
        title=f"Top {count_noun(int(p.forest_top), 'gene')} by meta p-value",
    )
    save_figure(fig, snakemake.output.forest)
