"""Download (or reuse from the cache) one GEO series matrix and its platform table."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.fetch import FetchSettings, prepare_geo_series
from markerflow.runner import script_context

with script_context(snakemake) as log:
    p = snakemake.params
    result = prepare_geo_series(
        p.accession,
        p.platform,
        FetchSettings(
            base_url=p.base_url,
            retries=p.retries,
            timeout_s=p.timeout_s,
            backoff_s=p.backoff_s,
            deadline_s=p.deadline_s,
            min_rate_bytes_s=p.min_rate_bytes_s,
            cache_dir=p.cache_dir,
        ),
        matrix_out=snakemake.output.matrix,
        annotation_out=snakemake.output.annotation,
        checksums_out=snakemake.output.checksums,
        symbol_column=p.symbol_column,
    )
    log.info("GEO %s: platform %s, cache %s", result.key, result.platform, result.directory)
