"""The genes stage: one row per gene symbol for every cohort.

Arrays: values brought to log2 scale (see :func:`markerflow.stages.qc.log_scale`), then probes
mapped to symbols and collapsed (:func:`collapse_probes`). Counts: identifiers mapped to symbols
(:func:`map_to_symbols`) and low-count genes filtered (:func:`filter_low_counts`).

Probe -> gene mapping for arrays: probes annotated with several genes (GEO's ``///`` separator) are
dropped by default, probes without a symbol are dropped, and several probes of one gene are
collapsed (Miller et al. 2011, WGCNA's ``collapseRows``):

- ``maxmean`` (default): keep the probe with the highest mean expression (ties: first probe in order);
- ``maxvar``: keep the probe with the highest variance across samples;
- ``mean`` / ``median``: per-sample mean / median of the gene's probes.

Count IDs: Ensembl (with or without version), Entrez or symbols, mapped with org.Hs.eg.db's table
(see :func:`map_to_symbols`). Low-count filter: the DESeq2 vignette's pre-filter (a gene is kept if
at least ``smallest group size`` samples have a count >= 10).

Original feature IDs (issue 17 item 7): every gene row keeps the ID of the matrix row it came from
(:data:`FEATURE_COLUMNS`, written as ``features.tsv`` beside the matrix and carried into every DE
table as ``feature_id``): the probe that ``maxmean`` / ``maxvar`` chose, or for rows that combine
several input rows (``mean`` / ``median`` collapsing, count IDs summed into one symbol, symbols
merged by harmonisation: :func:`count_row_symbols`) every contributing ID in input order,
``;``-joined.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from markerflow.engines import edger
from markerflow.errors import AnalysisError, InputError, name_first
from markerflow.io import geo
from markerflow.io.fetch import verify_prepared
from markerflow.io.matrices import check_library_sizes, check_matrix_axes, validate_counts
from markerflow.io.symbols import AliasTable, harmonise_symbols, read_alias_table
from markerflow.io.tables import read_tsv
from markerflow.stages.qc import ALTERATION_COLUMNS, Scaled, log_scale, reusable

log = logging.getLogger(__name__)

_ENSEMBL_RE = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?(_PAR_Y)?$")

#: Below this share of a cohort's rows with a gene symbol, the genes stage warns (config
#: ``genes.min_annotated_share``). No error threshold: a matrix that mixes symbol rows and probe rows
#: (GSE34608) or a deliberately partial custom table are legitimate, and the user must decide.
DEFAULT_MIN_ANNOTATED_SHARE = 0.5

#: Columns of the gene -> original feature ID table the genes stage writes (``features.tsv``).
FEATURE_COLUMNS = ("gene", "feature_id")

#: Separator of several original IDs combined into one gene row.
FEATURE_SEPARATOR = ";"

#: Columns of the gene ID table used to map count-matrix IDs (see map_to_symbols).
GENE_TABLE_COLUMNS = ("entrez", "symbol", "ensembl", "gene_type")


def map_cohort_genes(
    expression: pd.DataFrame,
    samples: pd.DataFrame,
    data_type: str,
    annotation: str | Path | None,
    *,
    log2_mode: str = "auto",
    collapse: str = "maxmean",
    drop_multimapping: bool = True,
    min_count: int = 10,
    min_samples: int | str = "smallest_group",
    min_annotated_share: float = DEFAULT_MIN_ANNOTATED_SHARE,
    cohort: str = "cohort",
    platform: str | None = None,
    counts_method: str = "deseq2",
    symbol_table: str | Path | None = None,
    scaled: Scaled | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return the genes x samples matrix (index ``gene``), a metric/value mapping report, the
    cohort's alterations table (:data:`markerflow.stages.qc.ALTERATION_COLUMNS`: every value set
    to missing by log2, and an annotation covering less than ``min_annotated_share`` of the rows)
    and the gene -> original feature ID table (:data:`FEATURE_COLUMNS`, rows as the matrix; see
    the module docstring).

    A cached GEO annotation (a ``checksums.tsv`` beside it) is verified against its sha256 first;
    ``platform`` (the sheet's GPL) picks the table of a SOFT file holding several. Counts are
    filtered by :func:`filter_low_counts` (``min_count`` / ``min_samples``) for
    ``counts_method="deseq2"`` and by :func:`filter_by_expr` for the limma methods.

    With ``symbol_table`` (an alias table, :func:`markerflow.io.symbols.read_alias_table`) every
    symbol is brought to the gene's current symbol and Excel-mangled names are repaired or dropped
    (:func:`markerflow.io.symbols.harmonise_symbols`) before probes are collapsed or counts summed,
    so a gene renamed between platforms is one gene; the counts go to the report.

    ``scaled``: the cohort's :func:`markerflow.stages.qc.array_log_scale` when the caller has it
    (the genes job, which also runs the QC); used only if it is of the matrix's rows and its
    columns in sample-sheet order (:func:`markerflow.stages.qc.reusable`), else computed here.
    """
    check_matrix_axes(expression, f"cohort {cohort} (genes)")
    expression = expression.loc[:, samples["sample"].tolist()]
    report: dict[str, object] = {"data_type": data_type}
    alterations = pd.DataFrame(columns=list(ALTERATION_COLUMNS))
    aliases = None if symbol_table is None else read_alias_table(symbol_table)
    if data_type == "array":
        if scaled is None or not reusable(scaled, expression):
            scaled = log_scale(expression, log2_mode, cohort)
        alterations = scaled.alterations
        report["log2_applied"] = scaled.applied
        table = None
        if annotation is not None:
            verify_prepared(annotation, required=False)
            table = geo.read_platform_table(annotation, platform=platform)
        if aliases is not None:
            table, symbol_report = harmonise_annotation(table, scaled.values.index, aliases)
            report.update(symbol_report)
        genes, collapse_report, ids = collapse_probes_with_ids(
            scaled.values, table, collapse, drop_multimapping
        )
        report.update(collapse_report.__dict__)
        report["collapse"] = collapse
        if table is not None and annotation is not None:
            coverage = annotation_coverage(collapse_report, min_annotated_share, cohort, annotation)
            if coverage is not None:
                alterations = pd.concat([alterations, coverage], ignore_index=True)
    else:
        counts = validate_counts(expression, path="ingested count matrix")
        check_library_sizes(counts, f"cohort {cohort} (genes)")
        raw_ids = counts.index
        gene_table = None
        if annotation is not None:
            gene_table = read_tsv(annotation, dtype=str)
            missing = [c for c in GENE_TABLE_COLUMNS if c not in gene_table.columns]
            if missing:
                raise InputError(
                    f"gene ID table lacks column(s) {', '.join(missing)} "
                    f"(columns: {', '.join(map(str, gene_table.columns))})",
                    path=annotation,
                    hint="use resources/annotation/hs_gene_ids.tsv.gz or a table with columns "
                    + ", ".join(GENE_TABLE_COLUMNS),
                )
            counts, map_report = map_to_symbols(counts, gene_table)
            report.update(map_report)
        if aliases is not None:
            counts, symbol_report = harmonise_count_rows(counts, aliases)
            report.update(symbol_report)
        ids = count_feature_ids(raw_ids, gene_table, aliases)
        condition = samples.set_index("sample").loc[counts.columns, "condition"]
        if counts_method == "deseq2":
            genes, filter_report = filter_low_counts(counts, condition, min_count, min_samples)
        else:
            genes, filter_report = filter_by_expr(counts, condition)
        report.update(filter_report)
    genes.index.name = "gene"
    mapping = pd.DataFrame({"metric": list(report), "value": [str(v) for v in report.values()]})
    feature_ids = ids.reindex(genes.index.astype(str)).to_numpy()
    features = pd.DataFrame({"gene": genes.index.astype(str), "feature_id": feature_ids})
    return genes, mapping, alterations.reset_index(drop=True), features


def _joined_ids(ids: pd.Series, groups: np.ndarray) -> pd.Series:
    """``ids`` (one per input row) joined per group label, in input order (index: sorted labels)."""
    frame = pd.DataFrame({"group": groups, "id": ids.astype(str).to_numpy()})
    return frame.groupby("group", sort=True)["id"].agg(FEATURE_SEPARATOR.join)


def count_feature_ids(
    ids: pd.Index, gene_table: pd.DataFrame | None, aliases: AliasTable | None = None
) -> pd.Series:
    """The original count-matrix IDs of each gene the genes stage makes (index: symbol): the IDs
    :func:`count_row_symbols` sends to that symbol, ``;``-joined in matrix order."""
    final = count_row_symbols(ids, gene_table, aliases)
    kept = final.notna().to_numpy()
    original = pd.Series(pd.Index(ids).astype(str)[kept])
    return _joined_ids(original, final[kept].astype(str).to_numpy()).rename("feature_id")


def annotation_coverage(
    report: CollapseReport, min_share: float, cohort: str, annotation: str | Path
) -> pd.DataFrame | None:
    """An alterations row (and a log warning) when the annotation maps too few of the rows.

    The share is rows with a symbol / rows of the matrix (``(probes_in - probes_unannotated) /
    probes_in``):
    an annotation table of another platform, or of a different ID type, maps few rows and would
    otherwise leave a cohort with a handful of genes and no word about it (issue 19).
    """
    if report.probes_in == 0:
        return None
    share = (report.probes_in - report.probes_unannotated) / report.probes_in
    if share >= min_share:
        return None
    note = (
        f"{share:.1%} of {report.probes_in} rows have a gene symbol in {Path(annotation).name} "
        f"(genes.min_annotated_share = {min_share:g}); {report.genes_out} genes left"
    )
    log.warning(
        "cohort %s: the annotation maps only %s; check that it is the table of this cohort's "
        "platform (GPL) and ID type",
        cohort,
        note,
    )
    return pd.DataFrame(
        [
            {
                "cohort": cohort,
                "stage": "genes",
                "level": "warning",
                "alteration": "rows without a gene symbol dropped (low annotation coverage)",
                "cells": 0,
                "features": report.probes_unannotated,
                "samples": 0,
                "examples": note,
            }
        ],
        columns=list(ALTERATION_COLUMNS),
    )


# ------------------------------------------------------------------------------------------------
# probes -> genes (arrays)
# ------------------------------------------------------------------------------------------------

MULTI_GENE_SEPARATOR = "///"
COLLAPSE_METHODS = ("maxmean", "mean", "median", "maxvar")


@dataclass
class CollapseReport:
    """Counts of the probe -> gene mapping of one cohort (written as the genes stage report)."""

    probes_in: int
    probes_unannotated: int
    probes_multimapping: int
    probes_used: int
    genes_out: int
    genes_from_several_probes: int

    def as_frame(self) -> pd.DataFrame:
        """The report as a two-column (metric, value) table."""
        return pd.DataFrame({"metric": list(self.__dict__), "value": list(self.__dict__.values())})


def clean_symbols(annotation: pd.Series) -> pd.Series:
    """Strip symbols; empty, '---' and NA become missing."""
    symbols = annotation.astype("string").str.strip()
    return symbols.mask(symbols.isin(["", "---", "NA", "nan"]))


def collapse_probes(
    expression: pd.DataFrame,
    annotation: pd.Series | None,
    method: str = "maxmean",
    drop_multimapping: bool = True,
) -> tuple[pd.DataFrame, CollapseReport]:
    """Map probes (rows of ``expression``) to gene symbols and collapse duplicates.

    ``annotation`` maps probe ID -> symbol; ``None`` means the rows are already symbols (only
    duplicates are collapsed). With ``drop_multimapping=False`` a ``///`` probe counts for its first
    gene. Returns a genes x samples matrix (index ``gene``, sorted) and a report.
    """
    collapsed, report, _ = collapse_probes_with_ids(
        expression, annotation, method, drop_multimapping
    )
    return collapsed, report


def collapse_probes_with_ids(
    expression: pd.DataFrame,
    annotation: pd.Series | None,
    method: str = "maxmean",
    drop_multimapping: bool = True,
) -> tuple[pd.DataFrame, CollapseReport, pd.Series]:
    """:func:`collapse_probes` and each gene's original probe ID (Series indexed by gene): the
    winning probe for ``maxmean`` / ``maxvar``, every probe of the gene (``;``-joined, in matrix
    order) for ``mean`` / ``median``."""
    if method not in COLLAPSE_METHODS:
        raise InputError(f"unknown collapse method {method!r}; choose one of {COLLAPSE_METHODS}")
    n_in = expression.shape[0]
    if annotation is None:
        symbols = clean_symbols(pd.Series(expression.index, index=expression.index))
    else:
        annotation = annotation[~annotation.index.duplicated()]
        symbols = clean_symbols(annotation.reindex(expression.index.astype(str)))
        symbols.index = expression.index
    unannotated = symbols.isna()
    multi = symbols.str.contains(MULTI_GENE_SEPARATOR, regex=False).fillna(False).astype(bool)
    if not drop_multimapping:
        symbols = symbols.str.split(MULTI_GENE_SEPARATOR).str[0].str.strip()
        multi[:] = False
    keep = ~unannotated & ~multi
    if not keep.any():
        raise InputError(
            f"no probe has a gene symbol after mapping ({int(unannotated.sum())} of {n_in} rows "
            f"have none, {int((multi & ~unannotated).sum())} map to several genes)",
            hint="check that the annotation table matches the platform of the matrix",
        )
    data = expression.loc[keep.to_numpy()]
    genes = symbols[keep].to_numpy()
    values = data.to_numpy(dtype=np.float64)
    if method in ("maxmean", "maxvar"):
        with np.errstate(invalid="ignore"):
            score = (
                np.nanmean(values, axis=1)
                if method == "maxmean"
                else np.nanvar(values, axis=1, ddof=1)
            )
        order = pd.DataFrame(
            {
                "gene": genes,
                "score": np.nan_to_num(score, nan=-np.inf),
                "pos": np.arange(len(genes)),
            }
        )
        # stable sort: highest score first, earliest probe wins ties
        order = order.sort_values(
            ["gene", "score", "pos"], ascending=[True, False, True], kind="mergesort"
        )
        chosen = order.drop_duplicates("gene", keep="first")
        collapsed = pd.DataFrame(
            values[chosen["pos"].to_numpy()], index=chosen["gene"].to_numpy(), columns=data.columns
        )
        probe_ids = data.index.astype(str).to_numpy()
        ids = pd.Series(probe_ids[chosen["pos"].to_numpy()], index=chosen["gene"].to_numpy())
    else:
        frame = pd.DataFrame(values, columns=data.columns)
        frame["gene"] = genes
        grouped = frame.groupby("gene", sort=True)
        collapsed = grouped.mean() if method == "mean" else grouped.median()
        ids = _joined_ids(pd.Series(data.index.astype(str)), np.asarray(genes, dtype=object))
    collapsed = collapsed.sort_index()
    collapsed.index.name = "gene"
    counts = pd.Series(genes).value_counts()
    report = CollapseReport(
        probes_in=n_in,
        probes_unannotated=int(unannotated.sum()),
        probes_multimapping=int((multi & ~unannotated).sum()),
        probes_used=int(keep.sum()),
        genes_out=int(collapsed.shape[0]),
        genes_from_several_probes=int((counts > 1).sum()),
    )
    ids.index = ids.index.astype(str)
    return collapsed, report, ids.rename("feature_id")


# ------------------------------------------------------------------------------------------------
# symbol harmonisation (aliases -> current symbols, Excel-mangled names)
# ------------------------------------------------------------------------------------------------


def harmonise_annotation(
    annotation: pd.Series | None, probes: pd.Index, aliases: AliasTable
) -> tuple[pd.Series, dict[str, object]]:
    """Probe -> current symbol: the platform's symbols (or the row names, when there is no
    annotation) harmonised; ``///`` entries are left for :func:`collapse_probes` to drop or split."""
    if annotation is None:
        annotation = pd.Series(probes.astype(str), index=probes.astype(str))
    symbols = clean_symbols(annotation)
    single = symbols.notna() & ~symbols.str.contains(MULTI_GENE_SEPARATOR, regex=False).fillna(
        False
    )
    harmonised, symbol_report = harmonise_symbols(symbols[single.astype(bool)], aliases)
    out = symbols.copy()
    out[harmonised.index] = harmonised
    _log_harmonised(symbol_report)
    return out, {**symbol_report.as_dict(), "symbol_table": aliases.source}


def harmonise_count_rows(
    counts: pd.DataFrame, aliases: AliasTable
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Count rows (symbols) harmonised; rows that end on one symbol are summed, dropped names removed."""
    harmonised, symbol_report = harmonise_symbols(pd.Series(counts.index.astype(str)), aliases)
    keep = harmonised.notna().to_numpy()
    summed = counts.loc[keep].groupby(harmonised[keep].to_numpy(), sort=True).sum()
    summed.index.name = "gene"
    result = {**symbol_report.as_dict(), "symbol_table": aliases.source}
    result["symbols_merged"] = int(keep.sum() - len(summed))
    _log_harmonised(symbol_report)
    return summed.astype(counts.dtypes.iloc[0]) if len(counts.columns) else summed, result


def _log_harmonised(report) -> None:
    if report.skipped_reason:
        log.info("symbol harmonisation skipped: %s", report.skipped_reason)
        return
    log.info(
        "symbols: %d current, %d renamed to the current symbol (%d ambiguous aliases: first gene), "
        "%d unknown kept; Excel-mangled names: %d repaired, %d dropped (%s)",
        report.symbols_current,
        report.symbols_renamed,
        report.aliases_ambiguous,
        report.symbols_unknown,
        report.excel_repaired,
        report.excel_dropped,
        "; ".join(report.excel_examples) or "none",
    )


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


def _lookup_symbols(
    ids: pd.Series, gene_table: pd.DataFrame, id_type: str = "auto"
) -> tuple[pd.Series, pd.Series, dict]:
    """The symbol of each ID (missing when unmapped), the unmapped mask and the report so far
    (the look-up rule of :func:`map_to_symbols`)."""
    if id_type == "auto":
        id_type = _detect_id_type(pd.Index(ids))
    if id_type not in ("ensembl", "entrez", "symbol"):
        raise InputError(
            f"unknown gene ID type {id_type!r}", hint="use one of: auto, ensembl, entrez, symbol"
        )
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
        # the lowest Entrez ID as a number: read as text "100037417" sorts before "1652" (DDTL
        # would win over DDT for ENSG00000099977, LOC102724560 over CBS for ENSG00000160200)
        table["entrez_number"] = pd.to_numeric(table["entrez"], errors="coerce")
        table = table.sort_values(["key", "pc", "entrez_number"], kind="mergesort")
        n_sym = table.groupby("key")["symbol"].nunique()
        lookup = table.drop_duplicates("key").set_index("key")["symbol"]
        keys = ids.str.strip()
        if id_type == "ensembl":
            keys = keys.str.replace(r"\.\d+(_PAR_Y)?$", "", regex=True)
        symbols = keys.map(lookup)
        unmapped = symbols.isna()
        amb = keys[~unmapped].map(n_sym) > 1
        report["n_ambiguous"] = int(amb.sum())
    return symbols, unmapped, report


def count_row_symbols(
    ids: pd.Index,
    gene_table: pd.DataFrame | None,
    aliases: AliasTable | None = None,
    id_type: str = "auto",
) -> pd.Series:
    """The gene symbol each count-matrix row ends on in :func:`map_cohort_genes` (index = the
    IDs; missing when the row is dropped): :func:`map_to_symbols`' look-up (when there is a gene
    table), then :func:`harmonise_count_rows`' harmonisation of the mapped symbols (when there
    is an alias table). Rows with the same symbol are the rows the genes stage sums."""
    s = pd.Series(pd.Index(ids).astype(str), index=pd.Index(ids))
    if gene_table is not None:
        s, unmapped, _ = _lookup_symbols(s, gene_table, id_type)
        s = s.where(~unmapped.to_numpy())
    if aliases is not None:
        present = s.dropna().astype(str)
        names = pd.Index(sorted(set(present)))
        harmonised, _ = harmonise_symbols(pd.Series(names), aliases)
        final = pd.Series(harmonised.to_numpy(), index=names)
        s = s.map(final)
    return s.astype(object).where(s.notna(), None)


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
    ids = pd.Series(counts.index.astype(str), index=counts.index)
    symbols, unmapped, report = _lookup_symbols(ids, gene_table, id_type)
    id_type = str(report["id_type"])
    total = float(counts.to_numpy().sum())
    report["n_unmapped"] = int(unmapped.sum())
    report["unmapped_examples"] = list(ids[unmapped].iloc[:10])
    report["unmapped_read_fraction"] = (
        float(counts.loc[unmapped.to_numpy()].to_numpy().sum()) / total if total > 0 else 0.0
    )
    if int((~unmapped).sum()) == 0:
        raise InputError(
            f"none of the {len(ids)} gene IDs could be mapped to symbols as {id_type} IDs "
            f"(e.g. {name_first(ids.iloc[:5])})",
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


def _aligned_condition(counts: pd.DataFrame, condition) -> pd.Series:
    """The condition of each column of ``counts``: ``condition`` is a Series indexed by sample or
    a sequence aligned with the columns."""
    if isinstance(condition, pd.Series) and set(counts.columns) <= set(condition.index.astype(str)):
        cond = condition.copy()
        cond.index = cond.index.astype(str)
        cond = cond.loc[list(counts.columns.astype(str))]
    else:
        cond = pd.Series(list(condition), index=counts.columns)
    if len(cond) != counts.shape[1]:
        raise InputError(f"condition has {len(cond)} labels for {counts.shape[1]} samples")
    return cond


def filter_low_counts(
    counts: pd.DataFrame, condition, min_count: int = 10, min_samples: int | str = "smallest_group"
) -> tuple[pd.DataFrame, dict]:
    """DESeq2 vignette pre-filter: keep genes with >= ``min_samples`` samples of count >=
    ``min_count`` (raw counts). ``min_samples="smallest_group"`` uses the size of the smallest
    condition group. ``condition`` is a Series indexed by sample or a sequence aligned with the
    columns. Returns ``(filtered, report)``.
    """
    cond = _aligned_condition(counts, condition)
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


def filter_by_expr(counts: pd.DataFrame, condition) -> tuple[pd.DataFrame, dict]:
    """edgeR's ``filterByExpr(counts, group = condition)`` with its defaults (min.count 10,
    min.total.count 15, large.n 10, min.prop 0.7; :func:`markerflow.engines.edger.filter_by_expr`),
    the low-count filter of the limma methods. ``condition`` as for :func:`filter_low_counts`.
    Returns ``(filtered, report)``.
    """
    group = _aligned_condition(counts, condition).astype(str).to_numpy()
    keep = edger.filter_by_expr(counts.to_numpy(dtype=np.float64), group=group)
    report = {
        "n_before": int(counts.shape[0]),
        "n_after": int(keep.sum()),
        "filter": "filterByExpr",
    }
    if not keep.any():
        raise AnalysisError("no gene passes filterByExpr (count >= 10 in the smallest group)")
    return counts.loc[keep], report
