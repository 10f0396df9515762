"""Score the frozen signature: in-sample (discovery), out-of-cohort rows, external (validation)."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.errors import InputError
from markerflow.io.tables import read_matrix, read_tsv, sha256_file, write_tsv
from markerflow.plots.figure import save_figure
from markerflow.plots.signature import roc_plot, signature_heatmap, signature_title
from markerflow.runner import script_context
from markerflow.stages.cohorts import Cohort, load_cohort
from markerflow.stages.signature import heatmap_matrix, signature_rows
from markerflow.stages.validation import frozen_signature_table, read_frozen, validate_frozen

with script_context(snakemake) as log:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    frozen = read_frozen(inp.frozen)
    if frozen.get("signature_tsv_sha256") != sha256_file(inp.signature):
        raise InputError(f"{inp.signature} differs from the frozen record {inp.frozen}",
                         hint="the signature must not be edited after freezing; rerun it")  # fmt: skip
    sheet = {"dtype": {"sample": str, "batch": str}}

    genes = frozen_signature_table(frozen)["gene"].tolist()

    def cohort(c, matrix, samples):  # one whole matrix in memory at a time; keep what is needed
        whole = load_cohort(read_matrix(matrix), read_tsv(samples, **sheet), p.case_label,
                            p.control_label, name=c)  # fmt: skip
        return Cohort(signature_rows(whole.expression, genes), whole.is_case, whole.groups)

    def cohorts(names, matrices, sheets):
        return {c: cohort(c, m, s) for c, m, s in zip(names, matrices, sheets, strict=True)}

    disc = cohorts(p.discovery, inp.discovery, inp.discovery_samples)
    val = cohorts(p.validation, inp.validation, inp.validation_samples)
    loco = read_tsv(inp.out_of_cohort) if "out_of_cohort" in inp.keys() else None
    perf, curves = validate_frozen(frozen, disc, val, loco)
    log.info("performance of the frozen signature\n%s", perf.to_string())
    write_tsv(perf, out.performance)
    sig = frozen_signature_table(frozen)
    plotted = perf[perf["kind"] != "out-of-cohort"]  # the ROC shows the frozen signature's curves
    title = signature_title(len(sig), frozen["method"])
    save_figure(roc_plot(curves, plotted, title=title), out.roc)
    heat = heatmap_matrix({**disc, **val}, sig, p.case_label, p.control_label)
    save_figure(signature_heatmap(heat), out.heatmap)
