# Candidate ranking (issue 7): transparent evidence components per gene, discovery data only, per
# comparison. Names from common.smk: CMP, LOGS, discovery, discovery_files, candidate_enrichment,
# candidate_stability, case_of, control_of. Library: markerflow.stages.candidates.


rule candidates:
    input:
        meta=f"{CMP}/meta/meta.tsv",
        expression=discovery_files("normalized.parquet"),
        # gene means of the expression evidence (markerflow.stages.columnar)
        genes=discovery_files("genes.parquet"),
        samples=discovery_files("samples.tsv"),
        merged=f"{CMP}/merge/expression.parquet",
        merged_samples=f"{CMP}/merge/samples.tsv",
        enrichment=candidate_enrichment,
        rank_stability=candidate_stability,
    output:
        # gene-level table: complete in report/summary.html, kept out of Snakemake's report (size)
        table=f"{CMP}/candidates/candidates.tsv",
    log:
        f"{LOGS}/{{comparison}}/candidates/candidates.log",
    benchmark:
        f"{LOGS}/benchmarks/candidates/{{comparison}}_candidates.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # reads the 300 preselected genes' rows of each matrix and its gene means (genes.parquet)
        mem_mb=scaled_mem(700, cohorts="discovery", per_largest_mb=1.2, per_sample=0.02),
        runtime=scaled_runtime(10, 0.004, cohorts="discovery"),
    params:
        cohorts=lambda w: discovery(w.comparison),
        case_label=case_of,
        control_label=control_of,
        weights=config["candidates"]["weights"],
        fdr=config["meta"]["fdr"],
        preselect=config["candidates"]["preselect"],
        stability_subsamples=config["candidates"]["stability_subsamples"],
        seed=config["seed"],
    script:
        "../scripts/candidates_rank.py"
