# markerflow: transcriptome cohorts -> ranked, validated biomarker candidates.
# Run: snakemake --cores 8   (config/config.yaml; profiles/default is picked up automatically)

# The example config is read only when no --configfile is given: a user's config is never merged
# over it (issue 18: a sepsis study inherited `case_label: asthma` and the example's seed). Keys a
# user config leaves out get the schema defaults (common.smk, validate).
if not workflow.overwrite_configfiles:
    workflow.configfile("config/config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/sizing.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/genes.smk"
include: "workflow/rules/de.smk"
include: "workflow/rules/merge.smk"
include: "workflow/rules/meta.smk"
include: "workflow/rules/enrichment.smk"
include: "workflow/rules/candidates.smk"
include: "workflow/rules/validation.smk"
include: "workflow/rules/signature.smk"
include: "workflow/rules/guards.smk"
include: "workflow/rules/performance.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/provenance.smk"


# Every rule is defined now: cohort IDs must not collide with the workflow's own path words.
check_workflow_names()


wildcard_constraints:
    cohort="|".join(re.escape(c) for c in SPECS),
    comparison="|".join(re.escape(c) for c in COMPARISONS),


onstart:
    drop_local_job_rate_limit()


# Trivial rules run where snakemake runs, never as cluster jobs.
localrules:
    all,
    enrichment_all,


rule all:
    default_target: True
    input:
        all_outputs(),
        PROVENANCE_OUTPUTS,
