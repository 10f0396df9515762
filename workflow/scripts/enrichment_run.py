"""ORA (up/down; also as clusterProfiler's table) + preranked GSEA of one DE or meta table against
every gene-set library (one job per analysis: the table and the libraries are read, and the
imports paid, once)."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.gmt import read_gmt
from markerflow.io.tables import read_de_table, read_tsv, write_tsv
from markerflow.plots.enrichment import gsea_running, ora_dotplot
from markerflow.plots.figure import save_figure
from markerflow.runner import script_context
from markerflow.stages.enrichment import run_enrichment, running_panels

with script_context(snakemake) as log:
    ora_p, gsea_p, cols = snakemake.params.ora, snakemake.params.gsea, snakemake.params.columns
    out = snakemake.output
    # DE tables are on disk by p-value: back to gene order (the meta table as written)
    meta = snakemake.wildcards.analysis == "meta"
    table = read_tsv(snakemake.input.table) if meta else read_de_table(snakemake.input.table)
    for i, library in enumerate(snakemake.params.libraries):
        sets = read_gmt(snakemake.input.gmt[i])
        title = f"{library} - {snakemake.wildcards.analysis}"
        log.info("%s: %d genes, %d gene sets", title, len(table), len(sets))
        res = run_enrichment(
            table,
            sets,
            **cols,
            ora_padj_threshold=ora_p["padj_threshold"],
            ora_lfc_threshold=ora_p["lfc_threshold"],
            ora_min_size=ora_p["min_size"],
            ora_max_size=ora_p["max_size"],
            gsea_permutations=gsea_p["permutations"],
            gsea_min_size=gsea_p["min_size"],
            gsea_max_size=gsea_p["max_size"],
            gsea_method=gsea_p["method"],
            gsea_sample_size=gsea_p["sample_size"],
            gsea_eps=gsea_p["eps"],
            seed=snakemake.params.seed,
        )
        write_tsv(res.ora, out.ora[i])
        write_tsv(res.ora_clusterprofiler, out.ora_clusterprofiler[i])
        write_tsv(res.gsea, out.gsea[i])
        save_figure(ora_dotplot(res.ora, title), out.ora_plot[i])
        panels = running_panels(res.ranked, sets, res.gsea)
        save_figure(gsea_running(panels, title=title), out.gsea_plot[i])
