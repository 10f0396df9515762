# Config and cohort-sheet validation, wildcard constraints and input functions.
# Everything here runs when Snakemake parses the workflow, i.e. before any job starts.

import re
import sys
from pathlib import Path

import yaml

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")

# The workflow always uses the library of its own checkout (scripts do the same through
# workflow/scripts/_markerflow_path.py).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from markerflow.errors import InputError  # noqa: E402
from markerflow.io.study import (  # noqa: E402
    check_study,
    read_cohort_sheet,
    study_warnings,
)

from markerflow.io.config_check import (  # noqa: E402
    check_cohort_ids,
    check_config,
    check_output_collisions,
    check_inputs_outside_outputs,
    longest_suffix,
    workflow_words,
)

# Schema first (types, ranges, enums, unknown keys; fills the schema defaults into a user config
# that leaves keys out), then what a schema cannot express (io/config_check.py): integers given
# as floats, non-finite numbers, seed range, labels that cannot round-trip, output places.
CONFIG_SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
validate(config, schema="../schemas/config.schema.yaml")
try:
    with open(CONFIG_SCHEMA, encoding="utf-8") as _handle:
        OUTPUT_PLACES = check_config(
            config,
            yaml.safe_load(_handle),
            code_dirs=[
                Path(workflow.basedir) / "workflow",
                Path(workflow.basedir) / "src",
                ".snakemake",
            ],
        )
except InputError as error:
    raise WorkflowError(f"markerflow: the config is invalid.\n{error}") from None

# --- provenance (issue 8) ---------------------------------------------------------------------
from markerflow.stages.provenance import (
    sort_config_in_place,
    verify_checksums,
)  # noqa: E402

# Sorted keys: params (compared by repr) are then identical in a run from config.yaml and in a
# rerun from the sorted frozen config.
sort_config_in_place(config)
# A frozen config (results/provenance/config.frozen.yaml) lists the sha256 of every input file:
# verify them now, before any job runs.
if config.get("checksums"):
    try:
        verify_checksums(config["checksums"])
    except InputError as error:
        raise WorkflowError(
            f"markerflow: the input files are not those of the frozen run.\n{error}"
        ) from None
# --- end provenance ---------------------------------------------------------------------------

try:
    COHORT_SHEET = read_cohort_sheet(config["cohorts"])
    validate(COHORT_SHEET, schema="../schemas/cohorts.schema.yaml")
    SPECS = {spec.cohort: spec for spec in check_study(config, COHORT_SHEET)}
    check_inputs_outside_outputs(
        {
            **{
                f"cohort {s.cohort}: `{key}`": path
                for s in SPECS.values()
                for key, path in (
                    ("matrix", s.matrix),
                    ("samples", s.samples),
                    ("annotation", s.annotation),
                )
                if path
            },
            **{
                f"config enrichment.libraries.{name}": path
                for name, path in config["enrichment"]["libraries"].items()
            },
        },
        OUTPUT_PLACES,
    )
except InputError as error:
    raise WorkflowError(
        f"markerflow: the study definition is invalid.\n{error}"
    ) from None
# Not errors: shown now and listed in the report (rule guards, results/guards/warnings.tsv).
STUDY_WARNINGS = study_warnings(list(SPECS.values()))
for _warning in STUDY_WARNINGS:
    print(f"markerflow warning: {_warning}", file=sys.stderr)
print(
    f"markerflow: results are written to {OUTPUT_PLACES['results']}; GEO downloads are "
    f"cached in {OUTPUT_PLACES['geo.cache_dir']}",
    file=sys.stderr,
)


def check_workflow_names():
    """Cohort IDs against the words of the workflow's own paths and rule names (called at the end
    of the Snakefile, when every rule is defined, before the DAG is built)."""
    patterns, outputs = [], []
    for r in workflow.rules:
        outputs += list(map(str, r.output))
        for files in (r.output, r.log):
            for path in map(str, files):
                for prefix in (f"{RESULTS}/", f"{GEO_CACHE}/"):
                    if path.startswith(prefix):
                        path = path[len(prefix) :]
                patterns.append(path)
    try:
        check_output_collisions(outputs, list(SPECS))
        check_cohort_ids(
            list(SPECS),
            workflow_words(patterns, [r.name for r in workflow.rules], SPECS),
            suffix_bytes=longest_suffix(patterns),
        )
    except InputError as error:
        raise WorkflowError(
            f"markerflow: the study definition is invalid.\n{error}"
        ) from None


COHORTS = COHORT_SHEET
RESULTS = config["results"]
LOGS = f"{RESULTS}/logs"
STUDY = config["study"]
CASE = STUDY["case_label"]
CONTROL = STUDY["control_label"]


def cohort_ids(role=None, data_type=None):
    return [
        c
        for c, s in SPECS.items()
        if (role is None or s.role == role)
        and (data_type is None or s.data_type == data_type)
    ]


DISCOVERY = cohort_ids(role="discovery")
VALIDATION = cohort_ids(role="validation")
ANALYSES = DISCOVERY + ["meta"] if len(DISCOVERY) > 1 else DISCOVERY
if len(DISCOVERY) > 1 and not config["enrichment"]["per_cohort"]:
    ANALYSES = ["meta"]  # enrichment of the meta-analysis only (many cohorts)


def cohort_inputs(wildcards):
    """Matrix (downloaded for source `geo`) and, when given, sample sheet of a cohort."""
    spec = SPECS[wildcards.cohort]
    if spec.source == "geo" and spec.data_type == "counts":
        files = geo_rnaseq_files(spec.accession)
        inputs = {"matrix": files["counts"], "series": files["matrix"]}
    elif spec.source == "geo":
        inputs = {"matrix": geo_download_files(spec.accession, spec.platform)["matrix"]}
    elif spec.source in ("soft", "gds") and spec.matrix is None:
        inputs = {"matrix": f"{GEO_CACHE}/{spec.accession}/soft/{spec.accession}.soft.gz"}
    elif spec.source == "tximport":
        inputs = {
            "matrix": f"{RESULTS}/ingest/{wildcards.cohort}/tximport_counts.parquet"
        }
    else:
        inputs = {"matrix": spec.matrix}
    if spec.samples:
        inputs["samples"] = spec.samples
    return inputs


def tximport_inputs(wildcards):
    """The quantification files (found in the cohort's folder now) and the tx2gene table."""
    from markerflow.io.quant import find_quant_files

    spec = SPECS[wildcards.cohort]
    files = find_quant_files(spec.matrix, spec.quant_type)
    return {"quant": [str(f) for f in files.values()], "tx2gene": spec.tx2gene}


def annotation_input(wildcards):
    """The sheet's annotation table; for a GEO download without one, the downloaded GPL table."""
    spec = SPECS[wildcards.cohort]
    if spec.annotation:
        return {"annotation": spec.annotation}
    if spec.source in ("soft", "gds"):
        return {"annotation": f"{RESULTS}/ingest/{wildcards.cohort}/soft_annotation.tsv.gz"}
    if spec.source == "geo" and spec.data_type == "counts":
        return {"annotation": geo_rnaseq_files(spec.accession)["annotation"]}
    if spec.source == "geo" and spec.data_type == "array":
        return {
            "annotation": geo_download_files(spec.accession, spec.platform)[
                "annotation"
            ]
        }
    return {}


def log2_mode(cohort):
    return SPECS[cohort].log2 or config["qc"]["log2"]


def per_cohort_outputs():
    outputs = []
    for cohort in SPECS:
        outputs += [
            f"{RESULTS}/qc/{cohort}/summary.tsv",
            f"{RESULTS}/qc/{cohort}/pca.png",
            f"{RESULTS}/de/{cohort}/de.tsv",
            f"{RESULTS}/de/{cohort}/volcano.png",
            f"{RESULTS}/de/{cohort}/summary.tsv",
        ]
    return outputs


def study_outputs():
    merge = [
        f"{RESULTS}/merge/{name}"
        for name in (
            "expression.parquet",
            "batch_mixing.tsv",
            "pca_before.png",
            "pca_after.png",
        )
    ]
    enrichment = [
        f"{RESULTS}/enrichment/{analysis}/{library}_{kind}"
        for analysis in ANALYSES
        for library in config["enrichment"]["libraries"]
        for kind in ("ora.tsv", "gsea.tsv", "ora_dotplot.png", "gsea_plot.png")
    ]
    meta = [f"{RESULTS}/meta/meta.tsv", f"{RESULTS}/meta/forest_top.png"]
    candidates = [f"{RESULTS}/candidates/candidates.tsv"]
    signature = [
        f"{RESULTS}/signature/{name}"
        for name in (
            "signature.tsv",
            "signature.frozen.json",
            "performance.tsv",
            "roc.png",
            "heatmap.png",
        )
    ]
    guards = [f"{RESULTS}/guards/warnings.tsv"]
    performance = [
        f"{RESULTS}/performance/{name}"
        for name in (
            "clinical.tsv",
            "predictive_values.tsv",
            "reference_signatures.tsv",
            "summary_roc.tsv",
            "summary_roc.png",
        )
    ] + [f"{RESULTS}/performance/{cohort}.png" for cohort in VALIDATION]
    # nothing external to evaluate without validation cohorts (the report says "in-sample only")
    if not VALIDATION:
        performance = []
    # leave-one-discovery-cohort-out (validation.smk), with two or more discovery cohorts
    validation = [
        f"{RESULTS}/validation/{name}"
        for name in ("out_of_cohort.tsv", "rank_stability.tsv")
        if len(DISCOVERY) > 1
    ]
    return (
        merge
        + meta
        + enrichment
        + candidates
        + signature
        + guards
        + performance
        + validation
    )


def all_outputs():
    """Targets of the `all` rule - per-cohort outputs and each stage's study-level outputs."""
    return per_cohort_outputs() + study_outputs()


# --- GEO downloads (rule geo_download in resources.smk) ---
GEO = config["geo"]
GEO_CACHE = GEO["cache_dir"]


def geo_fetch_settings(cache_dir):
    """FetchSettings fields from config `geo:` (cache_dir as the rule's output implies)."""
    keys = ("base_url", "retries", "timeout_s", "backoff_s", "rnaseq_url",
            "rnaseq_counts_file", "rnaseq_annotation_file")  # fmt: skip
    return {**{k: GEO[k] for k in keys}, "cache_dir": cache_dir}


def geo_rnaseq_files(accession):
    """Paths written by `geo_rnaseq_download` for an RNA-seq series."""
    root = f"{GEO_CACHE}/{accession}/rnaseq"
    return {
        "matrix": f"{root}/series_matrix.txt.gz",
        "counts": f"{root}/counts.tsv.gz",
        "annotation": f"{root}/annotation.tsv.gz",
        "checksums": f"{root}/checksums.tsv",
    }


def geo_download_files(accession, platform=None):
    """Paths written by `geo_download` for a cohort's GSE (and GPL of a multi-platform series)."""
    key = f"{accession}-{platform}" if platform else accession
    return {
        "matrix": f"{GEO_CACHE}/{key}/series_matrix.txt.gz",
        "annotation": f"{GEO_CACHE}/{key}/annotation.tsv.gz",
        "checksums": f"{GEO_CACHE}/{key}/checksums.tsv",
    }


# --- enrichment (rule enrichment in enrichment.smk) ---

ENRICHMENT_LIBRARIES = dict(config["enrichment"]["libraries"])

# DE tables and the meta-analysis table name their columns differently.
ENRICHMENT_COLUMNS = {
    "de": {
        "gene_col": "gene",
        "stat_col": "stat",
        "lfc_col": "log2fc",
        "padj_col": "padj",
    },
    "meta": {
        "gene_col": "gene",
        "stat_col": "pooled_z",
        "lfc_col": "pooled_effect",
        "padj_col": "fdr",
    },
}


def enrichment_table(wildcards):
    if wildcards.analysis == "meta":
        return f"{RESULTS}/meta/meta.tsv"
    return f"{RESULTS}/de/{wildcards.analysis}/de.tsv"


def enrichment_columns(wildcards):
    return ENRICHMENT_COLUMNS["meta" if wildcards.analysis == "meta" else "de"]


# --- leave-one-cohort-out folds (validation.smk) and the validate rule (signature.smk) ---


def loco_training(wildcards):
    return [c for c in DISCOVERY if c != wildcards.heldout]


def loco_inputs(wildcards):
    """The fold's training cohorts' DE tables, matrices and sheets; the held-out cohort's matrix
    and sheet (read only after the fold's signature is frozen); the gene-set libraries.
    """
    train = loco_training(wildcards)
    return {
        "de": [f"{RESULTS}/de/{c}/de.tsv" for c in train],
        "expression": [f"{RESULTS}/de/{c}/normalized.parquet" for c in train],
        "samples": [f"{RESULTS}/ingest/{c}/samples.tsv" for c in train],
        "gmt": list(ENRICHMENT_LIBRARIES.values()),
        "heldout_expression": f"{RESULTS}/de/{wildcards.heldout}/normalized.parquet",
        "heldout_samples": f"{RESULTS}/ingest/{wildcards.heldout}/samples.tsv",
    }


def signature_validate_inputs(wildcards):
    inputs = {
        # the near-duplicate guard must pass before any performance is written
        "guards": f"{RESULTS}/guards/warnings.tsv",
        "frozen": f"{RESULTS}/signature/signature.frozen.json",
        "signature": f"{RESULTS}/signature/signature.tsv",
        "discovery": [f"{RESULTS}/de/{c}/normalized.parquet" for c in DISCOVERY],
        "discovery_samples": [f"{RESULTS}/ingest/{c}/samples.tsv" for c in DISCOVERY],
        "validation": [f"{RESULTS}/de/{c}/normalized.parquet" for c in VALIDATION],
        "validation_samples": [f"{RESULTS}/ingest/{c}/samples.tsv" for c in VALIDATION],
    }
    if len(DISCOVERY) > 1:
        inputs["out_of_cohort"] = f"{RESULTS}/validation/out_of_cohort.tsv"
    return inputs
