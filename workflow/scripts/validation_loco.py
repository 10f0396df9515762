"""One leave-one-cohort-out fold: the selection chain on the other discovery cohorts, frozen,
then (only then) the held-out cohort is read and scored. Of each training cohort the fold reads
its columnar summary (de.parquet, genes.parquet) and only the needed rows of its matrix; of the
held-out cohort only the signature's rows and its minimum's row."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.gmt import read_gmt
from markerflow.io.tables import read_matrix, read_tsv, write_tsv
from markerflow.runner import script_context
from markerflow.stages.cohorts import load_cohort
from markerflow.stages.columnar import read_summary
from markerflow.stages.validation import (
    ChainSettings,
    SummarisedInput,
    frozen_record,
    score_table,
    select_signature,
    write_frozen,
)

with script_context(snakemake) as log:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    sheet = {"dtype": {"sample": str, "batch": str}}
    settings = ChainSettings(**dict(p.settings))
    files = zip(p.train, inp.de, inp.genes, inp.expression, inp.samples, strict=True)
    train = {
        c: SummarisedInput(read_summary(g, d), read_tsv(s, **sheet), e) for c, d, g, e, s in files
    }
    sel = select_signature(train, settings, {path: read_gmt(path) for path in inp.gmt})
    read = [*inp.de, *inp.genes, *inp.expression, *inp.samples, *inp.gmt]
    frozen = frozen_record(sel.signature, settings.method, settings.seed, sel.cohorts,
                           inputs=read, settings=settings.record())  # fmt: skip
    write_tsv(sel.signature, out.signature)
    write_tsv(sel.candidates, out.candidates)
    write_frozen(frozen, out.frozen)
    log.info("fold without %s: %d-gene signature frozen", snakemake.wildcards.heldout,
             len(sel.signature))  # fmt: skip
    summary = read_summary(inp.heldout_genes)
    rows = summary.rows_needed(frozen["genes"])
    held = load_cohort(read_matrix(inp.heldout_expression, rows),
                       read_tsv(inp.heldout_samples, **sheet), settings.case_label,
                       settings.control_label, name=snakemake.wildcards.heldout)  # fmt: skip
    table, missing = score_table(frozen, held)
    write_tsv(table, out.score)
    log.info("scored %d held-out samples (%d matrix rows read); missing genes: %s", len(table),
             len(rows), missing or "none")  # fmt: skip
