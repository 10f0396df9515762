rule qc:
    input:
        expression=f"{RESULTS}/ingest/{{cohort}}/expression.parquet",
        samples=f"{RESULTS}/ingest/{{cohort}}/samples.tsv",
    output:
        samples=f"{RESULTS}/qc/{{cohort}}/samples_qc.tsv",
        summary=report(
            f"{RESULTS}/qc/{{cohort}}/summary.tsv",
            caption="../report/qc_summary.rst",
            category="Quality control",
            subcategory="{cohort}",
        ),
        pca=report(
            f"{RESULTS}/qc/{{cohort}}/pca.png",
            caption="../report/qc_pca.rst",
            category="Quality control",
            subcategory="{cohort}",
        ),
    log:
        f"{LOGS}/qc/{{cohort}}.log",
    benchmark:
        f"{LOGS}/benchmarks/qc/{{cohort}}.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # peak 1.45 / 1.69 GB: 500-sample array / RNA-seq cohort (docs/scaling.md)
        mem_mb=scaled_mem(500, 7.5),
        runtime=scaled_runtime(10, {"array": 0.01, "counts": 0.03}),
    params:
        data_type=lambda w: SPECS[w.cohort].data_type,
        log2=lambda w: log2_mode(w.cohort),
        outlier_z=config["qc"]["outlier_z"],
    script:
        "../scripts/qc_cohort.py"
