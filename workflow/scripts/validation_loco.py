"""One leave-one-cohort-out fold: the selection chain on the other discovery cohorts, frozen,
then (only then) the held-out cohort is read and scored."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.gmt import read_gmt
from markerflow.io.tables import read_de_table, read_matrix, read_tsv, write_tsv
from markerflow.runner import script_context
from markerflow.stages.cohorts import load_cohort
from markerflow.stages.validation import (
    ChainSettings,
    DiscoveryInput,
    frozen_record,
    score_table,
    select_signature,
    write_frozen,
)

with script_context(snakemake) as log:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    sheet = {"dtype": {"sample": str, "batch": str}}
    settings = ChainSettings(**dict(p.settings))
    train = {
        c: DiscoveryInput(read_matrix(e), read_tsv(s, **sheet), read_de_table(d))
        for c, e, s, d in zip(p.train, inp.expression, inp.samples, inp.de, strict=True)
    }
    sel = select_signature(train, settings, {path: read_gmt(path) for path in inp.gmt})
    read = [*inp.de, *inp.expression, *inp.samples, *inp.gmt]
    frozen = frozen_record(sel.signature, settings.method, settings.seed, sel.cohorts,
                           inputs=read, settings=settings.record())  # fmt: skip
    write_tsv(sel.signature, out.signature)
    write_tsv(sel.candidates, out.candidates)
    write_frozen(frozen, out.frozen)
    log.info("fold without %s: %d-gene signature frozen", snakemake.wildcards.heldout,
             len(sel.signature))  # fmt: skip
    held = load_cohort(read_matrix(inp.heldout_expression), read_tsv(inp.heldout_samples, **sheet),
                       settings.case_label, settings.control_label,
                       name=snakemake.wildcards.heldout)  # fmt: skip
    table, missing = score_table(frozen, held)
    write_tsv(table, out.score)
    log.info("scored %d held-out samples; missing genes: %s", len(table), missing or "none")
