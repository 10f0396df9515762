"""Rank candidate genes by a weighted mean of transparent evidence components."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_matrix, read_tsv, write_tsv
from markerflow.runner import script_context
from markerflow.stages.candidates import preselected_genes, rank_candidates
from markerflow.stages.cohorts import load_cohort
from markerflow.stages.columnar import read_summary

with script_context(snakemake) as log:
    p, inp = snakemake.params, snakemake.input
    sheet = {"dtype": {"sample": str, "batch": str}}
    sheets = dict(zip(p.cohorts, (read_tsv(s, **sheet) for s in inp.samples), strict=True))
    paths = dict(zip(p.cohorts, inp.expression, strict=True))

    def cohort(c, rows=None):
        return load_cohort(read_matrix(paths[c], rows), sheets[c], p.case_label, p.control_label,
                           name=c)  # fmt: skip

    # read only what is needed (issue 20): each cohort's gene means from its columnar summary
    # (written once by the DE job), then only the preselected genes' rows of every matrix
    means = {c: read_summary(g).mean_expression for c, g in zip(p.cohorts, inp.genes, strict=True)}
    meta = read_tsv(inp.meta, dtype={"gene": str})
    enrichment = [read_tsv(path) for path in inp.enrichment]
    options = {"enrichment": enrichment, "weights": dict(p.weights), "fdr_threshold": float(p.fdr),
               "preselect": int(p.preselect)}  # fmt: skip
    genes = preselected_genes(meta, expression_means=means, **options)
    log.info("reading the %d preselected genes' rows", len(genes))
    cohorts = {c: cohort(c, genes) for c in p.cohorts}
    merged = load_cohort(read_matrix(inp.merged, genes), read_tsv(inp.merged_samples, **sheet),
                         p.case_label, p.control_label, name="merged")  # fmt: skip
    table = rank_candidates(
        meta,
        cohorts,
        merged=merged.expression,
        merged_is_case=merged.is_case,
        merged_groups=merged.groups,
        seed=int(p.seed),
        n_subsamples=int(p.stability_subsamples),
        rank_stability=read_tsv(inp.rank_stability[0]) if inp.rank_stability else None,
        expression_means=means,
        **options,
    )
    log.info("ranked %d genes; components: %s", len(table), table["components_used"].iloc[0])
    write_tsv(table, snakemake.output.table)
