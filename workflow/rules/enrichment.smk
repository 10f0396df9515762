# Enrichment (issue 6): ORA of up/down genes and preranked GSEA per analysis and gene-set library.
# Names from common.smk: RESULTS, LOGS, ANALYSES. Library: markerflow.stages.enrichment.
rule enrichment:
    input:
        table=enrichment_table,
        gmt=lambda wc: ENRICHMENT_LIBRARIES[wc.library],
    output:
        ora=report(
            f"{RESULTS}/enrichment/{{analysis}}/{{library}}_ora.tsv",
            caption="../report/enrichment_ora.rst",
            category="Enrichment",
            subcategory="{analysis}",
        ),
        gsea=report(
            f"{RESULTS}/enrichment/{{analysis}}/{{library}}_gsea.tsv",
            caption="../report/enrichment_gsea.rst",
            category="Enrichment",
            subcategory="{analysis}",
        ),
        ora_plot=report(
            f"{RESULTS}/enrichment/{{analysis}}/{{library}}_ora_dotplot.png",
            caption="../report/enrichment_ora_dotplot.rst",
            category="Enrichment",
            subcategory="{analysis}",
        ),
        gsea_plot=report(
            f"{RESULTS}/enrichment/{{analysis}}/{{library}}_gsea_plot.png",
            caption="../report/enrichment_gsea_plot.rst",
            category="Enrichment",
            subcategory="{analysis}",
        ),
    log:
        f"{LOGS}/enrichment/{{analysis}}/{{library}}.log",
    benchmark:
        f"{LOGS}/benchmarks/enrichment/{{analysis}}_{{library}}.tsv"
    wildcard_constraints:
        library="|".join(re.escape(name) for name in ENRICHMENT_LIBRARIES) or "(?!x)x",
        analysis="|".join(re.escape(a) for a in ANALYSES),
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        columns=enrichment_columns,
        ora=config["enrichment"]["ora"],
        gsea=config["enrichment"]["gsea"],
        seed=config["seed"],
    script:
        "../scripts/enrichment_run.py"


rule enrichment_all:
    input:
        expand(
            f"{RESULTS}/enrichment/{{analysis}}/{{library}}_{{kind}}",
            analysis=ANALYSES,
            library=list(ENRICHMENT_LIBRARIES),
            kind=["ora.tsv", "gsea.tsv", "ora_dotplot.png", "gsea_plot.png"],
        ),
