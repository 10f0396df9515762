# Leakage guards that need the data (issue 15): near-duplicate samples across cohorts and shared
# sample IDs stop the run; the study's warnings are collected for the report. Reads validation
# cohorts, so it feeds only the validation side (rule performance), never candidates/signature.
# Names from common.smk: RESULTS, LOGS, SPECS, STUDY_WARNINGS. Library: markerflow.stages.guards.


rule guards:
    input:
        expression=expand(f"{RESULTS}/de/{{cohort}}/normalized.parquet", cohort=SPECS),
    output:
        table=f"{RESULTS}/guards/warnings.tsv",
    log:
        f"{LOGS}/guards/guards.log",
    benchmark:
        f"{LOGS}/benchmarks/guards/guards.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: max(2000, 3 * int(input.size_mb) + 1000),
        runtime=15,
    params:
        cohorts=list(SPECS),
        roles={cohort: spec.role for cohort, spec in SPECS.items()},
        warnings=STUDY_WARNINGS,
    script:
        "../scripts/guards_check.py"
