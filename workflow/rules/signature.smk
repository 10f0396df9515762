# Signature (issues 7, 15): (a) build + freeze on discovery inputs only: forward search
# (MetaIntegrator) or penalised logistic model on the top candidates, written with a frozen record
# (genes, directions, weights, method, seed, sha256 of every input); (b) validate: the frozen
# signature scored in-sample (discovery), next to the leave-one-cohort-out rows, and in every
# validation cohort. Per comparison. Names from common.smk: CMP, LOGS, discovery, validation,
# discovery_files, case_of, control_of.


rule signature:
    input:
        candidates=f"{CMP}/candidates/candidates.tsv",
        discovery=discovery_files("normalized.parquet"),
        discovery_samples=discovery_files("samples.tsv"),
    output:
        signature=report(
            f"{CMP}/signature/signature.tsv",
            caption="../report/signature_table.rst",
            category="{comparison}",
            subcategory="Signature",
        ),
        frozen=f"{CMP}/signature/signature.frozen.json",
    log:
        f"{LOGS}/{{comparison}}/signature/signature.log",
    benchmark:
        f"{LOGS}/benchmarks/signature/{{comparison}}_signature.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # one whole matrix at a time, then only its pool's rows: peak 0.48 GB at 20 x 200
        mem_mb=scaled_mem(600, per_cohort=2, cohorts="discovery", per_largest_mb=3),
        runtime=scaled_runtime(10, 0.002, cohorts="discovery"),
    params:
        discovery=lambda w: discovery(w.comparison),
        case_label=case_of,
        control_label=control_of,
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
            f"{CMP}/signature/performance.tsv",
            caption="../report/signature_performance.rst",
            category="{comparison}",
            subcategory="Signature",
        ),
        roc=report(
            f"{CMP}/signature/roc.png",
            caption="../report/signature_roc.rst",
            category="{comparison}",
            subcategory="Signature",
        ),
        heatmap=report(
            f"{CMP}/signature/heatmap.png",
            caption="../report/signature_heatmap.rst",
            category="{comparison}",
            subcategory="Signature",
        ),
    log:
        f"{LOGS}/{{comparison}}/signature/validate.log",
    benchmark:
        f"{LOGS}/benchmarks/signature/{{comparison}}_validate.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # one whole matrix at a time, then only the signature's rows (as signature)
        mem_mb=scaled_mem(600, per_cohort=2, cohorts="serving", per_largest_mb=3),
        runtime=scaled_runtime(10, 0.002, cohorts="serving"),
    params:
        discovery=lambda w: discovery(w.comparison),
        validation=lambda w: validation(w.comparison),
        case_label=case_of,
        control_label=control_of,
    script:
        "../scripts/signature_validate.py"
