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
    priority: MERGE_PATH_PRIORITY
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # peak 1.20 / 1.46 GB: 500-sample array / RNA-seq cohort (docs/scaling.md)
        mem_mb=scaled_mem(500, 6.5),
        runtime=scaled_runtime(10, {"array": 0.01, "counts": 0.03}),
    params:
        spec=lambda w: SPECS[w.cohort].as_params(),
        case_label=CASE,
        control_label=CONTROL,
    script:
        "../scripts/ingest_cohort.py"


# Source `tximport`: a folder of salmon/kallisto files summarised to gene counts (tximport 1.26).
rule tximport:
    input:
        unpack(tximport_inputs),
    output:
        counts=f"{RESULTS}/ingest/{{cohort}}/tximport_counts.parquet",
        lengths=f"{RESULTS}/ingest/{{cohort}}/tx_lengths.parquet",
    log:
        f"{LOGS}/tximport/{{cohort}}.log",
    benchmark:
        f"{LOGS}/benchmarks/tximport/{{cohort}}.tsv"
    priority: MERGE_PATH_PRIORITY
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(1000, 3),
        runtime=scaled_runtime(10, 0.02),
    params:
        folder=lambda w: SPECS[w.cohort].matrix,
        quant_type=lambda w: SPECS[w.cohort].quant_type,
        counts_from_abundance=lambda w: SPECS[w.cohort].counts_from_abundance or "no",
    script:
        "../scripts/tximport_cohort.py"


# Sources `soft` / `gds` without an `annotation`: probe -> symbol from the file itself.
rule soft_annotation:
    input:
        soft=lambda w: cohort_inputs(w)["matrix"],
    output:
        annotation=f"{RESULTS}/ingest/{{cohort}}/soft_annotation.tsv.gz",
    log:
        f"{LOGS}/soft_annotation/{{cohort}}.log",
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(500, 2),
        runtime=scaled_runtime(10, 0.01),
    params:
        source=lambda w: SPECS[w.cohort].source,
        platform=lambda w: SPECS[w.cohort].platform,
    script:
        "../scripts/soft_annotation.py"
