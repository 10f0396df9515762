# Provenance and the person-readable summary (issue 8). Include this file LAST: its rules consume
# every other stage's outputs through all_outputs() (common.smk).
# Names from common.smk: RESULTS, LOGS, SPECS, COHORT_SHEET, all_outputs.
from markerflow.provenance import FROZEN_SPECIAL_KEYS, cohort_records, study_input_files

PROVENANCE = f"{RESULTS}/provenance"
#: Every input file the study reads (cohort matrices, sample sheets, annotation tables, gene-set
#: libraries, any other config value naming a file); their sha256 go into the frozen config.
PROVENANCE_INPUTS = study_input_files(config, SPECS.values())


def provenance_outputs():
    """The provenance stage's targets (for `rule all`)."""
    return [
        f"{PROVENANCE}/config.frozen.yaml",
        f"{PROVENANCE}/versions.tsv",
        f"{RESULTS}/report/summary.html",
        f"{PROVENANCE}/manifest.tsv",
    ]


def summary_inputs():
    """Final outputs of every stage plus the per-cohort sample sheets (for sample counts)."""
    ingest = [
        f"{RESULTS}/ingest/{cohort}/{name}"
        for cohort in SPECS
        for name in ("samples.tsv", "excluded_samples.tsv")
    ]
    return list(dict.fromkeys(all_outputs() + ingest))


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
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        config={k: v for k, v in config.items() if k not in FROZEN_SPECIAL_KEYS},
        cohorts=cohort_records(COHORT_SHEET),
        results=RESULTS,
    script:
        "../scripts/provenance_freeze.py"


rule provenance_versions:
    input:
        all_outputs(),
    output:
        report(
            f"{PROVENANCE}/versions.tsv",
            caption="../report/provenance_versions.rst",
            category="Provenance",
        ),
    log:
        f"{LOGS}/provenance/versions.log",
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
        files=summary_inputs(),
        frozen=f"{PROVENANCE}/config.frozen.yaml",
        versions=f"{PROVENANCE}/versions.tsv",
    output:
        report(
            f"{RESULTS}/report/summary.html",
            caption="../report/provenance_summary.rst",
            category="Summary",
        ),
    log:
        f"{LOGS}/provenance/summary.log",
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        results=RESULTS,
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
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        results=RESULTS,
    script:
        "../scripts/provenance_manifest.py"
