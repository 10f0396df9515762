"""The test across all condition levels of one cohort (limma moderated F / DESeq2 LRT), sorted by
p-value, with the original feature ID."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_matrix, read_tsv, write_tsv
from markerflow.runner import script_context
from markerflow.stages.counts import read_tximport_lengths
from markerflow.stages.de import cohort_ftest, with_feature_ids
from markerflow.stages.tables import sort_by_pvalue

with script_context(snakemake) as log:
    p = snakemake.params
    samples = read_tsv(snakemake.input.samples, dtype={"sample": str, "batch": str})
    lengths = None
    if "tx_lengths" in snakemake.input.keys():  # a cohort from quantifications (tximport)
        lengths = read_tximport_lengths(
            read_matrix(snakemake.input.tx_lengths),
            read_matrix(snakemake.input.feature_counts),
            snakemake.input.get("annotation"),
            snakemake.input.get("symbol_table"),
            cohort=p.cohort,
        )
    table = cohort_ftest(
        read_matrix(snakemake.input.expression),
        samples,
        p.data_type,
        p.covariates,
        p.arrays,
        p.counts,
        levels=p.levels,
        cohort=p.cohort,
        threads=snakemake.threads,
        design_formula=p.design,
        avg_tx_length=lengths,
    )
    log.info("%s: %s across %d genes", p.cohort, table["method"].iloc[0], len(table))
    table = with_feature_ids(table, read_tsv(snakemake.input.features), p.cohort)
    write_tsv(sort_by_pvalue(table), snakemake.output.table)
