# Cohort-level validation (issue 15): leave-one-discovery-cohort-out (LOCO), per comparison. Each
# fold reruns the whole selection chain (merge/ComBat, meta, ORA, candidates, signature) on the
# other discovery cohorts, freezes the signature, then scores the held-out cohort. Validation
# cohorts never enter. One job per fold (independent, parallel on a cluster); a fold computes no
# PCA and ComBat-adjusts only the preselected genes (stages.validation.fold_combat_summaries); it
# reads each cohort's columnar summary (de.parquet, genes.parquet, written by rule de) and only
# the rows it needs of each matrix. Names from common.smk: CMP, LOGS, SPECS, COMPARISONS, discovery,
# ENRICHMENT_LIBRARIES. Library: markerflow.stages.validation.

from markerflow.stages.validation import chain_settings

VALIDATION_DIR = f"{CMP}/validation"
#: The selection chain's parameters, as the main chain's rules read them.
CHAIN_SETTINGS = chain_settings(config)


rule validation_loco:
    input:
        unpack(loco_inputs),
    output:
        signature=f"{VALIDATION_DIR}/loco/{{heldout}}/signature.tsv",
        frozen=f"{VALIDATION_DIR}/loco/{{heldout}}/signature.frozen.json",
        candidates=f"{VALIDATION_DIR}/loco/{{heldout}}/candidates.tsv",
        score=f"{VALIDATION_DIR}/loco/{{heldout}}/score.tsv",
    log:
        f"{LOGS}/{{comparison}}/validation/loco_{{heldout}}.log",
    benchmark:
        f"{LOGS}/benchmarks/validation/{{comparison}}_loco_{{heldout}}.tsv"
    wildcard_constraints:
        heldout="|".join(re.escape(c) for c in SPECS),
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # reads summaries + rows, one matrix row group at a time (stages.columnar): peak 0.80 GB
        # at 20 cohorts x 200 samples (was 1.97 GB reading whole matrices); stability selection's
        # preselected genes x samples copies grow with the samples
        mem_mb=scaled_mem(
            700,
            cohorts="discovery",
            per_cohort=15,
            per_largest_mb=2.0,
            per_sample=0.01,
        ),
        runtime=scaled_runtime(10, 0.002, cohorts="discovery"),
    params:
        train=loco_training,
        settings=chain_settings_of,
    script:
        "../scripts/validation_loco.py"


rule validation_out_of_cohort:
    input:
        signatures=loco_files("signature.tsv"),
        scores=loco_files("score.tsv"),
        candidates=loco_files("candidates.tsv"),
    output:
        table=report(
            f"{VALIDATION_DIR}/out_of_cohort.tsv",
            caption="../report/validation_out_of_cohort.rst",
            category="{comparison}",
            subcategory="Signature",
        ),
        stability=report(
            f"{VALIDATION_DIR}/rank_stability.tsv",
            caption="../report/validation_rank_stability.rst",
            category="{comparison}",
            subcategory="Candidates",
        ),
    log:
        f"{LOGS}/{{comparison}}/validation/out_of_cohort.log",
    benchmark:
        f"{LOGS}/benchmarks/validation/{{comparison}}_out_of_cohort.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(600, per_cohort=5, cohorts="discovery"),
        runtime=scaled_runtime(10, per_cohort=0.05, cohorts="discovery"),
    params:
        heldout=lambda w: discovery(w.comparison),
        train=lambda w: [
            [c for c in discovery(w.comparison) if c != h]
            for h in discovery(w.comparison)
        ],
        top_n=config["candidates"]["top_n"],
    script:
        "../scripts/validation_out_of_cohort.py"
