rule merge:
    input:
        expression=discovery_files("normalized.parquet"),
        samples=discovery_files("samples.tsv"),
    output:
        expression=f"{CMP}/merge/expression.parquet",
        samples=f"{CMP}/merge/samples.tsv",
        uncorrected=f"{CMP}/merge/uncorrected.parquet",
        mixing=report(
            f"{CMP}/merge/batch_mixing.tsv",
            caption="../report/merge_mixing.rst",
            category="{comparison}",
            subcategory="Merge (batch correction)",
        ),
        pca_before=report(
            f"{CMP}/merge/pca_before.png",
            caption="../report/merge_pca_before.rst",
            category="{comparison}",
            subcategory="Merge (batch correction)",
        ),
        pca_after=report(
            f"{CMP}/merge/pca_after.png",
            caption="../report/merge_pca_after.rst",
            category="{comparison}",
            subcategory="Merge (batch correction)",
        ),
    log:
        f"{LOGS}/{{comparison}}/merge/merge.log",
    benchmark:
        f"{LOGS}/benchmarks/merge/{{comparison}}_merge.tsv"
    priority: MERGE_PATH_PRIORITY
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # out of core: peak 1.05 GiB at 20 x 200 (one cohort + blocks + 16 N^2 bytes of Gram);
        # above 8,000 samples (engines.pca.GRAM_SAMPLES_MAX) block Krylov bases and a Parquet
        # row group of >= 1,024 genes (io.tables.ROW_GROUP_MIN_ROWS): 3.40 GB exact peak
        # (VmHWM) at 100 x 500 (50,000 samples; 9.66 GB before the row groups were grouped)
        mem_mb=scaled_mem(
            1100,
            cohorts="discovery",
            per_largest_mb=1.2,
            per_sample2=1.6e-5,
            sample2_cap=8000,
            per_sample=0.04,
        ),
        runtime=scaled_runtime(10, 0.004, cohorts="discovery"),
    params:
        cohorts=lambda w: discovery(w.comparison),
        combat=config["merge"]["combat"],
        case_label=case_of,
        control_label=control_of,
    script:
        "../scripts/merge_combat.py"
