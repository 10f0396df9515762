# Config and cohort-sheet validation, wildcard constraints and input functions.
# Everything here runs when Snakemake parses the workflow, i.e. before any job starts.

import re
import sys
from pathlib import Path

import yaml

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import min_version, validate

min_version("9.0")

# The workflow always uses the library of its own checkout (scripts do the same through
# workflow/scripts/_markerflow_path.py).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from markerflow.contracts import native_kind  # noqa: E402
from markerflow.errors import InputError  # noqa: E402
from markerflow.io.study import (  # noqa: E402
    check_study,
    load_phenotypes,
    read_cohort_sheet,
    study_warnings,
)
from markerflow.model.comparisons import (  # noqa: E402
    check_plan_designs,
    cohort_levels,
    comparisons_from_config,
    level_map,
    model_level_order,
    plan_comparisons,
    sheet_levels,
    study_levels,
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

# --- comparisons (issue 16) -------------------------------------------------------------------
# Each comparison (config `comparisons:`, or one <case_label>_vs_<control_label>) runs DE and every
# later stage under results/<comparison>/. The cohorts serving each are decided now, from the
# sheet's level mapping and the phenotypes read by check_study; the others are skipped with a
# reason (printed here, written to results/<comparison>/skipped_cohorts.tsv for the report).


#: cohort -> its raw phenotype table (None: downloaded later), read once before any job
PHENOTYPES = {c: load_phenotypes(s) for c, s in SPECS.items()}


def _raw_conditions(spec):
    pheno = PHENOTYPES[spec.cohort]
    if pheno is None:
        return None  # downloaded later: decided from the mapping alone
    return pheno[spec.condition_column].dropna().tolist()


def _sheet_levels(cohort):
    """The sheet's `condition_levels` cell of a cohort (None when empty or absent)."""
    rows = COHORT_SHEET.to_dict("records")
    cell = next(
        (r.get("condition_levels") for r in rows if str(r["cohort"]) == cohort), None
    )
    return cell if isinstance(cell, str) and cell.strip() else None


def _level_map(spec):
    """Normalised raw condition value -> level: the spec's own mapping (io.study) when it has
    one, else model.comparisons.level_map on the sheet's `condition_levels` cell."""
    if hasattr(spec, "level_map"):
        return spec.level_map(CASE, CONTROL)
    return level_map(spec, CASE, CONTROL, _sheet_levels(spec.cohort))


#: cohort -> the study levels it has samples of (all mapped levels when not yet downloaded)
COHORT_LEVELS = {
    c: cohort_levels(_level_map(s), _raw_conditions(s)) for c, s in SPECS.items()
}
try:
    COMPARISONS = {c.name: c for c in comparisons_from_config(config)}
    PLAN = plan_comparisons(
        list(COMPARISONS.values()),
        COHORT_LEVELS,
        {c: s.role for c, s in SPECS.items()},
    )
except InputError as error:
    raise WorkflowError(
        f"markerflow: the study's comparisons are invalid.\n{error}"
    ) from None
for _message in PLAN.messages():
    print(f"markerflow: {_message}", file=sys.stderr)

#: the study's level order (cohort sheet order; a case_values/control_values row gives
#: control, case): its first level present in a cohort is the reference of the cohort's one fit
STUDY_LEVELS = study_levels(sheet_levels(s, CASE, CONTROL) for s in SPECS.values())
# Each (comparison, serving cohort) design as it is fitted in DE, pools recoded. Unknown
# formula column, level without samples, rank deficiency, subject on both sides stop here.
try:
    check_plan_designs(PLAN, SPECS, PHENOTYPES, STUDY_LEVELS, CASE, CONTROL)
except InputError as error:
    raise WorkflowError(f"markerflow: the study design is invalid.\n{error}") from None


#: cohorts with >= 3 condition levels: the test across all levels, results/de_ftest/<cohort>/
FTEST_COHORTS = [c for c in SPECS if len(COHORT_LEVELS[c]) >= 3]


def model_levels_of(wildcards):
    """The study level order as the wildcard comparison's model sees it (pools recoded)."""
    return model_level_order(STUDY_LEVELS, COMPARISONS[wildcards.comparison])


#: results/<comparison>: the folder of every stage from DE on (wildcard `comparison`)
CMP = f"{RESULTS}/{{comparison}}"
# Jobs on the merge's path (ingest, tximport, genes, de, merge) run before ready jobs off it
# (enrichment, figures of later stages): the merge is the longest serial job (22 min at 100
# cohorts x 500 samples), so it starts as soon as the last de job ends and the per-cohort
# enrichment jobs fill the other cores beside it, instead of the merge running alone at the end
# (issue 20). Snakemake's greedy and ILP schedulers both rank ready jobs by priority first.
MERGE_PATH_PRIORITY = 1


def drop_local_job_rate_limit():
    """Turn off Snakemake's job rate limit in a local run (the Snakefile's ``onstart``).

    Snakemake (9.27) starts a timer after every scheduler pass when a rate limit is set, and the
    CLI always sets one (``--max-jobs-per-timespan``, default 100/1s). Each timer starts one more
    pass, so every finished job adds a pass per timespan for the rest of the run, and each pass
    re-evaluates the resources and stats the inputs of every ready job. At 100 cohorts that took
    the scheduler most of a core by the end (docs/scaling.md, issue 20). The local executor
    never runs more than ``--cores`` jobs, so the limit paces nothing there; without it a pass
    runs when a job finishes, and the run ends without waiting for a last timer. Cluster runs keep
    the limit: it paces submissions to the controller (profiles/slurm)."""
    scheduler = getattr(workflow, "scheduler", None)
    if not workflow.local_exec or getattr(scheduler, "job_rate_limiter", None) is None:
        return
    scheduler.job_rate_limiter = None
    logger.info(
        "local run: Snakemake's job rate limit is off (it paces only cluster submissions)"
    )


def cohort_ids(role=None, data_type=None, comparison=None):
    """Cohorts in sheet order; with ``comparison``, only those serving it."""
    serving = SPECS if comparison is None else PLAN.cohorts[comparison]
    return [
        c
        for c in serving
        if (role is None or SPECS[c].role == role)
        and (data_type is None or SPECS[c].data_type == data_type)
    ]


def discovery(comparison):
    return cohort_ids(role="discovery", comparison=comparison)


def validation(comparison):
    return cohort_ids(role="validation", comparison=comparison)


def analyses(comparison):
    """Enrichment analyses of a comparison: its discovery cohorts and/or the meta-analysis."""
    found = discovery(comparison)
    if len(found) > 1 and not config["enrichment"]["per_cohort"]:
        return ["meta"]  # enrichment of the meta-analysis only (many cohorts)
    return found + ["meta"] if len(found) > 1 else found


def candidate_analysis(comparison):
    """Enrichment of the study-level analysis: the meta-analysis, or the one discovery cohort."""
    found = discovery(comparison)
    return "meta" if len(found) > 1 else found[0]


def comparison_params(wildcards):
    return COMPARISONS[wildcards.comparison].as_params()


def case_of(wildcards):
    return COMPARISONS[wildcards.comparison].case


def control_of(wildcards):
    return COMPARISONS[wildcards.comparison].control


def de_files(comparison, cohorts, name):
    """``results/<comparison>/de/<cohort>/<name>`` of each cohort (de.tsv, normalized.parquet,
    samples.tsv: the comparison's two-level sample sheet)."""
    return [f"{RESULTS}/{comparison}/de/{c}/{name}" for c in cohorts]


def discovery_files(name):
    """Input function: a DE-folder file of each discovery cohort of the wildcard's comparison."""
    return lambda w: de_files(w.comparison, discovery(w.comparison), name)


def validation_files(name):
    return lambda w: de_files(w.comparison, validation(w.comparison), name)


def cohort_inputs(wildcards):
    """Matrix (downloaded for source `geo`) and, when given, sample sheet of a cohort."""
    spec = SPECS[wildcards.cohort]
    if spec.source == "geo" and spec.data_type == "counts":
        files = geo_rnaseq_files(spec.accession)
        inputs = {"matrix": files["counts"], "series": files["matrix"]}
    elif spec.source == "geo":
        inputs = {"matrix": geo_download_files(spec.accession, spec.platform)["matrix"]}
    elif spec.source in ("soft", "gds") and spec.matrix is None:
        inputs = {
            "matrix": f"{GEO_CACHE}/{spec.accession}/soft/{spec.accession}.soft.gz"
        }
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
        return {
            "annotation": f"{RESULTS}/ingest/{wildcards.cohort}/soft_annotation.tsv.gz"
        }
    if spec.source == "geo" and spec.data_type == "counts":
        return {"annotation": geo_rnaseq_files(spec.accession)["annotation"]}
    if spec.source == "geo" and spec.data_type == "array":
        return {
            "annotation": geo_download_files(spec.accession, spec.platform)[
                "annotation"
            ]
        }
    return {}


def tximport_length_inputs(wildcards):
    """DESeq2 offsets of a cohort from quantifications (countsFromAbundance "no"): the tximport
    lengths, the ingested counts (weights when IDs merge) and the genes stage's mapping tables.
    """
    from markerflow.stages.tximport import uses_lengths

    spec = SPECS[wildcards.cohort]
    if not (
        spec.source == "tximport"
        and uses_lengths(spec.counts_from_abundance)
        and config["de"]["counts"]["method"] == "deseq2"
    ):
        return {}
    root = f"{RESULTS}/ingest/{wildcards.cohort}"
    return {
        "tx_lengths": f"{root}/tx_lengths.parquet",
        "feature_counts": f"{root}/expression.parquet",
        **annotation_input(wildcards),
        **symbol_table_input(wildcards),
    }


def symbol_table_input(wildcards):
    """The alias table for symbol harmonisation, when `genes.harmonise_symbols` is on."""
    if config["genes"]["harmonise_symbols"]:
        return {"symbol_table": config["genes"]["symbol_table"]}
    return {}


def log2_mode(cohort):
    return SPECS[cohort].log2 or config["qc"]["log2"]


def per_cohort_outputs():
    """QC per cohort (comparison-independent), the F-test/LRT of each cohort with >= 3 levels,
    and DE per (comparison, serving cohort)."""
    outputs = []
    for cohort in SPECS:
        outputs += [
            f"{RESULTS}/qc/{cohort}/summary.tsv",
            f"{RESULTS}/qc/{cohort}/pca.png",
        ]
    # the test across all levels of a cohort with >= 3 levels (one per cohort, not per comparison)
    outputs += [f"{RESULTS}/de_ftest/{cohort}/ftest.tsv" for cohort in FTEST_COHORTS]
    for comparison in COMPARISONS:
        for cohort in PLAN.cohorts[comparison]:
            outputs += [
                f"{RESULTS}/{comparison}/de/{cohort}/{name}"
                for name in (
                    "de.tsv",
                    native_de_name(cohort),
                    "volcano.png",
                    "heatmap_top.png",
                    "sample_distances.png",
                    "summary.tsv",
                )
            ]
    return outputs


def native_de_name(cohort):
    """``de.limma.tsv`` or ``de.deseq2.tsv``: the cohort's DE table in R's columns (tables.smk)."""
    kind = native_kind(SPECS[cohort].data_type, config["de"]["counts"]["method"])
    return f"de.{kind}.tsv"


def workbook_tables():
    """The tables of results/tables.xlsx (input of tables_workbook), per comparison: each cohort's
    native DE table, the meta-analysis, the candidates, the enrichment tables (clusterProfiler's
    ORA columns, GSEA), the signature and its performance, and the external performance tables.
    """
    tables = []
    for comparison in COMPARISONS:
        top = f"{RESULTS}/{comparison}"
        tables += [
            f"{top}/de/{c}/{native_de_name(c)}" for c in PLAN.cohorts[comparison]
        ]
        tables += [f"{top}/meta/meta.tsv", f"{top}/candidates/candidates.tsv"]
        tables += [
            f"{top}/enrichment/{analysis}/{library}_{kind}"
            for analysis in analyses(comparison)
            for library in config["enrichment"]["libraries"]
            for kind in ("ora_clusterprofiler.tsv", "gsea.tsv")
        ]
        tables += [f"{top}/signature/{n}" for n in ("signature.tsv", "performance.tsv")]
        outputs = study_outputs(comparison)
        tables += [
            path
            for path in outputs
            if path.startswith(f"{top}/performance/") and path.endswith(".tsv")
        ]
    return tables


def study_outputs(comparison):
    """Every stage's study-level outputs of one comparison."""
    top = f"{RESULTS}/{comparison}"
    disc, val = discovery(comparison), validation(comparison)
    merge = [
        f"{top}/merge/{name}"
        for name in (
            "expression.parquet",
            "batch_mixing.tsv",
            "pca_before.png",
            "pca_after.png",
        )
    ]
    enrichment = [
        f"{top}/enrichment/{analysis}/{library}_{kind}"
        for analysis in analyses(comparison)
        for library in config["enrichment"]["libraries"]
        for kind in (
            "ora.tsv",
            "ora_clusterprofiler.tsv",
            "gsea.tsv",
            "ora_dotplot.png",
            "gsea_plot.png",
        )
    ]
    meta = [f"{top}/meta/meta.tsv", f"{top}/meta/forest_top.png"]
    candidates = [f"{top}/candidates/candidates.tsv"]
    signature = [
        f"{top}/signature/{name}"
        for name in (
            "signature.tsv",
            "signature.frozen.json",
            "performance.tsv",
            "roc.png",
            "heatmap.png",
        )
    ]
    guards = [f"{top}/guards/warnings.tsv"]
    performance = [
        f"{top}/performance/{name}"
        for name in (
            "clinical.tsv",
            "predictive_values.tsv",
            "reference_signatures.tsv",
            "summary_roc.tsv",
            "summary_roc.png",
        )
    ] + [f"{top}/performance/figures"]
    # nothing external to evaluate without validation cohorts (the report says "in-sample only")
    if not val:
        performance = []
    # leave-one-discovery-cohort-out (validation.smk), with two or more discovery cohorts
    loco = [
        f"{top}/validation/{name}"
        for name in ("out_of_cohort.tsv", "rank_stability.tsv")
        if len(disc) > 1
    ]
    return (
        [f"{top}/skipped_cohorts.tsv"]
        + merge
        + meta
        + enrichment
        + candidates
        + signature
        + guards
        + performance
        + loco
    )


def all_outputs(workbook=True):
    """Targets of the `all` rule - per-cohort outputs and each comparison's study-level outputs,
    and (``workbook``) results/tables.xlsx: the summary page and the versions table do not read
    it, so they run beside the workbook job instead of after it."""
    outputs = per_cohort_outputs()
    for comparison in COMPARISONS:
        outputs += study_outputs(comparison)
    return outputs + ([f"{RESULTS}/tables.xlsx"] if workbook else [])


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

#: library name -> the GMT file as configured
ENRICHMENT_SOURCES = dict(config["enrichment"]["libraries"])
#: library name -> the GMT the analyses read: with `genes.harmonise_symbols`, the library with its
#: members brought to current symbols (rule genesets), so it matches the harmonised expression data
ENRICHMENT_LIBRARIES = {
    name: (
        f"{RESULTS}/genesets/{name}.gmt"
        if config["genes"]["harmonise_symbols"]
        else path
    )
    for name, path in ENRICHMENT_SOURCES.items()
}

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
        return f"{RESULTS}/{wildcards.comparison}/meta/meta.tsv"
    return f"{RESULTS}/{wildcards.comparison}/de/{wildcards.analysis}/de.tsv"


def enrichment_columns(wildcards):
    return ENRICHMENT_COLUMNS["meta" if wildcards.analysis == "meta" else "de"]


def enrichment_outputs(kind, caption=None, figure=None):
    """The rule enrichment's files of one kind, one per library in config order; a figure is a
    report() entry labelled with its library."""
    paths = [
        f"{CMP}/enrichment/{{analysis}}/{library}_{kind}"
        for library in ENRICHMENT_LIBRARIES
    ]
    if caption is None:
        return paths
    entry = report  # (snakefmt reads a line starting with `report` as the directive)
    return [
        entry(
            path,
            caption=caption,
            category="{comparison}",
            subcategory="Enrichment: {analysis}",
            labels={"library": library, "figure": figure},
        )
        for path, library in zip(paths, ENRICHMENT_LIBRARIES)
    ]


# --- leave-one-cohort-out folds (validation.smk) and the validate rule (signature.smk) ---


def loco_training(wildcards):
    return [c for c in discovery(wildcards.comparison) if c != wildcards.heldout]


def loco_inputs(wildcards):
    """The fold's training cohorts' columnar summaries (de.parquet, genes.parquet), matrices (only
    rows are read) and sheets; the held-out cohort's genes.parquet, matrix and sheet (read only
    after the fold's signature is frozen); the gene-set libraries.
    """
    train = loco_training(wildcards)
    comparison, heldout = wildcards.comparison, [wildcards.heldout]
    return {
        "de": de_files(comparison, train, "de.parquet"),
        "genes": de_files(comparison, train, "genes.parquet"),
        "expression": de_files(comparison, train, "normalized.parquet"),
        "samples": de_files(comparison, train, "samples.tsv"),
        "gmt": list(ENRICHMENT_LIBRARIES.values()),
        "heldout_genes": de_files(comparison, heldout, "genes.parquet")[0],
        "heldout_expression": de_files(comparison, heldout, "normalized.parquet")[0],
        "heldout_samples": de_files(comparison, heldout, "samples.tsv")[0],
    }


def signature_validate_inputs(wildcards):
    comparison = wildcards.comparison
    top = f"{RESULTS}/{comparison}"
    disc, val = discovery(comparison), validation(comparison)
    inputs = {
        # the near-duplicate guard must pass before any performance is written
        "guards": f"{top}/guards/warnings.tsv",
        "frozen": f"{top}/signature/signature.frozen.json",
        "signature": f"{top}/signature/signature.tsv",
        "discovery": de_files(comparison, disc, "normalized.parquet"),
        "discovery_samples": de_files(comparison, disc, "samples.tsv"),
        "validation": de_files(comparison, val, "normalized.parquet"),
        "validation_samples": de_files(comparison, val, "samples.tsv"),
    }
    if len(disc) > 1:
        inputs["out_of_cohort"] = f"{top}/validation/out_of_cohort.tsv"
    return inputs


# --- candidates (candidates.smk) and the LOCO gather (validation.smk) ---


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


def chain_settings_of(wildcards):
    """The chain's settings with the comparison's case and control levels."""
    comparison = COMPARISONS[wildcards.comparison]
    return {
        **CHAIN_SETTINGS,
        "case_label": comparison.case,
        "control_label": comparison.control,
    }


def loco_files(name):
    return lambda w: [
        f"{RESULTS}/{w.comparison}/validation/loco/{heldout}/{name}"
        for heldout in discovery(w.comparison)
    ]
