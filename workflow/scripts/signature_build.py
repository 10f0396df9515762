"""Select the signature on the discovery cohorts; score the locked signature everywhere."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_matrix, read_tsv, write_tsv
from markerflow.runner import script_context
from markerflow.stages.signature import build_signature, load_cohort, roc_plot, signature_heatmap

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
    roc_plot(curves, perf, snakemake.output.roc, title=f"Signature ({len(sig)} genes, {p.method})")
    signature_heatmap({**disc, **val}, sig, snakemake.output.heatmap, p.case_label, p.control_label)
