"""Ingest one cohort: matrix + phenotypes -> expression.parquet, samples.tsv, excluded_samples.tsv."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.study import CohortSpec
from markerflow.io.tables import write_matrix, write_tsv
from markerflow.runner import script_context
from markerflow.stages.ingest import ingest_cohort

with script_context(snakemake) as log:
    spec = CohortSpec.from_params(snakemake.params.spec)
    cohort = ingest_cohort(
        spec,
        snakemake.params.case_label,
        snakemake.params.control_label,
        snakemake.input.matrix,
        snakemake.input.get("series"),
    )
    write_tsv(cohort.excluded, snakemake.output.excluded)
    write_tsv(cohort.samples, snakemake.output.samples)
    write_matrix(cohort.expression, snakemake.output.expression)
