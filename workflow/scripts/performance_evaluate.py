"""Score the locked signature (and reference signatures) in the validation cohorts; tables, figures."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_matrix, read_tsv, write_tsv
from markerflow.plots.figure import save_figure
from markerflow.plots.performance import summary_roc_figure, validation_figure
from markerflow.runner import script_context
from markerflow.stages.cohorts import Cohort, load_cohort
from markerflow.stages.performance import evaluate
from markerflow.stages.signature import signature_rows

with script_context(snakemake) as log:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    sheet = {"dtype": {"sample": str, "batch": str}}

    signature = read_tsv(inp.signature, dtype={"gene": str})
    references = list(p.references)
    genes = [
        *signature["gene"],
        *(g for r in references for k in ("up", "down") for g in r.get(k, [])),
    ]

    def cohort(c, matrix, samples):  # one whole matrix in memory at a time; keep what is needed
        whole = load_cohort(read_matrix(matrix), read_tsv(samples, **sheet), p.case_label,
                            p.control_label, name=c)  # fmt: skip
        return Cohort(signature_rows(whole.expression, genes), whole.is_case, whole.groups)

    def cohorts(names, matrices, sheets):
        return {c: cohort(c, m, s) for c, m, s in zip(names, matrices, sheets, strict=True)}

    disc = cohorts(p.discovery, inp.discovery, inp.discovery_samples)
    val = cohorts(p.validation, inp.validation, inp.validation_samples)
    res = evaluate(signature, p.method, disc, val, references=references)
    log.info("threshold %.4f (discovery Youden)\n%s", res.threshold, res.clinical.to_string())
    write_tsv(res.clinical, out.clinical)
    write_tsv(res.predictive, out.predictive)
    write_tsv(res.references, out.references)
    write_tsv(res.summary_roc, out.summary_roc)
    save_figure(summary_roc_figure(res.summary_roc, res.clinical), out.summary_png)
    clinical = res.clinical.set_index("cohort", drop=False)
    for name in p.validation:  # one <cohort>.png per validation cohort (the writer makes the dir)
        path = f"{out.figures}/{name}.png"
        fig = validation_figure(name, res.curves[name],
                                res.references[res.references["cohort"] == name],
                                clinical.loc[name], res.predictive[res.predictive["cohort"] == name],
                                res.calibration.get(name))  # fmt: skip
        save_figure(fig, path)
