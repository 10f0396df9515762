rule de:
    input:
        expression=f"{RESULTS}/genes/{{cohort}}/expression.parquet",
        samples=f"{RESULTS}/ingest/{{cohort}}/samples.tsv",
    output:
        table=report(
            f"{RESULTS}/de/{{cohort}}/de.tsv",
            caption="../report/de_table.rst",
            category="Differential expression",
            subcategory="{cohort}",
        ),
        normalized=f"{RESULTS}/de/{{cohort}}/normalized.parquet",
        volcano=report(
            f"{RESULTS}/de/{{cohort}}/volcano.png",
            caption="../report/de_volcano.rst",
            category="Differential expression",
            subcategory="{cohort}",
        ),
        summary=report(
            f"{RESULTS}/de/{{cohort}}/summary.tsv",
            caption="../report/de_summary.rst",
            category="Differential expression",
            subcategory="{cohort}",
        ),
    log:
        f"{LOGS}/de/{{cohort}}.log",
    benchmark:
        f"{LOGS}/benchmarks/de/{{cohort}}.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cohort=lambda w: w.cohort,
        data_type=lambda w: SPECS[w.cohort].data_type,
        covariates=lambda w: list(SPECS[w.cohort].covariates),
        case_label=CASE,
        control_label=CONTROL,
        arrays=config["de"]["arrays"],
        counts=config["de"]["counts"],
        padj_threshold=config["de"]["padj_threshold"],
        lfc_threshold=config["de"]["lfc_threshold"],
    script:
        "../scripts/de_cohort.py"
