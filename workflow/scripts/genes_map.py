"""Map a cohort's features to gene symbols (arrays: probes; counts: gene IDs + low-count filter);
also the gene -> original feature ID table; and the cohort's QC (per-sample table, summary, PCA
plot) from the same matrix."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_matrix, read_tsv, write_matrix, write_tsv
from markerflow.plots.figure import save_figure
from markerflow.plots.qc import pca_scatter
from markerflow.runner import script_context
from markerflow.stages.genes import map_cohort_genes
from markerflow.stages.qc import array_log_scale, cohort_qc

with script_context(snakemake) as log:
    cohort, out = snakemake.wildcards.cohort, snakemake.output
    expression = read_matrix(snakemake.input.expression)
    samples = read_tsv(snakemake.input.samples, dtype={"sample": str, "batch": str})
    # an array cohort's log2 scale, computed once for the QC and the gene mapping
    scaled = array_log_scale(expression, snakemake.params.data_type, snakemake.params.log2, cohort)
    per_sample, summary, scores, ratio = cohort_qc(
        expression,
        samples.copy(),
        snakemake.params.data_type,
        snakemake.params.log2,
        snakemake.params.outlier_z,
        cohort,
        scaled=scaled,
    )
    write_tsv(per_sample, out.qc_samples)
    write_tsv(summary, out.qc_summary)
    save_figure(pca_scatter(scores, ratio, per_sample, f"{cohort}: PCA"), out.qc_pca)
    genes, report, alterations, features = map_cohort_genes(
        expression,
        samples,
        snakemake.params.data_type,
        snakemake.input.get("annotation"),
        log2_mode=snakemake.params.log2,
        collapse=snakemake.params.collapse,
        drop_multimapping=snakemake.params.drop_multimapping,
        min_count=snakemake.params.min_count,
        min_samples=snakemake.params.min_samples,
        min_annotated_share=snakemake.params.min_annotated_share,
        cohort=cohort,
        platform=snakemake.params.platform,
        counts_method=snakemake.params.counts_method,
        symbol_table=snakemake.input.get("symbol_table"),
        scaled=scaled,
    )
    log.info("mapping report:\n%s", report.to_string(index=False))
    write_tsv(report, out.mapping)
    write_tsv(alterations, out.alterations)
    write_tsv(features, out.features)
    write_matrix(genes, out.expression)
