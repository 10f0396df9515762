"""RNA-seq count cohorts: reading, validation, ID mapping, low-count filter, DESeq2 and VST.

Methods and references
- Differential expression: DESeq2 (Love, Huber & Anders 2014, Genome Biology 15:550), R package
  1.38 defaults: median-of-ratios size factors, gene-wise dispersions with Cox-Reid adjustment,
  parametric dispersion trend, MAP shrinkage, Wald test on the condition coefficient, Cook's
  distance outlier filtering / replacement (>= 7 replicates), independent filtering on the mean of
  normalised counts (Bourgon et al. 2010) and BH adjustment. Computed by
  :mod:`markerflow.engines.deseq2`, a vectorised re-implementation of R's code path (parity with R
  in tests/test_counts_parity.py); ``engine="pydeseq2"`` runs pydeseq2 0.5.4's DeseqDataSet instead.
- Variance-stabilising transformation: DESeq2 ``varianceStabilizingTransformation`` (parametric
  trend, ``blind=True`` by default: dispersions fitted with an intercept-only design).
- Low-count filter: the DESeq2 vignette's pre-filter (a gene is kept if at least
  ``smallest group size`` samples have a count >= 10).

Design of the DE model: ``~ [batch +] covariates + condition`` with the control level as
reference, built by :func:`markerflow.model.design.build_design` (the same rule as for arrays:
numeric covariates standardised, categorical ones treatment-coded, a covariate with missing values
or a single value dropped with a warning naming the samples, recorded in the table's
``attrs["deseq2"]["dropped_covariates"]``; a confounded batch or covariate is an
:class:`~markerflow.errors.InputError` naming the column and the samples).

DE table (``markerflow.contracts.DE_COLUMNS`` first): ``log2fc`` = DESeq2 log2FoldChange (MLE, no
shrinkage), ``ave_expr`` = mean of the VST values of the gene over the samples tested (log2 scale,
comparable to limma's AveExpr), ``stat`` = Wald statistic, ``se`` = lfcSE, ``pvalue``/``padj`` as
DESeq2's ``results()`` (NA p-value for Cook's outliers, NA padj for genes removed by independent
filtering), ``hedges_g``/``hedges_g_se`` on the VST values; then ``baseMean``, ``dispersion``,
``disp_gene_est``, ``disp_fit``, ``max_cooks``, ``cooks_outlier``, ``replaced``,
``independent_filtered``, ``beta_converged``.
"""

from __future__ import annotations

import csv
import gzip
import logging
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from markerflow.contracts import DE_COLUMNS
from markerflow.engines import deseq2 as engine_mod
from markerflow.errors import AnalysisError, InputError
from markerflow.model.design import build_design
from markerflow.model.effectsize import hedges_g

log = logging.getLogger(__name__)

#: Column names (case-insensitive) recognised as gene annotation, not samples.
ID_COLUMNS: tuple[str, ...] = (
    "ensembl_gene_id",
    "gene_id",
    "symbol",
    "gene_symbol",
    "gene_name",
    "gene",
    "geneid",
    "ensembl",
    "entrez",
    "entrez_id",
    "entrezid",
    "description",
    "gene_type",
    "gene_biotype",
    "biotype",
    "length",
    "chr",
    "chromosome",
    "start",
    "end",
    "strand",
    "feature_id",
)

_ENSEMBL_RE = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?(_PAR_Y)?$")
_MAX_NAMED = 5


def _examples(items, n: int = _MAX_NAMED) -> str:
    items = list(items)
    shown = ", ".join(str(x) for x in items[:n])
    return shown + (f" (and {len(items) - n} more)" if len(items) > n else "")


# ------------------------------------------------------------------------------------------------
# reading and validation
# ------------------------------------------------------------------------------------------------


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_count_matrix(
    path: str | Path, id_columns: tuple[str, ...] = ID_COLUMNS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a genes x samples count table (TSV, TSV.gz, CSV, CSV.gz) and validate it.

    The first column is the gene ID. Further leading columns that are annotation (their name is in
    ``id_columns``, case-insensitive, or their values are not numbers), e.g. GSE85567's ``symbol``,
    are split off. Returns ``(counts, annotation)``: ``counts`` is the validated int64 matrix
    (index ``feature_id``, one column per sample); ``annotation`` has the same index and the
    annotation columns (possibly none).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(
            "count matrix does not exist",
            path=path,
            hint="check the cohort's path in config/cohorts.tsv",
        )
    name = path.name.lower().removesuffix(".gz")
    sep = "," if name.endswith(".csv") else "\t"
    try:
        with _open_text(path) as handle:
            header = next(csv.reader(handle, delimiter=sep), None)
    except (UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:
        raise InputError(
            f"cannot be read as text: {exc}",
            path=path,
            hint="supply a tab-separated (or .csv) text file, optionally gzipped",
        ) from None
    if not header or all(not h.strip() for h in header):
        raise InputError(
            "is empty (no header line)",
            path=path,
            hint="the first line must hold the gene-ID column name and sample IDs",
        )
    dup = pd.Index(header).duplicated(keep=False)
    if dup.any():
        names = sorted(set(np.asarray(header)[dup]))
        raise InputError(
            f"duplicate column (sample) IDs in the header: {_examples(names)}",
            path=path,
            hint="every sample column needs a unique ID",
        )
    try:
        raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise InputError("is empty", path=path) from None
    except (EOFError, OSError) as exc:  # truncated/corrupt gzip after a readable header
        raise InputError(
            f"cannot be read (corrupt or truncated gzip?): {exc}",
            path=path,
            hint="download or copy the file again",
        ) from None
    except pd.errors.ParserError as exc:
        raise InputError(
            f"is not a valid {'comma' if sep == ',' else 'tab'}-separated table: {exc}", path=path
        ) from None
    if raw.shape[0] == 0:
        raise InputError("has a header but no gene rows", path=path)
    if raw.shape[1] < 2:
        raise InputError(
            "has no sample columns (only one column found)",
            path=path,
            hint=f"columns must be separated by {'commas' if sep == ',' else 'tabs'}",
        )
    known = {c.lower() for c in id_columns}
    gene_col = raw.columns[0]
    ann_cols = []
    for col in raw.columns[1:]:
        values = raw[col].str.strip()
        numeric = pd.to_numeric(values.replace({"": np.nan, "NA": np.nan}), errors="coerce")
        looks_text = numeric.isna().mean() > 0.5
        if col.lower() in known or looks_text:
            ann_cols.append(col)
        else:
            break
    if ann_cols:
        log.info("%s: annotation columns (not samples): %s", path, ", ".join(ann_cols))
    ids = raw[gene_col].str.strip()
    if (ids == "").any() or ids.isin(["NA", "NaN", "nan"]).any():
        rows = list(np.flatnonzero((ids == "") | ids.isin(["NA", "NaN", "nan"])) + 2)
        raise InputError(f"empty or NA gene ID on line(s) {_examples(rows)}", path=path)
    annotation = raw[ann_cols].copy()
    annotation.index = pd.Index(ids, name="feature_id")
    values = raw.drop(columns=[gene_col, *ann_cols])
    values.index = pd.Index(ids, name="feature_id")
    if values.shape[1] == 0:
        raise InputError(
            "has no sample columns after the gene ID and annotation columns "
            f"({', '.join(ann_cols)})",
            path=path,
        )
    return validate_counts(values, str(path)), annotation


def validate_counts(matrix: pd.DataFrame, path: str) -> pd.DataFrame:
    """Check a genes x samples count matrix and return it as int64 (index ``feature_id``).

    Fails with an :class:`InputError` naming the offending genes/samples for: an empty matrix,
    duplicate sample or gene IDs, non-numeric cells, missing or infinite values, negative values,
    and non-integer values (DESeq2 models integer read counts).
    """
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InputError(
            f"count matrix is empty ({matrix.shape[0]} genes x {matrix.shape[1]} samples)",
            path=path,
        )
    cols = pd.Index(matrix.columns.astype(str))
    if cols.duplicated().any():
        raise InputError(
            f"duplicate sample IDs: {_examples(sorted(set(cols[cols.duplicated()])))}",
            path=path,
            hint="every sample column needs a unique ID",
        )
    idx = pd.Index(matrix.index.astype(str))
    if idx.duplicated().any():
        d = idx[idx.duplicated(keep=False)]
        raise InputError(
            f"{idx.duplicated().sum()} duplicate gene IDs, e.g. {_examples(sorted(set(d)))}",
            path=path,
            hint="each gene must appear once; sum or remove the duplicated rows first "
            "(versioned Ensembl IDs such as ENSG....12 are kept distinct here)",
        )
    if all(pd.api.types.is_numeric_dtype(t) for t in matrix.dtypes):
        num = matrix.to_numpy(dtype=np.float64)
        text_bad = np.zeros(num.shape, dtype=bool)
    else:
        obj = matrix.astype(object)
        num = obj.apply(
            lambda s: pd.to_numeric(
                s.map(lambda v: v.strip() if isinstance(v, str) else v).replace({"": np.nan}),
                errors="coerce",
            )
        ).to_numpy(dtype=np.float64)
        present = obj.map(
            lambda v: (
                not (
                    v is None
                    or (isinstance(v, float) and np.isnan(v))
                    or (isinstance(v, str) and v.strip() in ("", "NA"))
                )
            )
        )
        text_bad = present.to_numpy() & np.isnan(num)

    def cells(mask):
        r, c = np.nonzero(mask)
        return [f"{idx[i]}/{cols[j]}" for i, j in zip(r[:_MAX_NAMED], c[:_MAX_NAMED], strict=True)]

    def fail(mask, what, hint):
        n = int(mask.sum())
        bad_samples = list(cols[mask.any(axis=0)])
        raise InputError(
            f"{n} {what} (gene/sample: {', '.join(cells(mask))}"
            f"{' ...' if n > _MAX_NAMED else ''}); samples affected: {_examples(bad_samples)}",
            path=path,
            hint=hint,
        )

    if text_bad.any():
        fail(text_bad, "non-numeric count cell(s)", "counts must be plain integers")
    if np.isnan(num).any():
        fail(
            np.isnan(num),
            "missing count(s) (empty/NA)",
            "a count matrix has no missing values; use 0 only if the gene was truly not seen",
        )
    if np.isinf(num).any():
        fail(np.isinf(num), "infinite count(s)", "counts must be finite integers")
    if (num < 0).any():
        fail(
            num < 0,
            "negative count(s)",
            "read counts cannot be negative; was the matrix log-transformed or centred?",
        )
    frac = num != np.round(num)
    if frac.any():
        fail(
            frac,
            "non-integer count(s)",
            "DESeq2 needs integer read counts: supply raw counts (not TPM/FPKM/normalised or "
            "log values); estimated counts from salmon/kallisto may be rounded, as "
            "DESeqDataSetFromTximport does",
        )
    if (num > np.iinfo(np.int64).max).any():
        fail(num > np.iinfo(np.int64).max, "count(s) too large for int64", "check the file")
    out = pd.DataFrame(
        num.astype(np.int64), index=pd.Index(idx, name="feature_id"), columns=pd.Index(cols)
    )
    return out


def check_sheet_matches(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    path: str | None = None,
    allow_extra: bool = False,
) -> pd.DataFrame:
    """Check that the sample sheet and the count matrix name the same samples.

    Returns ``counts`` with its columns in the sheet's order. Samples in the sheet but not in the
    matrix are always an error; samples in the matrix but not in the sheet are an error unless
    ``allow_extra`` (then they are dropped with a warning). Both lists are named in the message.
    """
    if "sample" not in samples.columns:
        raise InputError("sample sheet has no 'sample' column", path=path)
    sheet = samples["sample"].astype(str)
    if sheet.duplicated().any():
        raise InputError(
            f"duplicate sample IDs in the sample sheet: "
            f"{_examples(sorted(set(sheet[sheet.duplicated()])))}",
            path=path,
        )
    cols = pd.Index(counts.columns.astype(str))
    missing = [s for s in sheet if s not in set(cols)]
    extra = [c for c in cols if c not in set(sheet)]
    if missing or (extra and not allow_extra):
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} sample(s) in the sheet but not in the count matrix: "
                f"{_examples(missing)}"
            )
        if extra:
            parts.append(
                f"{len(extra)} sample(s) in the count matrix but not in the sheet: "
                f"{_examples(extra)}"
            )
        raise InputError(
            "sample sheet and count matrix do not match: " + "; ".join(parts),
            path=path,
            hint="sample IDs must be identical (case and spaces count) in the sheet's "
            "'sample' column and the matrix header",
        )
    if extra:
        log.warning(
            "dropping %d count-matrix column(s) not in the sample sheet: %s",
            len(extra),
            _examples(extra),
        )
    out = counts.copy()
    out.columns = cols
    return out.loc[:, list(sheet)]


# ------------------------------------------------------------------------------------------------
# ID mapping
# ------------------------------------------------------------------------------------------------


def _detect_id_type(ids: pd.Index) -> str:
    s = pd.Series(ids.astype(str))
    if s.str.match(_ENSEMBL_RE).mean() > 0.5:
        return "ensembl"
    if s.str.fullmatch(r"\d+").mean() > 0.5:
        return "entrez"
    return "symbol"


def map_to_symbols(
    counts: pd.DataFrame, gene_table: pd.DataFrame, id_type: str = "auto"
) -> tuple[pd.DataFrame, dict]:
    """Map gene IDs (Ensembl with or without version, Entrez, or symbols) to gene symbols.

    ``gene_table`` has columns ``entrez symbol ensembl genename gene_type``
    (resources/annotation/hs_gene_ids.tsv.gz, from org.Hs.eg.db 3.16). Ensembl version suffixes
    (``ENSG00000141510.17``) and GENCODE ``_PAR_Y`` suffixes are removed before the look-up.
    An ID that maps to several symbols takes the symbol of a protein-coding gene if there is one,
    then the lowest Entrez ID (deterministic; counted as ``n_ambiguous``). Unmapped IDs are dropped
    (counted, with examples and their share of all reads). Several IDs with the same symbol are
    summed: counts of one gene from several annotation records add up (counted as
    ``n_collapsed``). ``id_type="symbol"`` keeps the IDs as they are (only summing duplicates).
    Returns ``(counts_by_symbol, report)``; the index is named ``gene``.
    """
    if id_type == "auto":
        id_type = _detect_id_type(counts.index)
    if id_type not in ("ensembl", "entrez", "symbol"):
        raise InputError(
            f"unknown gene ID type {id_type!r}", hint="use one of: auto, ensembl, entrez, symbol"
        )
    ids = pd.Series(counts.index.astype(str), index=counts.index)
    report: dict = {"id_type": id_type, "n_input": len(ids)}
    if id_type == "symbol":
        symbols = ids.str.strip()
        known = set(gene_table["symbol"].dropna().astype(str))
        report["n_known_symbols"] = int(symbols.isin(known).sum())
        unmapped = symbols.eq("") | symbols.isna()
    else:
        table = gene_table.dropna(subset=["symbol"]).copy()
        key_col = "ensembl" if id_type == "ensembl" else "entrez"
        table = table.dropna(subset=[key_col])
        table["key"] = table[key_col].astype(str)
        if id_type == "entrez":
            table["key"] = table["key"].str.replace(r"\.0$", "", regex=True)
        table["pc"] = (table["gene_type"] != "protein-coding").astype(int)
        table = table.sort_values(["key", "pc", "entrez"], kind="mergesort")
        n_sym = table.groupby("key")["symbol"].nunique()
        lookup = table.drop_duplicates("key").set_index("key")["symbol"]
        keys = ids.str.strip()
        if id_type == "ensembl":
            keys = keys.str.replace(r"\.\d+(_PAR_Y)?$", "", regex=True)
        symbols = keys.map(lookup)
        unmapped = symbols.isna()
        amb = keys[~unmapped].map(n_sym) > 1
        report["n_ambiguous"] = int(amb.sum())
    total = float(counts.to_numpy().sum())
    report["n_unmapped"] = int(unmapped.sum())
    report["unmapped_examples"] = list(ids[unmapped].iloc[:10])
    report["unmapped_read_fraction"] = (
        float(counts.loc[unmapped.to_numpy()].to_numpy().sum()) / total if total > 0 else 0.0
    )
    if int((~unmapped).sum()) == 0:
        raise InputError(
            f"none of the {len(ids)} gene IDs could be mapped to symbols as {id_type} IDs "
            f"(e.g. {_examples(ids.iloc[:5])})",
            hint="check the ID type (config: id_type) and that the organism is human",
        )
    kept = counts.loc[~unmapped.to_numpy()]
    sym = symbols[~unmapped].to_numpy()
    summed = kept.groupby(sym, sort=True).sum()
    summed.index.name = "gene"
    report["n_collapsed"] = int(len(kept) - len(summed))
    report["n_output"] = len(summed)
    log.info(
        "ID mapping (%s): %d IDs -> %d symbols; %d unmapped (%.2f%% of reads), %d summed "
        "into shared symbols",
        id_type,
        report["n_input"],
        report["n_output"],
        report["n_unmapped"],
        100 * report["unmapped_read_fraction"],
        report["n_collapsed"],
    )
    return summed.astype(np.int64), report


# ------------------------------------------------------------------------------------------------
# low-count filter
# ------------------------------------------------------------------------------------------------


def filter_low_counts(
    counts: pd.DataFrame, condition, min_count: int = 10, min_samples: int | str = "smallest_group"
) -> tuple[pd.DataFrame, dict]:
    """DESeq2 vignette pre-filter: keep genes with >= ``min_samples`` samples of count >=
    ``min_count`` (raw counts). ``min_samples="smallest_group"`` uses the size of the smallest
    condition group. ``condition`` is a Series indexed by sample or a sequence aligned with the
    columns. Returns ``(filtered, report)``.
    """
    if isinstance(condition, pd.Series) and set(counts.columns) <= set(condition.index.astype(str)):
        cond = condition.copy()
        cond.index = cond.index.astype(str)
        cond = cond.loc[list(counts.columns.astype(str))]
    else:
        cond = pd.Series(list(condition), index=counts.columns)
    if len(cond) != counts.shape[1]:
        raise InputError(f"condition has {len(cond)} labels for {counts.shape[1]} samples")
    if min_samples == "smallest_group":
        n_min = int(cond.value_counts().min())
    else:
        n_min = int(min_samples)
    keep = (counts.to_numpy() >= min_count).sum(axis=1) >= n_min
    report = {
        "n_before": int(counts.shape[0]),
        "n_after": int(keep.sum()),
        "min_count": int(min_count),
        "min_samples": n_min,
    }
    if not keep.any():
        raise AnalysisError(f"no gene has a count >= {min_count} in >= {n_min} samples")
    return counts.loc[keep], report


# ------------------------------------------------------------------------------------------------
# design, DESeq2, VST
# ------------------------------------------------------------------------------------------------


def vst(
    counts: pd.DataFrame,
    blind: bool = True,
    design: pd.DataFrame | None = None,
    fit_type: str = "parametric",
    size_factors: np.ndarray | None = None,
    n_cpus: int = 1,
) -> pd.DataFrame:
    """DESeq2 ``varianceStabilizingTransformation`` (log2-like scale), genes x samples.

    ``blind=True`` (default, as R) fits the gene-wise dispersions and the parametric trend with an
    intercept-only design; ``blind=False`` uses ``design`` (samples x coefficients). The parametric
    trend gives the closed form of Anders & Huber (2010); if it cannot be fitted the ``mean`` trend
    is used (R would use a local fit), with a warning.
    """
    y = counts.to_numpy(dtype=np.float64)
    sf = engine_mod.size_factors(y) if size_factors is None else np.asarray(size_factors, float)
    X = np.ones((y.shape[1], 1)) if (blind or design is None) else design.to_numpy(float)
    nz = y.sum(axis=1) > 0
    ge = engine_mod.disp_gene_est(y[nz], sf, X, n_cpus=max(1, int(n_cpus)))
    bm = (y[nz] / sf).mean(axis=1)
    trend = engine_mod.fit_trend(bm, ge.disp, fit_type)
    q = y / sf[None, :]
    if trend.fit_type == "parametric":
        a0, a1 = trend.coefs
        v = np.log((1 + a1 + 2 * a0 * q + 2 * np.sqrt(a0 * q * (1 + a1 + a0 * q))) / (4 * a0))
        v /= np.log(2)
    else:
        a = trend.mean
        v = (2 * np.arcsinh(np.sqrt(a * q)) - np.log(a) - np.log(4)) / np.log(2)
    out = pd.DataFrame(v, index=counts.index, columns=counts.columns)
    out.attrs["vst"] = {
        "fit_type": trend.fit_type,
        "blind": blind,
        "coefficients": None if trend.coefs is None else list(trend.coefs),
    }
    return out


def deseq2(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    case: str,
    control: str,
    covariates: list[str] | None = None,
    batch: bool = False,
    cooks_filter: bool = True,
    independent_filter: bool = True,
    alpha: float = 0.1,
    n_cpus: int = 1,
    engine: str = "markerflow",
    vst_values: pd.DataFrame | None = None,
    min_replicates_for_replace: int = 7,
) -> pd.DataFrame:
    """DESeq2 Wald test of ``case`` vs ``control`` with design ``~[batch +] covariates + condition``.

    ``counts``: genes x samples integer matrix (index = gene); ``samples``: sheet with columns
    ``sample``, ``condition``, ``batch`` and the covariates. Samples whose condition is neither
    ``case`` nor ``control`` are left out (logged). ``vst_values`` (genes x samples, e.g. from
    :func:`vst`) are used for ``ave_expr`` and Hedges' g; computed blind if not given.
    ``n_cpus`` splits the genes into that many blocks fitted in threads (identical results);
    ``engine="pydeseq2"`` runs pydeseq2 0.5.4 instead (slower; ``n_cpus`` is passed to it). Returns the DE table (see module docstring) with a
    run summary in ``attrs["deseq2"]``.
    """
    covariates = list(covariates or [])
    for col in ("sample", "condition"):
        if col not in samples.columns:
            raise InputError(f"sample sheet has no {col!r} column")
    counts = check_sheet_matches(counts, samples, allow_extra=False)
    sheet = samples.copy()
    sheet["sample"] = sheet["sample"].astype(str)
    sheet["condition"] = sheet["condition"].astype(str)
    use = sheet["condition"].isin([case, control]).to_numpy()
    if not use.all():
        other = sheet.loc[~use, "condition"].value_counts()
        log.info("leaving out %d sample(s) with other conditions: %s", (~use).sum(), dict(other))
    sheet = sheet.loc[use].reset_index(drop=True)
    counts = counts.loc[:, list(sheet["sample"])]
    n_case = int((sheet["condition"] == case).sum())
    n_control = int((sheet["condition"] == control).sum())
    if n_case < 2 or n_control < 2:
        raise InputError(
            f"need >= 2 samples per group, found {n_case} {case!r} and {n_control} {control!r}",
            hint="check study.case_label / control_label and the condition column",
        )
    design = build_design(sheet, case, control, covariates, batch=batch)
    X = design.frame()
    y = counts.to_numpy(dtype=np.float64)
    if engine == "markerflow":
        res = engine_mod.run_deseq(
            y, X.to_numpy(), min_replicates_for_replace, n_cpus=max(1, int(n_cpus))
        )
        single = X.shape[1] == 2
        out = engine_mod.results(
            res,
            X.to_numpy(),
            y,
            alpha=alpha,
            cooks_filter=cooks_filter,
            independent_filter=independent_filter,
            single_factor_two_levels=single,
        )
        table = pd.DataFrame(
            {
                "baseMean": res.base_mean,
                "log2FoldChange": out["log2FoldChange"],
                "lfcSE": out["lfcSE"],
                "stat": out["stat"],
                "pvalue": out["pvalue"],
                "padj": out["padj"],
                "dispersion": res.dispersion,
                "disp_gene_est": res.disp_gene,
                "disp_fit": res.disp_fit,
                "max_cooks": res.max_cooks,
                "cooks_outlier": out["cooks_outlier"],
                "replaced": res.replace,
                "beta_converged": res.beta_conv,
            },
            index=counts.index,
        )
        summary = {
            "size_factors": dict(zip(counts.columns, res.size_factors.tolist(), strict=True)),
            "trend_type": res.trend.fit_type,
            "trend_coefficients": None
            if res.trend.coefs is None
            else {"asymptDisp": float(res.trend.coefs[0]), "extraPois": float(res.trend.coefs[1])},
            "disp_prior_var": res.prior_var,
            "var_log_disp_ests": res.var_log_disp,
            "n_replaced": int(res.replace.sum()),
            "filter_threshold": out["filter_threshold"],
        }
    elif engine == "pydeseq2":
        table, summary = _run_pydeseq2(
            counts, X, alpha, cooks_filter, independent_filter, n_cpus, min_replicates_for_replace
        )
    else:
        raise InputError(f"unknown DESeq2 engine {engine!r}", hint="use 'markerflow' or 'pydeseq2'")
    if vst_values is None:
        vst_values = vst(counts)
    v = vst_values.loc[counts.index, list(counts.columns)].to_numpy(dtype=np.float64)
    is_case = (sheet["condition"] == case).to_numpy()
    g, g_se = hedges_g(v, is_case)
    de = pd.DataFrame(
        {
            "gene": counts.index.astype(str),
            "log2fc": table["log2FoldChange"].to_numpy(),
            "ave_expr": v.mean(axis=1),
            "stat": table["stat"].to_numpy(),
            "pvalue": table["pvalue"].to_numpy(),
            "padj": table["padj"].to_numpy(),
            "se": table["lfcSE"].to_numpy(),
            "hedges_g": g,
            "hedges_g_se": g_se,
            "n_case": n_case,
            "n_control": n_control,
        }
    )
    assert tuple(de.columns) == DE_COLUMNS
    extra = table.drop(columns=["log2FoldChange", "lfcSE", "stat", "pvalue", "padj"])
    extra = extra.reset_index(drop=True)
    extra["independent_filtered"] = de["pvalue"].notna() & de["padj"].isna()
    de = pd.concat([de, extra], axis=1)
    summary.update(
        {
            "design": list(X.columns),
            "engine": engine,
            "n_genes": len(de),
            "n_padj_lt_alpha": int((de["padj"] < alpha).sum()),
            "alpha": alpha,
            "case": case,
            "control": control,
            "n_case": n_case,
            "n_control": n_control,
            "covariates_standardised": design.standardised,
            "dropped_covariates": design.dropped,
        }
    )
    de.attrs["deseq2"] = summary
    log.info(
        "DESeq2 (%s engine): %d genes, %d with padj < %g; design %s",
        engine,
        len(de),
        summary["n_padj_lt_alpha"],
        alpha,
        " + ".join(X.columns[1:]),
    )
    return de


def _run_pydeseq2(counts, X, alpha, cooks_filter, independent_filter, n_cpus, min_rep):
    """pydeseq2 0.5.4 DeseqDataSet/DeseqStats on the same design matrix (reference engine)."""
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    inference = DefaultInference(n_cpus=n_cpus)
    design = X.copy()
    design.index = counts.columns
    meta = pd.DataFrame({"dummy": 0}, index=counts.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dds = DeseqDataSet(
            counts=counts.T,
            metadata=meta,
            design=design,
            refit_cooks=True,
            min_replicates=min_rep,
            inference=inference,
            quiet=True,
        )
        dds.deseq2()
        contrast = np.zeros(X.shape[1])
        contrast[-1] = 1.0
        ds = DeseqStats(
            dds,
            contrast=contrast,
            alpha=alpha,
            cooks_filter=cooks_filter,
            independent_filter=independent_filter,
            inference=inference,
            quiet=True,
        )
        ds.summary()
    r = ds.results_df
    table = pd.DataFrame(
        {
            "baseMean": r["baseMean"].to_numpy(),
            "log2FoldChange": r["log2FoldChange"].to_numpy(),
            "lfcSE": r["lfcSE"].to_numpy(),
            "stat": r["stat"].to_numpy(),
            "pvalue": r["pvalue"].to_numpy(),
            "padj": r["padj"].to_numpy(),
            "dispersion": dds.var["dispersions"].to_numpy(),
        },
        index=counts.index,
    )
    summary = {
        "size_factors": dict(zip(counts.columns, dds.obs["size_factors"].tolist(), strict=True))
    }
    return table, summary
