"""Rank candidate genes by a weighted mean of transparent evidence components."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_matrix, read_tsv, write_tsv
from markerflow.runner import script_context
from markerflow.stages.candidates import rank_candidates
from markerflow.stages.cohorts import load_cohort

with script_context(snakemake) as log:
    p, inp = snakemake.params, snakemake.input
    sheet = {"dtype": {"sample": str, "batch": str}}
    cohorts = {
        c: load_cohort(read_matrix(e), read_tsv(s, **sheet), p.case_label, p.control_label, name=c)
        for c, e, s in zip(p.cohorts, inp.expression, inp.samples, strict=True)
    }
    merged = load_cohort(read_matrix(inp.merged), read_tsv(inp.merged_samples, **sheet),
                         p.case_label, p.control_label, name="merged")  # fmt: skip
    table = rank_candidates(
        read_tsv(inp.meta, dtype={"gene": str}),
        cohorts,
        merged=merged.expression,
        merged_is_case=merged.is_case,
        merged_groups=merged.groups,
        enrichment=[read_tsv(path) for path in inp.enrichment],
        weights=dict(p.weights),
        seed=int(p.seed),
        fdr_threshold=float(p.fdr),
        preselect=int(p.preselect),
        n_subsamples=int(p.stability_subsamples),
        rank_stability=read_tsv(inp.rank_stability[0]) if inp.rank_stability else None,
    )
    log.info("ranked %d genes; components: %s", len(table), table["components_used"].iloc[0])
    write_tsv(table, snakemake.output.table)
