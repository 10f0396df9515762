"""Download (or reuse from the cache) a GEO family SOFT file (GSE) or GDS SOFT file."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.fetch import FetchSettings, prepare_geo_soft
from markerflow.runner import script_context

with script_context(snakemake) as log:
    path = prepare_geo_soft(
        snakemake.params.accession,
        FetchSettings(**snakemake.params.settings),
        soft_out=snakemake.output.soft,
        checksums_out=snakemake.output.checksums,
    )
    log.info("GEO SOFT %s: cached at %s", snakemake.params.accession, path)
