# Memory and runtime requests of every rule, from the size of the data a job uses (issue 20).
#
# One model for every rule:  request = base + per_mb x MB + per_cohort x cohorts, where MB is the
# summed "float64 MB" (cells x 8 / 1e6) of the *source* matrices of the cohorts the job uses
# (markerflow.io.sizes.matrix_mb: Parquet footers exactly, text files from their size) and
# cohorts is how many there are. Both are known when the workflow is parsed, from the cohort sheet,
# so a dry run (`snakemake -n --profile profiles/slurm`) shows numeric requests for every job,
# also for jobs whose inputs earlier jobs have not written yet (Snakemake's `input.size_mb`
# is <TBD> for those). The factors are fitted to the peak RSS and wall time of every job of the
# example and of a generated 20-cohort x 200-sample study (Snakemake `benchmark:` files); see
# docs/scaling.md ("Resources per rule") for the data and the fit.
#
# Used in each rule's `resources:` block, e.g.
#     mem_mb=scaled_mem(500, 6.5),                           # the wildcard's cohort
#     mem_mb=scaled_mem(650, {"array": 2.5, "counts": 6.5}), # factor by data type
#     runtime=scaled_runtime(10, 0.01),                      # minutes
#     mem_mb=scaled_mem(600, 3.2, cohorts="discovery"),      # study-level: the comparison's
#                                                            # discovery cohorts


import math

from markerflow.io.sizes import matrix_mb


def source_matrix(spec):
    """The file (or quantification folder) holding a cohort's values before any job runs; None
    for a GEO download whose file is not cached yet (sized as DEFAULT_MB then)."""
    if spec.source == "geo" and spec.data_type == "counts":
        return geo_rnaseq_files(spec.accession)["counts"]
    if spec.source == "geo":
        return geo_download_files(spec.accession, spec.platform)["matrix"]
    if spec.source in ("soft", "gds") and spec.matrix is None:
        return f"{GEO_CACHE}/{spec.accession}/soft/{spec.accession}.soft.gz"
    return spec.matrix


#: cohort -> float64 MB of its source matrix (read once, when the workflow is parsed)
COHORT_MB = {c: matrix_mb(source_matrix(s)) for c, s in SPECS.items()}
#: cohort -> samples: its phenotype table's rows (read by common.smk), else (a GEO download not
#: yet cached) estimated as source MB / 0.4375 (a 54,675-probe float64 column)
COHORT_SAMPLES = {
    c: len(PHENOTYPES[c]) if PHENOTYPES[c] is not None else round(COHORT_MB[c] / 0.4375)
    for c in SPECS
}


def job_cohorts(wildcards, cohorts):
    """The cohorts a job uses: `cohort` (the wildcard's), `discovery` (the comparison's
    discovery cohorts), `serving` (every cohort serving the comparison) or `all`."""
    if cohorts == "cohort":
        return [wildcards.cohort]
    if cohorts == "discovery":
        return discovery(wildcards.comparison)
    if cohorts == "serving":
        return list(PLAN.cohorts[wildcards.comparison])
    if cohorts == "all":
        return list(SPECS)
    raise ValueError(f"job_cohorts: unknown selection {cohorts!r}")


def job_size(wildcards, cohorts, per_mb, per_cohort, extra=None):
    """per_mb x the summed source MB + per_cohort x the number of the job's cohorts; per_mb is
    a number or a mapping data type -> factor (`{"array": 2.5, "counts": 6.5}`). ``extra``:
    per_largest_mb (x the largest cohort's source MB), per_sample (x total samples N) and
    per_sample2 (x N^2, with N capped at sample2_cap when given), for the out-of-core merge and
    candidates (one cohort at a time, plus samples x samples Gram matrices; above the cap the
    merge's PCA is block Krylov, whose bases grow with N: per_sample)."""
    extra = extra or {}
    if not (per_mb or per_cohort or any(extra.values())):
        return 0.0
    used = job_cohorts(wildcards, cohorts)
    factor = per_mb.__getitem__ if isinstance(per_mb, dict) else lambda _type: per_mb
    n = sum(COHORT_SAMPLES[c] for c in used)
    return (
        sum(COHORT_MB[c] * factor(SPECS[c].data_type) for c in used)
        + per_cohort * len(used)
        + extra.get("per_largest_mb", 0) * max(COHORT_MB[c] for c in used)
        + extra.get("per_sample", 0) * n
        + extra.get("per_sample2", 0) * min(n, extra.get("sample2_cap", n)) ** 2
    )


def scaled_mem(base_mb, per_mb=0.0, per_cohort=0.0, cohorts="cohort", **extra):
    """`mem_mb` callable: base_mb + per_mb x source MB + per_cohort x cohorts, rounded up to
    100 MB. base_mb includes the ~200 MB of the snakemake process a cluster job runs in.
    """
    return lambda wildcards: int(
        100
        * math.ceil(
            (base_mb + job_size(wildcards, cohorts, per_mb, per_cohort, extra)) / 100
        )
    )


def scaled_runtime(base_min, per_mb=0.0, per_cohort=0.0, cohorts="cohort"):
    """`runtime` callable (minutes): base_min + per_mb x source MB + per_cohort x cohorts."""
    return lambda wildcards: int(
        math.ceil(base_min + job_size(wildcards, cohorts, per_mb, per_cohort))
    )
