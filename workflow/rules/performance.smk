# Clinical performance of the locked signature in every validation cohort (issue 15): AUC with an
# interval that stays honest for tiny cohorts, sensitivity/specificity at a threshold fixed on the
# discovery cohorts, PPV/NPV by prevalence, calibration (logistic), reference signatures with the
# paired DeLong test, summary ROC. Validation cohorts are only scored. Per comparison.
# Names from common.smk: CMP, LOGS, discovery, validation, discovery_files, validation_files,
# case_of, control_of. Library: markerflow.stages.performance, markerflow.plots.performance.


rule performance:
    input:
        signature=f"{CMP}/signature/signature.tsv",
        guards=f"{CMP}/guards/warnings.tsv",
        discovery=discovery_files("normalized.parquet"),
        discovery_samples=discovery_files("samples.tsv"),
        validation=validation_files("normalized.parquet"),
        validation_samples=validation_files("samples.tsv"),
    output:
        clinical=report(
            f"{CMP}/performance/clinical.tsv",
            caption="../report/performance_clinical.rst",
            category="{comparison}",
            subcategory="Validation",
        ),
        predictive=f"{CMP}/performance/predictive_values.tsv",
        references=report(
            f"{CMP}/performance/reference_signatures.tsv",
            caption="../report/performance_references.rst",
            category="{comparison}",
            subcategory="Validation",
        ),
        summary_roc=f"{CMP}/performance/summary_roc.tsv",
        summary_png=report(
            f"{CMP}/performance/summary_roc.png",
            caption="../report/performance_summary_roc.rst",
            category="{comparison}",
            subcategory="Validation",
        ),
        figures=report(
            directory(f"{CMP}/performance/figures"),
            patterns=["{cohort}.png"],
            caption="../report/performance_figure.rst",
            category="{comparison}",
            subcategory="Validation",
        ),
    log:
        f"{LOGS}/{{comparison}}/performance/performance.log",
    benchmark:
        f"{LOGS}/benchmarks/performance/{{comparison}}_performance.tsv"
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
        method=config["signature"]["method"],
        references=config["signature"]["reference_signatures"],
    script:
        "../scripts/performance_evaluate.py"
