"""Select the signature on the discovery cohorts and freeze it (no validation cohort is read)."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import read_matrix, read_tsv, sha256_file, write_tsv
from markerflow.runner import script_context
from markerflow.stages.cohorts import Cohort, load_cohort
from markerflow.stages.signature import build_signature, candidate_pool, signature_rows
from markerflow.stages.validation import frozen_record, write_frozen

with script_context(snakemake) as log:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    sheet = {"dtype": {"sample": str, "batch": str}}
    candidates = read_tsv(inp.candidates, dtype={"gene": str})
    pool = candidate_pool(candidates, int(p.pool_size))["gene"].tolist()

    def cohort(c, matrix, samples):  # one whole matrix in memory at a time; keep what is needed
        whole = load_cohort(read_matrix(matrix), read_tsv(samples, **sheet), p.case_label,
                            p.control_label, name=c)  # fmt: skip
        return Cohort(signature_rows(whole.expression, pool), whole.is_case, whole.groups)

    disc = {
        c: cohort(c, m, s)
        for c, m, s in zip(p.discovery, inp.discovery, inp.discovery_samples, strict=True)
    }
    settings = {"max_genes": int(p.max_genes), "pool_size": int(p.pool_size),
                "threshold": float(p.threshold), "l1_ratio": float(p.l1_ratio),
                "folds": int(p.folds)}  # fmt: skip
    sig, _, _ = build_signature(candidates, disc, {},
                                method=p.method, seed=int(p.seed), **settings)  # fmt: skip
    log.info("signature of %d genes (%s) frozen:\n%s", len(sig), p.method, sig.to_string())
    write_tsv(sig, out.signature)
    read = [inp.candidates, *inp.discovery, *inp.discovery_samples]
    record = frozen_record(sig, p.method, int(p.seed), p.discovery, inputs=read,
                           settings=settings)  # fmt: skip
    write_frozen(record | {"signature_tsv_sha256": sha256_file(out.signature)}, out.frozen)
