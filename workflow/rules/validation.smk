# Cohort-level validation (issue 15): leave-one-discovery-cohort-out (LOCO). Each fold reruns the
# whole selection chain (merge/ComBat, meta, ORA, candidates, signature) on the other discovery
# cohorts, freezes the signature, then scores the held-out cohort. Validation cohorts never enter.
# Names from common.smk: RESULTS, LOGS, DISCOVERY, CASE, CONTROL, ENRICHMENT_LIBRARIES.
# Library: markerflow.stages.validation.

from markerflow.stages.validation import chain_settings

VALIDATION_DIR = f"{RESULTS}/validation"
#: The selection chain's parameters, as the main chain's rules read them.
CHAIN_SETTINGS = chain_settings(config)


rule validation_loco:
    input:
        unpack(loco_inputs),
    output:
        signature=f"{VALIDATION_DIR}/loco/{{heldout}}/signature.tsv",
        frozen=f"{VALIDATION_DIR}/loco/{{heldout}}/signature.frozen.json",
        candidates=f"{VALIDATION_DIR}/loco/{{heldout}}/candidates.tsv",
        score=f"{VALIDATION_DIR}/loco/{{heldout}}/score.tsv",
    log:
        f"{LOGS}/validation/loco_{{heldout}}.log",
    benchmark:
        f"{LOGS}/benchmarks/validation/loco_{{heldout}}.tsv"
    wildcard_constraints:
        heldout="|".join(re.escape(c) for c in DISCOVERY),
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: max(6000, 10 * int(input.size_mb) + 1000),
        runtime=30,
    params:
        train=loco_training,
        settings=CHAIN_SETTINGS,
    script:
        "../scripts/validation_loco.py"


rule validation_out_of_cohort:
    input:
        signatures=expand(
            f"{VALIDATION_DIR}/loco/{{heldout}}/signature.tsv", heldout=DISCOVERY
        ),
        scores=expand(f"{VALIDATION_DIR}/loco/{{heldout}}/score.tsv", heldout=DISCOVERY),
        candidates=expand(
            f"{VALIDATION_DIR}/loco/{{heldout}}/candidates.tsv", heldout=DISCOVERY
        ),
    output:
        table=report(
            f"{VALIDATION_DIR}/out_of_cohort.tsv",
            caption="../report/validation_out_of_cohort.rst",
            category="Signature",
        ),
        stability=report(
            f"{VALIDATION_DIR}/rank_stability.tsv",
            caption="../report/validation_rank_stability.rst",
            category="Candidates",
        ),
    log:
        f"{LOGS}/validation/out_of_cohort.log",
    benchmark:
        f"{LOGS}/benchmarks/validation/out_of_cohort.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        heldout=DISCOVERY,
        train=[[c for c in DISCOVERY if c != h] for h in DISCOVERY],
        top_n=config["candidates"]["top_n"],
    script:
        "../scripts/validation_out_of_cohort.py"
