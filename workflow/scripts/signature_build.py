"""Select the signature on the discovery cohorts; score the locked signature everywhere."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_matrix, read_tsv, write_tsv
from markerflow.plots.figure import save_figure
from markerflow.plots.signature import roc_plot, signature_heatmap
from markerflow.runner import script_context
from markerflow.stages.cohorts import load_cohort
from markerflow.stages.signature import build_signature, heatmap_matrix

with script_context(snakemake) as log:
    p, inp = snakemake.params, snakemake.input
    sheet = {"dtype": {"sample": str, "batch": str}}

    def cohorts(names, matrices, sheets):
        return {
            c: load_cohort(
                read_matrix(m), read_tsv(s, **sheet), p.case_label, p.control_label, name=c
            )
            for c, m, s in zip(names, matrices, sheets, strict=True)
        }

    disc = cohorts(p.discovery, inp.discovery, inp.discovery_samples)
    val = cohorts(p.validation, inp.validation, inp.validation_samples)
    sig, perf, curves = build_signature(
        read_tsv(inp.candidates, dtype={"gene": str}), disc, val, method=p.method,
        max_genes=int(p.max_genes), pool_size=int(p.pool_size), seed=int(p.seed),
        threshold=float(p.threshold), l1_ratio=float(p.l1_ratio), folds=int(p.folds),
    )  # fmt: skip
    log.info("signature of %d genes (%s)\n%s", len(sig), p.method, perf.to_string())
    write_tsv(sig, snakemake.output.signature)
    write_tsv(perf, snakemake.output.performance)
    fig = roc_plot(curves, perf, title=f"Signature ({len(sig)} genes, {p.method})")
    save_figure(fig, snakemake.output.roc)
    heat = heatmap_matrix({**disc, **val}, sig, p.case_label, p.control_label)
    save_figure(signature_heatmap(heat), snakemake.output.heatmap)
