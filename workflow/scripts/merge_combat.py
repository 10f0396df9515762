"""Merge the discovery cohorts on common genes and remove batch effects with ComBat."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_tsv, write_tsv
from markerflow.plots.figure import save_figure
from markerflow.plots.merge import pca_panels
from markerflow.runner import script_context
from markerflow.stages.merge import merge_and_correct_files

with script_context(snakemake) as log:
    cohorts = list(snakemake.params.cohorts)
    matrices = dict(zip(cohorts, snakemake.input.expression, strict=True))  # read out of core
    sheets = {
        c: read_tsv(p, dtype={"sample": str, "batch": str})
        for c, p in zip(cohorts, snakemake.input.samples, strict=True)
    }
    combat = dict(snakemake.params.combat)
    out = snakemake.output
    result = merge_and_correct_files(
        matrices,
        sheets,
        out.expression,
        out.uncorrected,
        parametric=bool(combat.get("parametric", True)),
        mean_only=bool(combat.get("mean_only", False)),
        reference_batch=combat.get("reference_batch"),
        n_threads=snakemake.threads,
    )
    write_tsv(result.samples, out.samples)
    write_tsv(result.mixing, out.mixing)
    n = len(result.samples)
    for scores, path, when in ((result.pca_before, out.pca_before, "Before"),
                               (result.pca_after, out.pca_after, "After")):  # fmt: skip
        sides = {"case": snakemake.params.case_label, "control": snakemake.params.control_label}
        save_figure(pca_panels(*scores, result.samples, f"{when} ComBat ({n} samples)", **sides),
                    path)  # fmt: skip
