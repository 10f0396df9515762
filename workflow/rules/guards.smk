# Leakage guards that need the data (issue 15): near-duplicate samples across cohorts and shared
# sample IDs stop the run; the study's warnings are collected for the report. Reads validation
# cohorts, so it feeds only the validation side (rule performance), never candidates/signature.
# Per comparison, over the cohorts serving it. Names from common.smk: CMP, LOGS, SPECS, PLAN,
# STUDY_WARNINGS, de_files. Library: markerflow.stages.guards.


rule guards:
    input:
        expression=lambda w: de_files(
            w.comparison, PLAN.cohorts[w.comparison], "normalized.parquet"
        ),
    output:
        table=f"{CMP}/guards/warnings.tsv",
    log:
        f"{LOGS}/{{comparison}}/guards/guards.log",
    benchmark:
        f"{LOGS}/benchmarks/guards/{{comparison}}_guards.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # every matrix held in float32 (gene level: ~0.2 of the source's float64 MB), one read
        # in float64 at a time: peak 0.72 GB at 20 x 200
        mem_mb=scaled_mem(600, 0.25, cohorts="serving", per_largest_mb=1.5),
        runtime=scaled_runtime(10, 0.002, cohorts="serving"),
    params:
        cohorts=lambda w: list(PLAN.cohorts[w.comparison]),
        roles={cohort: spec.role for cohort, spec in SPECS.items()},
        warnings=STUDY_WARNINGS,
    script:
        "../scripts/guards_check.py"
