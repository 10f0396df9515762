"""Download (or reuse from the cache) a GEO RNA-seq series: series matrix, NCBI counts, annotation."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.fetch import FetchSettings, prepare_geo_rnaseq
from markerflow.runner import script_context

with script_context(snakemake) as log:
    out = snakemake.output
    result = prepare_geo_rnaseq(
        snakemake.params.accession,
        FetchSettings(**snakemake.params.settings),
        matrix_out=out.matrix,
        counts_out=out.counts,
        annotation_out=out.annotation,
        checksums_out=out.checksums,
    )
    log.info("GEO RNA-seq %s: cache %s", result.accession, result.directory)
