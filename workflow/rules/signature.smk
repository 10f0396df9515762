# Signature (issues 7, 15): (a) build + freeze on discovery inputs only: forward search
# (MetaIntegrator) or penalised logistic model on the top candidates, written with a frozen record
# (genes, directions, weights, method, seed, sha256 of every input); (b) validate: the frozen
# signature scored in-sample (discovery), next to the leave-one-cohort-out rows, and in every
# validation cohort. Names from common.smk: RESULTS, LOGS, DISCOVERY, VALIDATION, CASE, CONTROL.


rule signature:
    input:
        candidates=f"{RESULTS}/candidates/candidates.tsv",
        discovery=expand(
            f"{RESULTS}/de/{{cohort}}/normalized.parquet", cohort=DISCOVERY
        ),
        discovery_samples=expand(
            f"{RESULTS}/ingest/{{cohort}}/samples.tsv", cohort=DISCOVERY
        ),
    output:
        signature=report(
            f"{RESULTS}/signature/signature.tsv",
            caption="../report/signature_table.rst",
            category="Signature",
        ),
        frozen=f"{RESULTS}/signature/signature.frozen.json",
    log:
        f"{LOGS}/signature/signature.log",
    benchmark:
        f"{LOGS}/benchmarks/signature/signature.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        discovery=DISCOVERY,
        case_label=CASE,
        control_label=CONTROL,
        method=config["signature"]["method"],
        max_genes=config["signature"]["max_genes"],
        pool_size=config["signature"]["pool_size"] or config["candidates"]["top_n"],
        threshold=config["signature"]["forward_threshold"],
        l1_ratio=config["signature"]["l1_ratio"],
        folds=config["signature"]["cv_folds"],
        seed=config["seed"],
    script:
        "../scripts/signature_build.py"


rule signature_validate:
    input:
        unpack(signature_validate_inputs),
    output:
        performance=report(
            f"{RESULTS}/signature/performance.tsv",
            caption="../report/signature_performance.rst",
            category="Signature",
        ),
        roc=report(
            f"{RESULTS}/signature/roc.png",
            caption="../report/signature_roc.rst",
            category="Signature",
        ),
        heatmap=report(
            f"{RESULTS}/signature/heatmap.png",
            caption="../report/signature_heatmap.rst",
            category="Signature",
        ),
    log:
        f"{LOGS}/signature/validate.log",
    benchmark:
        f"{LOGS}/benchmarks/signature/validate.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        discovery=DISCOVERY,
        validation=VALIDATION,
        case_label=CASE,
        control_label=CONTROL,
    script:
        "../scripts/signature_validate.py"
