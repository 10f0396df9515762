"""Per-cohort differential expression into the common DE table (../shared/DESIGN.md).

Arrays: limma's linear model + empirical-Bayes moderated t (Smyth 2004, SAGMB 3:3), implemented in
:mod:`markerflow.engines.limma`; counts: DESeq2's negative-binomial Wald test via
:mod:`markerflow.stages.counts`, or limma-voom / limma-trend (``de.counts.method``). One model
per cohort holds all its condition levels (:func:`markerflow.model.design.comparison_design`);
a comparison is one contrast of it. Within
subjects, arrays use limma's ``duplicateCorrelation`` + blocked ``lmFit`` (Smyth, Michaud & Scott
2005, Bioinformatics 21:2067) and counts a ``subject`` term. Effect sizes for the meta-analysis
(:mod:`markerflow.model.effectsize`) on the log-scale values: Hedges' g, or for a within-subject
comparison the paired standardised mean change (Borenstein et al. 2009, ch. 4). The test across
all levels of a cohort is :func:`cohort_ftest` (limma moderated F, DESeq2 LRT).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from markerflow.contracts import DE_COLUMNS
from markerflow.engines import limma
from markerflow.errors import AnalysisError, InputError, name_first
from markerflow.io.matrices import check_matrix_axes
from markerflow.model.design import (
    SUBJECT,
    Design,
    build_design,
    comparison_design,
    model_levels,
    parse_formula,
)
from markerflow.model.effectsize import comparison_effect_size

log = logging.getLogger(__name__)


def align(expression: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Order matrix columns as the sample sheet; error naming samples missing from the matrix."""
    missing = [s for s in samples["sample"] if s not in expression.columns]
    if missing:
        raise InputError(f"samples missing from the matrix: {', '.join(missing[:10])}")
    return expression.loc[:, samples["sample"].tolist()]


def _array_values(expression: pd.DataFrame, cohort: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Values, the constant-gene mask and the constant genes' value (see :func:`array_de`)."""
    values = expression.to_numpy(dtype=np.float64)
    infinite = np.isinf(values)
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        raise InputError(
            f"cohort {cohort}: infinite value in gene {expression.index[row]!r}, sample "
            f"{expression.columns[col]!r} ({int(infinite.sum())} infinite cell(s))",
            hint="infinite values are not valid expression data; use NA for missing values",
        )
    # A gene with the same value in every sample carries no information; its residual variance
    # is rounding noise that would distort the eBayes prior. It is not tested (NaN statistics).
    observed = ~np.isnan(values)
    high = np.max(np.where(observed, values, -np.inf), axis=1)
    low = np.min(np.where(observed, values, np.inf), axis=1)
    constant = observed.any(axis=1) & (high == low)
    if constant.all():
        raise AnalysisError(f"cohort {cohort}: every gene has the same value in all samples")
    if constant.any():
        log.warning(
            "cohort %s: %d gene(s) constant across all samples are not tested (NaN statistics)"
            ", e.g. %s",
            cohort,
            int(constant.sum()),
            ", ".join(map(str, expression.index[constant][:5])),
        )
    return values, constant, high


def _array_fit(
    y: np.ndarray, design: Design, block: np.ndarray | None, cohort: str
) -> tuple[limma.LinearFit, float | None]:
    """lmFit, or with ``block`` duplicateCorrelation's consensus then the blocked fit."""
    if block is None:
        return limma.lm_fit(y, design.matrix), None
    from markerflow.engines import duplicate_correlation as dupcor

    rho = float(dupcor.duplicate_correlation(y, design.matrix, block).consensus)
    log.info("cohort %s: duplicateCorrelation consensus correlation %.6g", cohort, rho)
    return dupcor.lm_fit_blocked(y, design.matrix, block, rho), rho


def array_de(
    expression: pd.DataFrame,
    samples: pd.DataFrame,
    case_label: str,
    control_label: str,
    covariates: list[str] | tuple[str, ...] = (),
    *,
    trend: bool = False,
    robust: bool = False,
    proportion: float = 0.01,
    cohort: str = "",
    formula: str | None = None,
    levels: list[str] | None = None,
) -> pd.DataFrame:
    """limma for case vs control on one fit of all the cohort's levels, as one DE table.

    The design is :func:`markerflow.model.design.comparison_design` on every level of the cohort
    (``~ [batch +] covariates + condition`` or ``formula``; the same rule as for counts; reference
    level :func:`~markerflow.model.design.model_levels` of ``levels``). When control is the
    reference, case - control is one coefficient, read off the fit as ``topTable(fit, coef=)``;
    otherwise it goes through ``contrasts.fit``. A within-subject comparison (``subject`` column,
    :func:`~markerflow.model.design.comparison_pairing`) is fitted as limma's paired/repeated
    measures analysis: ``duplicateCorrelation(y, design, block = subject)`` then ``lmFit(y,
    design, block = subject, correlation = consensus)`` (:mod:`markerflow.engines.duplicate_correlation`),
    and the effect size is the paired standardised mean change
    (:func:`markerflow.model.effectsize.paired_g`) instead of Hedges' g.
    Genes with the same value in every sample are not tested (NaN log2fc/stat/pvalue/padj, logged)
    and do not enter the eBayes prior; infinite values are an :class:`InputError`.
    ``n_case``/``n_control`` count the non-missing samples of the two compared levels.
    """
    expression = align(expression, samples)
    design, paired = comparison_design(
        samples,
        case_label,
        control_label,
        covariates,
        "array",
        formula=formula,
        cohort=cohort,
        levels=levels,
    )
    sheet = samples.set_index(samples["sample"].astype(str)).loc[design.samples]
    sheet = sheet.reset_index(drop=True)
    expression = expression.loc[:, design.samples]
    values, constant, high = _array_values(expression, cohort)
    block = sheet[SUBJECT].astype(str).to_numpy() if paired else None
    fit, _ = _array_fit(np.where(constant[:, None], np.nan, values), design, block, cohort)
    coef = design.coefficient
    if coef < 0:
        fit, coef = limma.contrasts_fit(fit, design.contrast(case_label, control_label)), 0
    eb = limma.ebayes(fit, proportion=proportion, trend=trend, robust=robust)
    table = pd.DataFrame(limma.top_table(eb, coef=coef))
    is_case = (sheet["condition"] == case_label).to_numpy()
    is_control = (sheet["condition"] == control_label).to_numpy()
    g, g_se = comparison_effect_size(
        values,
        sheet["condition"].astype(str).to_numpy(),
        case_label,
        control_label,
        sheet[SUBJECT].astype(str).to_numpy() if paired else None,
    )
    logfc = table["logFC"].to_numpy()
    t = table["t"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.abs(logfc / t)
    out = pd.DataFrame(
        {
            "gene": expression.index.astype(str),
            "log2fc": logfc,
            "ave_expr": np.where(constant, high, table["AveExpr"].to_numpy()),
            "stat": t,
            "pvalue": table["P.Value"].to_numpy(),
            "padj": table["adj.P.Val"].to_numpy(),
            "se": se,
            "hedges_g": g,
            "hedges_g_se": g_se,
            "n_case": np.sum(~np.isnan(values[:, is_case]), axis=1),
            "n_control": np.sum(~np.isnan(values[:, is_control]), axis=1),
            "B": table["B"].to_numpy(),
            "method": "limma",
        }
    )
    return out[[*DE_COLUMNS, "B", "method"]]


def with_feature_ids(table: pd.DataFrame, features: pd.DataFrame, cohort: str = "") -> pd.DataFrame:
    """``table`` with the genes stage's original feature ID (``features``: columns ``gene``,
    ``feature_id``, :data:`markerflow.stages.genes.FEATURE_COLUMNS`) as its last column.

    Every gene of the table must be in ``features`` (both come from the same genes stage); a
    missing one is an :class:`AnalysisError` naming it.
    """
    lookup = pd.Series(features["feature_id"].to_numpy(), index=features["gene"].astype(str))
    lookup = lookup[~lookup.index.duplicated()]
    genes = table["gene"].astype(str)
    known = genes.isin(lookup.index).to_numpy()
    if not known.all():
        raise AnalysisError(
            f"cohort {cohort}: {int((~known).sum())} gene(s) of the DE table have no row in the "
            f"genes stage's feature table, e.g. {name_first(genes[~known])}"
        )
    ids = genes.map(lookup)
    return table.assign(feature_id=ids.to_numpy())


def summarise_de(
    de: pd.DataFrame,
    cohort: str,
    padj_threshold: float,
    lfc_threshold: float,
    extra: dict[str, object] | None = None,
) -> pd.DataFrame:
    """One-row-per-metric summary of a cohort's DE result (for the report and a person)."""
    significant = (de["padj"] < padj_threshold) & (de["log2fc"].abs() > lfc_threshold)
    rows: dict[str, object] = {
        "cohort": cohort,
        "method": de["method"].iloc[0] if "method" in de and len(de) else "",
        "genes_tested": int(de["pvalue"].notna().sum()),
        "n_case": int(de["n_case"].max()) if len(de) else 0,
        "n_control": int(de["n_control"].max()) if len(de) else 0,
        f"up_padj_lt_{padj_threshold:g}": int((significant & (de["log2fc"] > 0)).sum()),
        f"down_padj_lt_{padj_threshold:g}": int((significant & (de["log2fc"] < 0)).sum()),
        "pvalue_lt_0.05": int((de["pvalue"] < 0.05).sum()),
    }
    rows.update(extra or {})
    return pd.DataFrame({"metric": list(rows), "value": [str(v) for v in rows.values()]})


def cohort_de(
    expression: pd.DataFrame,
    samples: pd.DataFrame,
    data_type: str,
    case_label: str,
    control_label: str,
    covariates: list[str],
    arrays: dict,
    counts: dict,
    cohort: str = "",
    threads: int = 1,
    design_formula: str | None = None,
    levels: list[str] | None = None,
    avg_tx_length: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """DE table of one comparison (``case_label`` vs ``control_label``, two condition levels) and
    the log-scale matrix used downstream (arrays: as given; counts: VST, or TMM log-CPM for the
    limma methods of ``counts["method"]``).

    One model on all the cohort's samples and levels (:func:`array_de`, :func:`counts.deseq2
    <markerflow.stages.counts.deseq2>`), the comparison's contrast read off it; ``design_formula``
    replaces the default ``~ [batch +] covariates + condition`` (the cohort sheet's ``design``);
    ``levels``: the study's level order (its first level present is the reference of the one fit;
    default :func:`~markerflow.model.design.model_levels`).
    The matrix keeps every sample of the sheet (ingest already excludes samples with a missing
    covariate; :func:`~markerflow.model.design.build_design` leaves any other out of the model).
    ``counts["lfc_shrink"] = "normal"`` adds DESeq2's ``log2fc_shrunk`` / ``se_shrunk``
    (:func:`markerflow.stages.counts.deseq2`) to DESeq2 tables.
    ``avg_tx_length``: the genes' average transcript lengths of a cohort from quantifications
    (:func:`markerflow.stages.counts.read_tximport_lengths`); DESeq2 and the VST then use the
    normalisation factors ``DESeqDataSetFromTximport`` derives from them. The limma methods do
    not use them (the tximport vignette gives limma-voom ``lengthScaledTPM`` counts instead).
    """
    check_matrix_axes(expression, f"cohort {cohort or '?'} (de)")
    if data_type == "array":
        table = array_de(
            expression,
            samples,
            case_label,
            control_label,
            covariates,
            trend=arrays["trend"],
            robust=arrays["robust"],
            proportion=arrays["proportion"],
            cohort=cohort,
            formula=design_formula,
            levels=levels,
        )
        return table, align(expression, samples).astype(np.float64)
    from markerflow.stages import counts as counts_mod

    counts_matrix = align(expression, samples)
    batch = samples["batch"].astype(str).nunique() > 1
    method = counts.get("method", "deseq2")
    if method != "deseq2":  # limma-voom / voomWithQualityWeights / limma-trend
        if avg_tx_length is not None:
            log.warning(
                "cohort %s: tximport lengths are not used by %s (use countsFromAbundance "
                "lengthScaledTPM for limma)",
                cohort,
                method,
            )
        table = counts_mod.limma_counts(
            counts_matrix,
            samples,
            case=case_label,
            control=control_label,
            method=method,
            covariates=covariates,
            batch=batch,
            proportion=arrays["proportion"],
            formula=design_formula,
            cohort=cohort,
            levels=levels,
        )
        return table, counts_mod.log_cpm(counts_matrix)
    table = counts_mod.deseq2(
        counts_matrix,
        samples,
        case=case_label,
        control=control_label,
        covariates=covariates,
        batch=batch,
        cooks_filter=counts["cooks_filter"],
        independent_filter=counts["independent_filter"],
        alpha=counts["alpha"],
        n_cpus=threads,
        formula=design_formula,
        cohort=cohort,
        levels=levels,
        avg_tx_length=avg_tx_length,
        lfc_shrink=counts.get("lfc_shrink", False),
    )
    if "method" not in table.columns:
        table["method"] = "DESeq2"
    nf = (
        None
        if avg_tx_length is None
        else counts_mod.tximport_norm_factors(counts_matrix, avg_tx_length, cohort)
    )
    normalized = counts_mod.vst(counts_matrix, norm_factors=nf)
    normalized.index.name = "gene"
    return table, normalized


#: columns of the per-cohort F-test / LRT table (then one ``log2fc_<level>_vs_<reference>`` each)
FTEST_COLUMNS: tuple[str, ...] = ("gene", "stat", "pvalue", "padj", "ave_expr", "df1", "df2")


def cohort_ftest(
    expression: pd.DataFrame,
    samples: pd.DataFrame,
    data_type: str,
    covariates: list[str],
    arrays: dict,
    counts: dict,
    levels: list[str] | None = None,
    cohort: str = "",
    threads: int = 1,
    design_formula: str | None = None,
    avg_tx_length: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The test across all condition levels of a cohort (>= 3 levels), one row per gene.

    Arrays: limma's moderated F-test (``topTableF``) of the condition contrasts (every level
    against the first, :meth:`Design.condition_contrasts
    <markerflow.model.design.Design.condition_contrasts>`; F does not depend on that choice) after
    ``contrasts.fit`` and ``eBayes``; blocked on subject (duplicateCorrelation) when a subject has
    samples of several levels and the formula does not declare a between-subject design.
    Counts: DESeq2's likelihood-ratio test of the full design against the design without the
    condition terms (``DESeq(test = "LRT", reduced = ~ batch + covariates)``).
    ``levels``: the level order (the first present is the reference of the log2fc columns;
    default R's sorted factor order, :func:`~markerflow.model.design.model_levels`). Columns :data:`FTEST_COLUMNS` (``stat`` = F or the LR statistic; ``df1`` =
    numerator df, ``df2`` = limma's ``df.prior + df.residual``, NaN for DESeq2), then the coefficients
    ``log2fc_<level>_vs_<reference>`` and ``method``. ``avg_tx_length``: tximport offsets of the
    DESeq2 LRT (as :func:`cohort_de`).
    """
    present = list(dict.fromkeys(samples["condition"].dropna().astype(str)))
    order = [lv for lv in model_levels(samples, present[0], present[-1], levels) if lv in present]
    if len(order) < 3:
        raise InputError(
            f"cohort {cohort}: the F-test across levels needs >= 3 condition levels with samples, "
            f"found {', '.join(order)}"
        )
    reference, other = order[0], order[1]
    parsed = None if design_formula is None else parse_formula(design_formula)
    blocked = False
    if SUBJECT in samples.columns and (parsed is None or SUBJECT in parsed.variables()):
        spans = samples.groupby(samples[SUBJECT].astype(str))["condition"].nunique()
        blocked = bool((spans > 1).any())
    if parsed is not None and data_type != "counts":
        parsed = parsed.without(SUBJECT)  # arrays block on subject instead
    design = build_design(
        samples,
        other,
        reference,
        covariates,
        levels=order,
        formula=parsed,
        subject=blocked and data_type == "counts" and parsed is None,
        cohort=cohort,
    )
    names = [f"log2fc_{lv}_vs_{reference}" for lv in order[1:]]
    if data_type == "array":
        expression = align(expression, samples).loc[:, design.samples]
        sheet = samples.set_index(samples["sample"].astype(str)).loc[design.samples]
        values, constant, _ = _array_values(expression, cohort)
        block = sheet[SUBJECT].astype(str).to_numpy() if blocked else None
        fit, _ = _array_fit(np.where(constant[:, None], np.nan, values), design, block, cohort)
        fit = limma.contrasts_fit(fit, design.condition_contrasts())
        eb = limma.ebayes(
            fit, proportion=arrays["proportion"], trend=arrays["trend"], robust=arrays["robust"]
        )
        ft = limma.top_table_f(eb)
        out = pd.DataFrame(
            {
                "gene": expression.index.astype(str),
                "stat": np.asarray(ft["F"]),
                "pvalue": np.asarray(ft["P.Value"]),
                "padj": np.asarray(ft["adj.P.Val"]),
                "ave_expr": np.asarray(ft["AveExpr"]),
                "df1": float(eb.F_df1),
                "df2": np.broadcast_to(np.asarray(eb.F_df2, dtype=np.float64), eb.F.shape),
            }
        )
        for j, name in enumerate(names):
            out[name] = eb.coefficients[:, j]
        out["method"] = "limma F"
        return out
    from markerflow.stages import counts as counts_mod

    out = counts_mod.deseq2_lrt(
        align(expression, samples).loc[:, design.samples],
        design,
        alpha=counts["alpha"],
        independent_filter=counts["independent_filter"],
        cooks_filter=counts["cooks_filter"],
        n_cpus=threads,
        avg_tx_length=avg_tx_length,
    )
    out = out.rename(
        columns=dict(zip([f"coef_{j}" for j in range(len(names))], names, strict=True))
    )
    out["method"] = "DESeq2 LRT"
    return out
