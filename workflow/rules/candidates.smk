# Candidate ranking (issue 7): transparent evidence components per gene, discovery data only, per
# comparison. Names from common.smk: CMP, LOGS, discovery, discovery_files, candidate_analysis,
# case_of, control_of. Library: markerflow.stages.candidates.


def candidate_enrichment(wildcards):
    """ORA of the comparison's study-level analysis (meta-analysis, or its one discovery cohort)."""
    analysis = candidate_analysis(wildcards.comparison)
    return [
        f"{RESULTS}/{wildcards.comparison}/enrichment/{analysis}/{library}_ora.tsv"
        for library in config["enrichment"]["libraries"]
    ]


def candidate_stability(wildcards):
    # how often each gene is in a leave-one-cohort-out fold's top N (discovery data only);
    # reported beside the score, not part of it
    if len(discovery(wildcards.comparison)) > 1:
        return [f"{RESULTS}/{wildcards.comparison}/validation/rank_stability.tsv"]
    return []


rule candidates:
    input:
        meta=f"{CMP}/meta/meta.tsv",
        expression=discovery_files("normalized.parquet"),
        samples=discovery_files("samples.tsv"),
        merged=f"{CMP}/merge/expression.parquet",
        merged_samples=f"{CMP}/merge/samples.tsv",
        enrichment=candidate_enrichment,
        rank_stability=candidate_stability,
    output:
        table=report(
            f"{CMP}/candidates/candidates.tsv",
            caption="../report/candidates_table.rst",
            category="{comparison}",
            subcategory="Candidates",
        ),
    log:
        f"{LOGS}/{{comparison}}/candidates/candidates.log",
    benchmark:
        f"{LOGS}/benchmarks/candidates/{{comparison}}_candidates.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # ~4x the Parquet inputs (4.4 GB for 20 cohorts x 200 samples; docs/scaling.md)
        mem_mb=lambda wc, input: max(4000, 5 * int(input.size_mb) + 1000),
        runtime=30,
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
