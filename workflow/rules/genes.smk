rule genes:
    input:
        unpack(annotation_input),
        unpack(symbol_table_input),
        expression=f"{RESULTS}/ingest/{{cohort}}/expression.parquet",
        samples=f"{RESULTS}/ingest/{{cohort}}/samples.tsv",
    output:
        expression=f"{RESULTS}/genes/{{cohort}}/expression.parquet",
        mapping=f"{RESULTS}/genes/{{cohort}}/mapping.tsv",
        alterations=f"{RESULTS}/genes/{{cohort}}/alterations.tsv",
        features=f"{RESULTS}/genes/{{cohort}}/features.tsv",
    log:
        f"{LOGS}/genes/{{cohort}}.log",
    benchmark:
        f"{LOGS}/benchmarks/genes/{{cohort}}.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # peak 1.58 / 1.47 GB: 500-sample array / RNA-seq cohort (docs/scaling.md)
        mem_mb=scaled_mem(550, 8),
        runtime=scaled_runtime(10, {"array": 0.01, "counts": 0.03}),
    params:
        data_type=lambda w: SPECS[w.cohort].data_type,
        log2=lambda w: log2_mode(w.cohort),
        collapse=config["genes"]["collapse"],
        drop_multimapping=config["genes"]["drop_multimapping"],
        min_annotated_share=config["genes"]["min_annotated_share"],
        platform=lambda w: SPECS[w.cohort].platform,
        min_count=config["de"]["counts"]["min_count"],
        min_samples=config["de"]["counts"]["min_samples"],
        counts_method=config["de"]["counts"]["method"],
    script:
        "../scripts/genes_map.py"
