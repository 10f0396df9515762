"""Map a cohort's features to gene symbols (arrays: probes; counts: gene IDs + low-count filter);
also the gene -> original feature ID table."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_matrix, read_tsv, write_matrix, write_tsv
from markerflow.runner import script_context
from markerflow.stages.genes import map_cohort_genes

with script_context(snakemake) as log:
    genes, report, alterations, features = map_cohort_genes(
        read_matrix(snakemake.input.expression),
        read_tsv(snakemake.input.samples, dtype={"sample": str, "batch": str}),
        snakemake.params.data_type,
        snakemake.input.get("annotation"),
        log2_mode=snakemake.params.log2,
        collapse=snakemake.params.collapse,
        drop_multimapping=snakemake.params.drop_multimapping,
        min_count=snakemake.params.min_count,
        min_samples=snakemake.params.min_samples,
        min_annotated_share=snakemake.params.min_annotated_share,
        cohort=snakemake.wildcards.cohort,
        platform=snakemake.params.platform,
        counts_method=snakemake.params.counts_method,
        symbol_table=snakemake.input.get("symbol_table"),
    )
    log.info("mapping report:\n%s", report.to_string(index=False))
    write_tsv(report, snakemake.output.mapping)
    write_tsv(alterations, snakemake.output.alterations)
    write_tsv(features, snakemake.output.features)
    write_matrix(genes, snakemake.output.expression)
