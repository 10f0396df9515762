"""Frozen config: effective config + inlined cohort sheet + sha256 of every input file."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import atomic_open
from markerflow.runner import script_context
from markerflow.stages.provenance import checksums, freeze_config

with script_context(snakemake) as log:
    p = snakemake.params
    digests = checksums(snakemake.input)
    log.info("sha256 of %d input files", len(digests))
    text = freeze_config(p.config, p.cohorts, digests, results=p.results)
    with atomic_open(snakemake.output[0]) as handle:
        handle.write(text)
