# Result tables in their readers' forms (issue 18): de_native writes each (comparison, cohort) DE
# table with limma's or DESeq2's column names (de.limma.tsv / de.deseq2.tsv); tables_workbook
# gathers the study's tables into results/tables.xlsx. Names from common.smk: RESULTS, CMP, LOGS,
# native_kind_of, workbook_tables. Library: markerflow.stages.tables.


rule de_native:
    input:
        table=f"{CMP}/de/{{cohort}}/de.tsv",
    output:
        # not a report() entry: the same numbers as de.tsv, which the report holds already
        table=f"{CMP}/de/{{cohort}}/de.{{kind}}.tsv",
    log:
        f"{LOGS}/{{comparison}}/de_native/{{cohort}}.{{kind}}.log",
    wildcard_constraints:
        kind="limma|deseq2",
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(600),
        runtime=scaled_runtime(5),
    params:
        kind=lambda w: w.kind,
    script:
        "../scripts/tables_native.py"


rule tables_workbook:
    input:
        tables=workbook_tables(),
    output:
        # not a report() entry: 40 MB for the example, and Snakemake's report keeps the
        # gene-level tables out (they are files and complete in report/summary.html)
        workbook=f"{RESULTS}/tables.xlsx",
    log:
        f"{LOGS}/tables_workbook.log",
    benchmark:
        f"{LOGS}/benchmarks/tables_workbook/tables_workbook.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(1000, per_cohort=50, cohorts="all"),
        runtime=scaled_runtime(10, per_cohort=0.2, cohorts="all"),
    params:
        root=lambda w, output: str(Path(output.workbook).parent),
    script:
        "../scripts/tables_workbook.py"
