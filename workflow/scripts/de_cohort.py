"""Differential expression of one cohort: DE table, log-scale matrix, volcano plot, summary."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_matrix, read_tsv, write_matrix, write_tsv
from markerflow.plots.de import volcano
from markerflow.plots.figure import save_figure
from markerflow.runner import script_context
from markerflow.stages.de import cohort_de, summarise_de

with script_context(snakemake) as log:
    p = snakemake.params
    samples = read_tsv(snakemake.input.samples, dtype={"sample": str, "batch": str})
    table, normalized = cohort_de(
        read_matrix(snakemake.input.expression),
        samples,
        p.data_type,
        p.case_label,
        p.control_label,
        p.covariates,
        p.arrays,
        p.counts,
        cohort=p.cohort,
        threads=snakemake.threads,
    )
    write_tsv(table, snakemake.output.table)
    write_matrix(normalized, snakemake.output.normalized)
    fig = volcano(table, p.cohort, p.padj_threshold, p.lfc_threshold)
    save_figure(fig, snakemake.output.volcano)
    summary = summarise_de(table, p.cohort, p.padj_threshold, p.lfc_threshold)
    write_tsv(summary, snakemake.output.summary)
