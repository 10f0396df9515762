"""The self-contained HTML summary page of the run (report/summary.html)."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import atomic_open
from markerflow.report.summary import summary_page
from markerflow.runner import script_context

with script_context(snakemake) as log:
    p = snakemake.params
    page = summary_page(
        list(snakemake.input.files),
        p.results,
        p.config,
        p.cohorts,
        frozen_config=snakemake.input.frozen,
        versions=snakemake.input.versions,
    )
    log.info("summary page: %d bytes", len(page.encode("utf-8")))
    with atomic_open(snakemake.output[0]) as handle:
        handle.write(page)
