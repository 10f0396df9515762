# Clinical performance of the locked signature in every validation cohort (issue 15): AUC with an
# interval that stays honest for tiny cohorts, sensitivity/specificity at a threshold fixed on the
# discovery cohorts, PPV/NPV by prevalence, calibration (logistic), reference signatures with the
# paired DeLong test, summary ROC. Validation cohorts are only scored.
# Names from common.smk: RESULTS, LOGS, DISCOVERY, VALIDATION, CASE, CONTROL.
# Library: markerflow.stages.performance, markerflow.plots.performance.


rule performance:
    input:
        signature=f"{RESULTS}/signature/signature.tsv",
        guards=f"{RESULTS}/guards/warnings.tsv",
        discovery=expand(
            f"{RESULTS}/de/{{cohort}}/normalized.parquet", cohort=DISCOVERY
        ),
        discovery_samples=expand(
            f"{RESULTS}/ingest/{{cohort}}/samples.tsv", cohort=DISCOVERY
        ),
        validation=expand(
            f"{RESULTS}/de/{{cohort}}/normalized.parquet", cohort=VALIDATION
        ),
        validation_samples=expand(
            f"{RESULTS}/ingest/{{cohort}}/samples.tsv", cohort=VALIDATION
        ),
    output:
        clinical=report(
            f"{RESULTS}/performance/clinical.tsv",
            caption="../report/performance_clinical.rst",
            category="Validation",
        ),
        predictive=f"{RESULTS}/performance/predictive_values.tsv",
        references=report(
            f"{RESULTS}/performance/reference_signatures.tsv",
            caption="../report/performance_references.rst",
            category="Validation",
        ),
        summary_roc=f"{RESULTS}/performance/summary_roc.tsv",
        summary_png=report(
            f"{RESULTS}/performance/summary_roc.png",
            caption="../report/performance_summary_roc.rst",
            category="Validation",
        ),
        figures=report(
            expand(f"{RESULTS}/performance/{{cohort}}.png", cohort=VALIDATION),
            caption="../report/performance_figure.rst",
            category="Validation",
        ),
    log:
        f"{LOGS}/performance/performance.log",
    benchmark:
        f"{LOGS}/benchmarks/performance/performance.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: max(2000, 3 * int(input.size_mb) + 1000),
        runtime=15,
    params:
        discovery=DISCOVERY,
        validation=VALIDATION,
        case_label=CASE,
        control_label=CONTROL,
        method=config["signature"]["method"],
        references=config["signature"]["reference_signatures"],
    script:
        "../scripts/performance_evaluate.py"
