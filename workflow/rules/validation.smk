# Cohort-level validation (issue 15): leave-one-discovery-cohort-out (LOCO). Each fold reruns the
# whole selection chain (merge/ComBat, meta, ORA, candidates, signature) on the other discovery
# cohorts, freezes the signature, then scores the held-out cohort. Validation cohorts never enter.
# Names from common.smk: RESULTS, LOGS, DISCOVERY, CASE, CONTROL, ENRICHMENT_LIBRARIES.
# Library: markerflow.stages.validation.

VALIDATION_DIR = f"{RESULTS}/validation"
#: The selection chain's parameters, as the main chain's rules read them.
CHAIN_SETTINGS = {
    "case_label": CASE,
    "control_label": CONTROL,
    "seed": config["seed"],
    "combat": config["merge"]["combat"],
    "meta_method": config["meta"]["method"],
    "leave_one_out": config["meta"]["leave_one_out"],
    "min_cohorts": config["meta"]["min_cohorts"],
    "fdr": config["meta"]["fdr"],
    "ora": config["enrichment"]["ora"],
    "weights": config["candidates"]["weights"],
    "preselect": config["candidates"]["preselect"],
    "stability_subsamples": config["candidates"]["stability_subsamples"],
    "method": config["signature"]["method"],
    "max_genes": config["signature"]["max_genes"],
    "pool_size": config["signature"]["pool_size"] or config["candidates"]["top_n"],
    "threshold": config["signature"]["forward_threshold"],
    "l1_ratio": config["signature"]["l1_ratio"],
    "folds": config["signature"]["cv_folds"],
}


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
