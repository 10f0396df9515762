# Provenance and the person-readable summary (issue 8). Include this file LAST: its rules consume
# every other stage's outputs through all_outputs() (common.smk).
# Names from common.smk: RESULTS, LOGS, SPECS, COHORT_SHEET, all_outputs.
from markerflow.stages.provenance import (
    FROZEN_SPECIAL_KEYS,
    cohort_records,
    study_input_files,
)

PROVENANCE = f"{RESULTS}/provenance"
#: Every input file the study reads (cohort matrices, sample sheets, annotation tables, gene-set
#: libraries, any other config value naming a file); their sha256 go into the frozen config.
PROVENANCE_INPUTS = (
    study_input_files(config, SPECS.values())
    + [
        path
        for spec in SPECS.values()
        if spec.source == "geo"
        for role, path in (
            geo_rnaseq_files(spec.accession)
            if spec.data_type == "counts"
            else geo_download_files(spec.accession, spec.platform)
        ).items()
        if role != "checksums"
    ]
    + [
        f"{GEO_CACHE}/{spec.accession}/soft/{spec.accession}.soft.gz"
        for spec in SPECS.values()
        if spec.source in ("soft", "gds") and spec.matrix is None
    ]
)


#: The provenance stage's targets (for `rule all`); the manifest comes last.
PROVENANCE_OUTPUTS = [
    f"{PROVENANCE}/config.frozen.yaml",
    f"{PROVENANCE}/versions.tsv",
    f"{RESULTS}/report/summary.html",
    f"{PROVENANCE}/manifest.tsv",
]
#: The summary page reads every stage's final outputs plus the per-cohort sample sheets and
#: gene-mapping reports, and each DE job's log-scale matrix and sample sheet (per-gene panels).
SUMMARY_INPUTS = list(
    dict.fromkeys(
        all_outputs(workbook=False)
        + [
            f"{RESULTS}/ingest/{cohort}/{name}"
            for cohort in SPECS
            for name in ("samples.tsv", "excluded_samples.tsv")
        ]
        + [f"{RESULTS}/genes/{cohort}/alterations.tsv" for cohort in SPECS]
        + [f"{RESULTS}/genes/{cohort}/mapping.tsv" for cohort in SPECS]
        # the per-gene panels' expression by group (log scale, the comparison's two sides)
        + [
            f"{RESULTS}/{comparison}/de/{cohort}/{name}"
            for comparison in COMPARISONS
            for cohort in PLAN.cohorts[comparison]
            for name in ("normalized.parquet", "samples.tsv")
        ]
    )
)


rule provenance_config:
    input:
        PROVENANCE_INPUTS,
    output:
        report(
            f"{PROVENANCE}/config.frozen.yaml",
            caption="../report/provenance_config.rst",
            category="Provenance",
        ),
    log:
        f"{LOGS}/provenance/config.log",
    benchmark:
        f"{LOGS}/benchmarks/provenance_config/provenance_config.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        # sha256 of every input: time grows with their size, memory does not
        mem_mb=scaled_mem(500),
        runtime=scaled_runtime(10, 0.001, cohorts="all"),
    params:
        config={k: v for k, v in config.items() if k not in FROZEN_SPECIAL_KEYS},
        cohorts=cohort_records(COHORT_SHEET),
        results=lambda w, output: str(Path(output[0]).parents[1]),
    script:
        "../scripts/provenance_freeze.py"


rule provenance_versions:
    input:
        all_outputs(workbook=False),
    output:
        report(
            f"{PROVENANCE}/versions.tsv",
            caption="../report/provenance_versions.rst",
            category="Provenance",
        ),
    log:
        f"{LOGS}/provenance/versions.log",
    benchmark:
        f"{LOGS}/benchmarks/provenance_versions/provenance_versions.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        workflow_dir=workflow.basedir,
    script:
        "../scripts/provenance_versions.py"


rule provenance_summary:
    input:
        files=SUMMARY_INPUTS,
        frozen=f"{PROVENANCE}/config.frozen.yaml",
        versions=f"{PROVENANCE}/versions.tsv",
    output:
        # not in Snakemake's report: it would embed every table and figure a second time
        # (workflow/report/workflow.rst points to the page)
        f"{RESULTS}/report/summary.html",
    log:
        f"{LOGS}/provenance/summary.log",
    benchmark:
        f"{LOGS}/benchmarks/provenance_summary/provenance_summary.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(800, per_cohort=20, cohorts="all"),
        runtime=scaled_runtime(10, per_cohort=0.1, cohorts="all"),
    params:
        results=lambda w, output: str(Path(output[0]).parents[1]),
        config={k: v for k, v in config.items() if k not in FROZEN_SPECIAL_KEYS},
        cohorts=cohort_records(COHORT_SHEET),
    script:
        "../scripts/provenance_summary.py"


rule provenance_manifest:
    input:
        all_outputs(),
        f"{PROVENANCE}/config.frozen.yaml",
        f"{PROVENANCE}/versions.tsv",
        f"{RESULTS}/report/summary.html",
    output:
        report(
            f"{PROVENANCE}/manifest.tsv",
            caption="../report/provenance_manifest.rst",
            category="Provenance",
        ),
    log:
        f"{LOGS}/provenance/manifest.log",
    benchmark:
        f"{LOGS}/benchmarks/provenance_manifest/provenance_manifest.tsv"
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(500),
        runtime=scaled_runtime(10, 0.002, cohorts="all"),
    params:
        results=lambda w, output: str(Path(output[0]).parents[1]),
    script:
        "../scripts/provenance_manifest.py"
