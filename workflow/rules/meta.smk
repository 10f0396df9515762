# Meta-analysis (issue 7): DerSimonian-Laird random effects over the discovery cohorts' DE tables.
# Names from common.smk: RESULTS, LOGS, DISCOVERY. Library: markerflow.stages.meta.


rule meta:
    input:
        tables=expand(f"{RESULTS}/de/{{cohort}}/de.tsv", cohort=DISCOVERY),
    output:
        table=report(
            f"{RESULTS}/meta/meta.tsv",
            caption="../report/meta_table.rst",
            category="Meta-analysis",
        ),
        forest=report(
            f"{RESULTS}/meta/forest_top.png",
            caption="../report/meta_forest.rst",
            category="Meta-analysis",
        ),
    log:
        f"{LOGS}/meta/meta.log",
    benchmark:
        f"{LOGS}/benchmarks/meta/meta.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    params:
        cohorts=DISCOVERY,
        method=config["meta"]["method"],
        leave_one_out=config["meta"]["leave_one_out"],
        min_cohorts=config["meta"]["min_cohorts"],
        forest_top=config["meta"]["forest_top"],
    script:
        "../scripts/meta_run.py"
