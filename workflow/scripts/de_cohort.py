"""Differential expression of one cohort for one comparison: DE table (sorted by p-value, with the
original feature ID), log-scale matrix and sample sheet of the comparison's two sides, their
columnar summary for the later stages (markerflow.stages.columnar), volcano plot, heatmaps of the
top genes and of the sample distances, summary."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_matrix, read_tsv, write_matrix, write_tsv
from markerflow.model.comparisons import Comparison, comparison_samples, model_samples
from markerflow.plots.de import sample_distance_heatmap, top_genes_heatmap, volcano
from markerflow.plots.figure import save_figure
from markerflow.runner import script_context
from markerflow.stages.columnar import summarise_files, write_summary
from markerflow.stages.counts import read_tximport_lengths
from markerflow.stages.de import cohort_de, summarise_de, with_feature_ids
from markerflow.stages.tables import sort_by_pvalue

with script_context(snakemake) as log:
    p = snakemake.params
    comparison = Comparison.from_params(p.comparison)
    samples = read_tsv(snakemake.input.samples, dtype={"sample": str, "batch": str})
    log.info("design formula: %s; level order: %s", p.design or "default",
             ", ".join(p.levels))  # fmt: skip
    lengths = None
    if "tx_lengths" in snakemake.input.keys():  # a cohort from quantifications (tximport)
        lengths = read_tximport_lengths(
            read_matrix(snakemake.input.tx_lengths),
            read_matrix(snakemake.input.feature_counts),
            snakemake.input.get("annotation"),
            snakemake.input.get("symbol_table"),
            cohort=p.cohort,
        )
        log.info("DESeq2 offsets: tximport average transcript lengths (%s)",
                 snakemake.input.tx_lengths)  # fmt: skip
    table, normalized = cohort_de(
        read_matrix(snakemake.input.expression),
        model_samples(samples, comparison),
        p.data_type,
        comparison.case,
        comparison.control,
        p.covariates,
        p.arrays,
        p.counts,
        cohort=p.cohort,
        threads=snakemake.threads,
        design_formula=p.design,
        levels=p.levels,
        avg_tx_length=lengths,
    )
    kept = comparison_samples(samples, comparison)
    if len(kept) < len(samples):  # other levels were in the model, not in later stages
        normalized = normalized.loc[:, [s for s in normalized.columns if s in set(kept["sample"])]]
    log.info("%s: %d of %d samples are %s or %s", comparison.name, len(kept), len(samples),
             comparison.case, comparison.control)  # fmt: skip
    features = read_tsv(snakemake.input.features)
    write_tsv(sort_by_pvalue(with_feature_ids(table, features, p.cohort)), snakemake.output.table)
    write_matrix(normalized, snakemake.output.normalized)
    write_tsv(kept, snakemake.output.samples)
    out = snakemake.output
    summary = summarise_files(out.table, out.normalized, out.samples, cohort=p.cohort,
                              case_label=comparison.case, control_label=comparison.control)  # fmt: skip
    write_summary(summary, out.de_columnar, out.genes)
    log.info("columnar summary: %d genes, %d ComBat cell(s), minimum %s (%s)", len(summary.genes),
             len(summary.cells), summary.minimum, summary.minimum_gene)  # fmt: skip
    fig = volcano(table, p.cohort, p.padj_threshold, p.lfc_threshold)
    save_figure(fig, snakemake.output.volcano)
    sides = {"case": comparison.case, "control": comparison.control}
    save_figure(top_genes_heatmap(normalized, table, kept, p.cohort, **sides),
                snakemake.output.heatmap)  # fmt: skip
    save_figure(sample_distance_heatmap(normalized, kept, p.cohort, **sides),
                snakemake.output.distances)  # fmt: skip
    summary = summarise_de(table, p.cohort, p.padj_threshold, p.lfc_threshold)
    write_tsv(summary, snakemake.output.summary)
