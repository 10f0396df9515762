"""Manifest of every output under the results directory: path, size, sha256."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import write_tsv
from markerflow.runner import script_context
from markerflow.stages.provenance import build_manifest

with script_context(snakemake) as log:
    manifest = build_manifest(snakemake.params.results)
    log.info("%d files, %d bytes", len(manifest), int(manifest["size"].sum()))
    write_tsv(manifest, snakemake.output[0])
