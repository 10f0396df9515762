rule ingest:
    input:
        unpack(cohort_inputs),
    output:
        expression=f"{RESULTS}/ingest/{{cohort}}/expression.parquet",
        samples=f"{RESULTS}/ingest/{{cohort}}/samples.tsv",
        excluded=f"{RESULTS}/ingest/{{cohort}}/excluded_samples.tsv",
    log:
        f"{LOGS}/ingest/{{cohort}}.log",
    benchmark:
        f"{LOGS}/benchmarks/ingest/{{cohort}}.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=lambda w: SPECS[w.cohort].as_params(),
        case_label=CASE,
        control_label=CONTROL,
    script:
        "../scripts/ingest_cohort.py"
