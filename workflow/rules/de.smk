# Differential expression per (comparison, cohort) (issues 4, 16): the cohort's model is fitted on
# all its levels (pooled levels of the comparison recoded first), the comparison's contrast is
# tested. Also writes the comparison's two-level sample sheet and matrix, which every later stage
# of the comparison reads, and its columnar summary (de.parquet, genes.parquet: DE columns, gene
# means, completeness, ComBat cell statistics, matrix minimum; markerflow.stages.columnar), which
# meta, candidates and the LOCO folds read instead of whole tables and matrices. Rule de_ftest: the test across all levels of a cohort with >= 3
# levels, once per cohort (it belongs to no comparison): results/de_ftest/<cohort>/ftest.tsv.
# Names from common.smk: RESULTS, CMP, LOGS, SPECS, COMPARISONS, STUDY_LEVELS, FTEST_COHORTS.


rule de:
    input:
        unpack(tximport_length_inputs),
        expression=f"{RESULTS}/genes/{{cohort}}/expression.parquet",
        features=f"{RESULTS}/genes/{{cohort}}/features.tsv",
        samples=f"{RESULTS}/ingest/{{cohort}}/samples.tsv",
    output:
        # gene-level table: complete in report/summary.html, kept out of Snakemake's report (size)
        table=f"{CMP}/de/{{cohort}}/de.tsv",
        normalized=f"{CMP}/de/{{cohort}}/normalized.parquet",
        samples=f"{CMP}/de/{{cohort}}/samples.tsv",
        # columnar summary for the later stages (issue 20; markerflow.stages.columnar)
        de_columnar=f"{CMP}/de/{{cohort}}/de.parquet",
        genes=f"{CMP}/de/{{cohort}}/genes.parquet",
        volcano=report(
            f"{CMP}/de/{{cohort}}/volcano.png",
            caption="../report/de_volcano.rst",
            category="{comparison}",
            subcategory="Differential expression: {cohort}",
        ),
        heatmap=report(
            f"{CMP}/de/{{cohort}}/heatmap_top.png",
            caption="../report/de_heatmap_top.rst",
            category="{comparison}",
            subcategory="Differential expression: {cohort}",
        ),
        distances=report(
            f"{CMP}/de/{{cohort}}/sample_distances.png",
            caption="../report/de_sample_distances.rst",
            category="{comparison}",
            subcategory="Differential expression: {cohort}",
        ),
        summary=report(
            f"{CMP}/de/{{cohort}}/summary.tsv",
            caption="../report/de_summary.rst",
            category="{comparison}",
            subcategory="Differential expression: {cohort}",
        ),
    log:
        f"{LOGS}/{{comparison}}/de/{{cohort}}.log",
    benchmark:
        f"{LOGS}/benchmarks/de/{{comparison}}_{{cohort}}.tsv"
    priority: MERGE_PATH_PRIORITY
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # peak 0.72 / 1.60 GB: 500-sample array (limma) / RNA-seq (DESeq2) cohort
        mem_mb=scaled_mem(650, {"array": 2.5, "counts": 6.5}),
        runtime=scaled_runtime(10, {"array": 0.01, "counts": 0.05}),
    params:
        cohort=lambda w: w.cohort,
        comparison=comparison_params,
        data_type=lambda w: SPECS[w.cohort].data_type,
        covariates=lambda w: list(SPECS[w.cohort].covariates),
        design=lambda w: SPECS[w.cohort].design,
        levels=model_levels_of,
        arrays=config["de"]["arrays"],
        counts=config["de"]["counts"],
        padj_threshold=config["de"]["padj_threshold"],
        lfc_threshold=config["de"]["lfc_threshold"],
    script:
        "../scripts/de_cohort.py"


rule skipped_cohorts:
    output:
        table=report(
            f"{CMP}/skipped_cohorts.tsv",
            caption="../report/skipped_cohorts.rst",
            category="{comparison}",
            subcategory="Cohorts",
        ),
    log:
        f"{LOGS}/{{comparison}}/skipped_cohorts.log",
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        rows=lambda w: PLAN.skipped_table(w.comparison).to_dict("records"),
    script:
        "../scripts/comparison_skipped.py"


rule de_ftest:
    input:
        unpack(tximport_length_inputs),
        expression=f"{RESULTS}/genes/{{cohort}}/expression.parquet",
        features=f"{RESULTS}/genes/{{cohort}}/features.tsv",
        samples=f"{RESULTS}/ingest/{{cohort}}/samples.tsv",
    output:
        # gene-level table: complete in report/summary.html, kept out of Snakemake's report (size)
        table=f"{RESULTS}/de_ftest/{{cohort}}/ftest.tsv",
    log:
        f"{LOGS}/de_ftest/{{cohort}}.log",
    benchmark:
        f"{LOGS}/benchmarks/de_ftest/{{cohort}}.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(650, {"array": 2.5, "counts": 6.5}),
        runtime=scaled_runtime(10, {"array": 0.01, "counts": 0.05}),
    params:
        cohort=lambda w: w.cohort,
        data_type=lambda w: SPECS[w.cohort].data_type,
        covariates=lambda w: list(SPECS[w.cohort].covariates),
        design=lambda w: SPECS[w.cohort].design,
        levels=STUDY_LEVELS,
        arrays=config["de"]["arrays"],
        counts=config["de"]["counts"],
    script:
        "../scripts/de_ftest.py"
