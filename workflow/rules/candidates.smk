# Candidate ranking (issue 7): transparent evidence components per gene, discovery data only.
# Names from common.smk: RESULTS, LOGS, DISCOVERY, CASE, CONTROL. Library: markerflow.stages.candidates.

# enrichment of the study-level analysis: the meta-analysis, or the single discovery cohort
CANDIDATE_ANALYSIS = "meta" if len(DISCOVERY) > 1 else DISCOVERY[0]


rule candidates:
    input:
        meta=f"{RESULTS}/meta/meta.tsv",
        expression=expand(
            f"{RESULTS}/de/{{cohort}}/normalized.parquet", cohort=DISCOVERY
        ),
        samples=expand(f"{RESULTS}/ingest/{{cohort}}/samples.tsv", cohort=DISCOVERY),
        merged=f"{RESULTS}/merge/expression.parquet",
        merged_samples=f"{RESULTS}/merge/samples.tsv",
        enrichment=expand(
            f"{RESULTS}/enrichment/{CANDIDATE_ANALYSIS}/{{library}}_ora.tsv",
            library=list(config["enrichment"]["libraries"]),
        ),
        # how often each gene is in a leave-one-cohort-out fold's top N (discovery data only);
        # reported beside the score, not part of it
        rank_stability=(
            [f"{RESULTS}/validation/rank_stability.tsv"] if len(DISCOVERY) > 1 else []
        ),
    output:
        table=report(
            f"{RESULTS}/candidates/candidates.tsv",
            caption="../report/candidates_table.rst",
            category="Candidates",
        ),
    log:
        f"{LOGS}/candidates/candidates.log",
    benchmark:
        f"{LOGS}/benchmarks/candidates/candidates.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # ~4x the Parquet inputs (4.4 GB for 20 cohorts x 200 samples; docs/scaling.md)
        mem_mb=lambda wc, input: max(4000, 5 * int(input.size_mb) + 1000),
        runtime=30,
    params:
        cohorts=DISCOVERY,
        case_label=CASE,
        control_label=CONTROL,
        weights=config["candidates"]["weights"],
        fdr=config["meta"]["fdr"],
        preselect=config["candidates"]["preselect"],
        stability_subsamples=config["candidates"]["stability_subsamples"],
        seed=config["seed"],
    script:
        "../scripts/candidates_rank.py"
