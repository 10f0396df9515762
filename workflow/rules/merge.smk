rule merge:
    input:
        expression=expand(
            f"{RESULTS}/de/{{cohort}}/normalized.parquet", cohort=DISCOVERY
        ),
        samples=expand(f"{RESULTS}/ingest/{{cohort}}/samples.tsv", cohort=DISCOVERY),
    output:
        expression=f"{RESULTS}/merge/expression.parquet",
        samples=f"{RESULTS}/merge/samples.tsv",
        uncorrected=f"{RESULTS}/merge/uncorrected.parquet",
        mixing=report(
            f"{RESULTS}/merge/batch_mixing.tsv",
            caption="../report/merge_mixing.rst",
            category="Merge",
            subcategory="Batch correction",
        ),
        pca_before=report(
            f"{RESULTS}/merge/pca_before.png",
            caption="../report/merge_pca_before.rst",
            category="Merge",
            subcategory="Batch correction",
        ),
        pca_after=report(
            f"{RESULTS}/merge/pca_after.png",
            caption="../report/merge_pca_after.rst",
            category="Merge",
            subcategory="Batch correction",
        ),
    log:
        f"{LOGS}/merge/merge.log",
    benchmark:
        f"{LOGS}/benchmarks/merge/merge.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # ~10x the Parquet inputs (5.0 GB for 20 cohorts x 200 samples; docs/scaling.md)
        mem_mb=lambda wc, input: max(6000, 10 * int(input.size_mb) + 1000),
        runtime=30,
    params:
        cohorts=DISCOVERY,
        combat=config["merge"]["combat"],
    script:
        "../scripts/merge_combat.py"
