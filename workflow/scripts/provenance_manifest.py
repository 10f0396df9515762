"""Manifest of every output under the results directory: path, size, sha256."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io import write_tsv
from markerflow.provenance import build_manifest
from markerflow.runner import script_context

with script_context(snakemake) as log:
    manifest = build_manifest(snakemake.params.results)
    log.info("%d files, %d bytes", len(manifest), int(manifest["size"].sum()))
    write_tsv(manifest, snakemake.output[0])
