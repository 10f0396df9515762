# Per cohort: features to gene symbols, and the cohort's quality control (one job: the QC used to be
# its own rule reading the same matrix; issue 20). Library: markerflow.stages.genes, markerflow.stages.qc.
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
        # the cohort's QC (former rule qc), computed from the matrix this job reads anyway
        qc_samples=f"{RESULTS}/qc/{{cohort}}/samples_qc.tsv",
        qc_summary=report(
            f"{RESULTS}/qc/{{cohort}}/summary.tsv",
            caption="../report/qc_summary.rst",
            category="Quality control",
            subcategory="{cohort}",
        ),
        qc_pca=report(
            f"{RESULTS}/qc/{{cohort}}/pca.png",
            caption="../report/qc_pca.rst",
            category="Quality control",
            subcategory="{cohort}",
        ),
    log:
        f"{LOGS}/genes/{{cohort}}.log",
    benchmark:
        f"{LOGS}/benchmarks/genes/{{cohort}}.tsv"
    priority: MERGE_PATH_PRIORITY
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # measured apart, genes 1.58 / 1.47 GB and qc 1.45 / 1.69 GB for a 500-sample array /
        # RNA-seq cohort (docs/scaling.md); qc now runs in this job: the larger of the two, and
        # both runtimes
        mem_mb=scaled_mem(550, 8),
        runtime=scaled_runtime(10, {"array": 0.02, "counts": 0.06}),
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
        outlier_z=config["qc"]["outlier_z"],
    script:
        "../scripts/genes_map.py"
