"""Python, platform, workflow revision and every installed package with its version."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import write_tsv
from markerflow.runner import script_context
from markerflow.stages.provenance import software_versions

with script_context(snakemake) as log:
    versions = software_versions(snakemake.params.workflow_dir)
    log.info("%d installed packages", int((versions["kind"] == "package").sum()))
    write_tsv(versions, snakemake.output[0])
