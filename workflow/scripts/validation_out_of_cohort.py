"""Gather the leave-one-cohort-out folds: out-of-cohort AUCs (per cohort, pooled) and rank
stability of the candidates."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_tsv, write_tsv
from markerflow.runner import script_context
from markerflow.stages.validation import out_of_cohort_table, rank_stability

with script_context(snakemake) as log:
    p, inp = snakemake.params, snakemake.input
    folds = {
        h: (read_tsv(s, dtype={"sample": str}), read_tsv(g, dtype={"gene": str}), list(t))
        for h, s, g, t in zip(p.heldout, inp.scores, inp.signatures, p.train, strict=True)
    }
    table = out_of_cohort_table(folds)
    log.info("out-of-cohort performance\n%s", table.to_string())
    write_tsv(table, snakemake.output.table)
    cands = {h: read_tsv(c, dtype={"gene": str}) for h, c in zip(p.heldout, inp.candidates,
                                                                 strict=True)}  # fmt: skip
    write_tsv(rank_stability(cands, int(p.top_n)), snakemake.output.stability)
