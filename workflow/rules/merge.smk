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
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # peak 5.0 GB at 20 cohorts x 200 samples (docs/scaling.md)
        mem_mb=scaled_mem(600, 3.2, cohorts="discovery"),
        runtime=scaled_runtime(10, 0.004, cohorts="discovery"),
    params:
        cohorts=lambda w: discovery(w.comparison),
        combat=config["merge"]["combat"],
        case_label=case_of,
        control_label=control_of,
    script:
        "../scripts/merge_combat.py"
