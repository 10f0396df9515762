"""QC of one cohort: per-sample table, cohort summary, PCA plot."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_matrix, read_tsv, write_tsv
from markerflow.plots.figure import save_figure
from markerflow.plots.qc import pca_scatter
from markerflow.runner import script_context
from markerflow.stages.qc import cohort_qc

with script_context(snakemake) as log:
    samples = read_tsv(snakemake.input.samples, dtype={"sample": str, "batch": str})
    per_sample, summary, scores, ratio = cohort_qc(
        read_matrix(snakemake.input.expression),
        samples,
        snakemake.params.data_type,
        snakemake.params.log2,
        snakemake.params.outlier_z,
        snakemake.wildcards.cohort,
    )
    write_tsv(per_sample, snakemake.output.samples)
    write_tsv(summary, snakemake.output.summary)
    fig = pca_scatter(scores, ratio, per_sample, f"{snakemake.wildcards.cohort}: PCA")
    save_figure(fig, snakemake.output.pca)
