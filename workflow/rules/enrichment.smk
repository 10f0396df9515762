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


# One job per (comparison, analysis) for every library: the table is read, and numba, scipy.stats
# and matplotlib are loaded, once instead of once per library (docs/scaling.md, issue 20); one
# analysis per job keeps a many-cohort run parallel (cohorts + 1 jobs per comparison).
if ENRICHMENT_LIBRARIES:

    rule enrichment:
        input:
            table=enrichment_table,
            gmt=list(ENRICHMENT_LIBRARIES.values()),
        output:
            # gene-level tables: complete in report/summary.html, kept out of Snakemake's report (size)
            ora=enrichment_outputs("ora.tsv"),
            gsea=enrichment_outputs("gsea.tsv"),
            # the ORA rows in clusterProfiler's columns (not in Snakemake's report either)
            ora_clusterprofiler=enrichment_outputs("ora_clusterprofiler.tsv"),
            ora_plot=enrichment_outputs(
                "ora_dotplot.png",
                "../report/enrichment_ora_dotplot.rst",
                "ORA dot plot",
            ),
            gsea_plot=enrichment_outputs(
                "gsea_plot.png",
                "../report/enrichment_gsea_plot.rst",
                "GSEA running score",
            ),
        log:
            f"{LOGS}/{{comparison}}/enrichment/{{analysis}}.log",
        benchmark:
            f"{LOGS}/benchmarks/enrichment/{{comparison}}_{{analysis}}.tsv"
        wildcard_constraints:
            analysis="|".join(re.escape(a) for a in [*SPECS, "meta"]),
        conda:
            "../../envs/markerflow.yaml"
        threads: 1
        resources:
            # genes x gene sets, not samples: no size term (peak 0.45 GB, GO_BP; both libraries
            # run one after the other in one process)
            mem_mb=scaled_mem(700),
            runtime=scaled_runtime(20),
        params:
            libraries=list(ENRICHMENT_LIBRARIES),
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
