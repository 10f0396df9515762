# Meta-analysis (issue 7): DerSimonian-Laird random effects over the discovery cohorts' DE tables.
# Per comparison. Names from common.smk: CMP, LOGS, discovery_files, discovery. Library: markerflow.stages.meta.


rule meta:
    input:
        # the DE tables' columnar twins (read_de_table's frame; markerflow.stages.columnar)
        tables=discovery_files("de.parquet"),
    output:
        # gene-level table: complete in report/summary.html, kept out of Snakemake's report (size)
        table=f"{CMP}/meta/meta.tsv",
        forest=report(
            f"{CMP}/meta/forest_top.png",
            caption="../report/meta_forest.rst",
            category="{comparison}",
            subcategory="Meta-analysis",
        ),
    log:
        f"{LOGS}/{{comparison}}/meta/meta.log",
    benchmark:
        f"{LOGS}/benchmarks/meta/{{comparison}}_meta.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # cohorts x genes, not samples (peak 0.3 GB at 20 cohorts)
        mem_mb=scaled_mem(600, per_cohort=10, cohorts="discovery"),
        runtime=scaled_runtime(10, per_cohort=0.1, cohorts="discovery"),
    params:
        cohorts=lambda w: discovery(w.comparison),
        method=config["meta"]["method"],
        leave_one_out=config["meta"]["leave_one_out"],
        min_cohorts=config["meta"]["min_cohorts"],
        forest_top=config["meta"]["forest_top"],
    script:
        "../scripts/meta_run.py"
