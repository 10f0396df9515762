# Enrichment (issue 6): ORA of up/down genes and preranked GSEA per comparison, analysis and
# gene-set library. Names from common.smk: CMP, LOGS, COMPARISONS, SPECS, analyses.
# Library: markerflow.stages.enrichment.
rule genesets:
    input:
        gmt=lambda wc: ENRICHMENT_SOURCES[wc.library],
        symbol_table=config["genes"]["symbol_table"],
    output:
        gmt=f"{RESULTS}/genesets/{{library}}.gmt",
    log:
        f"{LOGS}/genesets/{{library}}.log",
    benchmark:
        f"{LOGS}/benchmarks/genesets/{{library}}.tsv"
    wildcard_constraints:
        library="|".join(re.escape(name) for name in ENRICHMENT_SOURCES) or "(?!x)x",
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/genesets_harmonise.py"


rule enrichment:
    input:
        table=enrichment_table,
        gmt=lambda wc: ENRICHMENT_LIBRARIES[wc.library],
    output:
        # gene-level table: complete in report/summary.html, kept out of Snakemake's report (size)
        ora=f"{CMP}/enrichment/{{analysis}}/{{library}}_ora.tsv",
        gsea=f"{CMP}/enrichment/{{analysis}}/{{library}}_gsea.tsv",
        # the ORA rows in clusterProfiler's columns (not in Snakemake's report either)
        ora_clusterprofiler=f"{CMP}/enrichment/{{analysis}}/{{library}}_ora_clusterprofiler.tsv",
        ora_plot=report(
            f"{CMP}/enrichment/{{analysis}}/{{library}}_ora_dotplot.png",
            caption="../report/enrichment_ora_dotplot.rst",
            category="{comparison}",
            subcategory="Enrichment: {analysis}",
        ),
        gsea_plot=report(
            f"{CMP}/enrichment/{{analysis}}/{{library}}_gsea_plot.png",
            caption="../report/enrichment_gsea_plot.rst",
            category="{comparison}",
            subcategory="Enrichment: {analysis}",
        ),
    log:
        f"{LOGS}/{{comparison}}/enrichment/{{analysis}}/{{library}}.log",
    benchmark:
        f"{LOGS}/benchmarks/enrichment/{{comparison}}_{{analysis}}_{{library}}.tsv"
    wildcard_constraints:
        library="|".join(re.escape(name) for name in ENRICHMENT_LIBRARIES) or "(?!x)x",
        analysis="|".join(re.escape(a) for a in [*SPECS, "meta"]),
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # genes x gene sets, not samples: no size term (peak 0.45 GB, GO_BP)
        mem_mb=scaled_mem(700),
        runtime=scaled_runtime(15),
    params:
        columns=enrichment_columns,
        ora=config["enrichment"]["ora"],
        gsea=config["enrichment"]["gsea"],
        seed=config["seed"],
    script:
        "../scripts/enrichment_run.py"


rule enrichment_all:
    input:
        [
            f"{RESULTS}/{comparison}/enrichment/{analysis}/{library}_{kind}"
            for comparison in COMPARISONS
            for analysis in analyses(comparison)
            for library in ENRICHMENT_LIBRARIES
            for kind in [
                "ora.tsv",
                "ora_clusterprofiler.tsv",
                "gsea.tsv",
                "ora_dotplot.png",
                "gsea_plot.png",
            ]
        ],
