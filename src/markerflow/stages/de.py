"""Per-cohort differential expression into the common DE table (../shared/DESIGN.md).

Arrays: limma's linear model + empirical-Bayes moderated t (Smyth 2004, SAGMB 3:3), implemented in
:mod:`markerflow.engines.limma`; counts: DESeq2's negative-binomial Wald test, or limma-voom /
limma-trend (``de.counts.method``), via :mod:`markerflow.stages.counts`.
Hedges' g (:mod:`markerflow.model.effectsize`) is added on the log-scale values for the meta-analysis.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from markerflow.contracts import DE_COLUMNS
from markerflow.engines import limma
from markerflow.errors import AnalysisError, InputError
from markerflow.model.design import build_design
from markerflow.model.effectsize import hedges_g

log = logging.getLogger(__name__)


def align(expression: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Order matrix columns as the sample sheet; error naming samples missing from the matrix."""
    missing = [s for s in samples["sample"] if s not in expression.columns]
    if missing:
        raise InputError(f"samples missing from the matrix: {', '.join(missing[:10])}")
    return expression.loc[:, samples["sample"].tolist()]


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
) -> pd.DataFrame:
    """limma lmFit + eBayes + topTable for case vs control, as one DE table (one row per gene).

    The design is :func:`markerflow.model.design.build_design` (``~ [batch +] covariates +
    condition``, batch when the sheet has more than one; the same rule as for counts).
    Genes with the same value in every sample are not tested (NaN log2fc/stat/pvalue/padj, logged)
    and do not enter the eBayes prior; infinite values are an :class:`InputError`.
    """
    expression = align(expression, samples)
    design = build_design(samples, case_label, control_label, covariates, cohort=cohort)
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
    fit = limma.lm_fit(np.where(constant[:, None], np.nan, values), design.matrix)
    eb = limma.ebayes(fit, proportion=proportion, trend=trend, robust=robust)
    table = pd.DataFrame(limma.top_table(eb, coef=design.coefficient))
    is_case = (samples["condition"] == case_label).to_numpy()
    g, g_se = hedges_g(values, is_case)
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
            "n_control": np.sum(~np.isnan(values[:, ~is_case]), axis=1),
            "B": table["B"].to_numpy(),
            "method": "limma",
        }
    )
    return out[[*DE_COLUMNS, "B", "method"]]


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
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """DE table and the log-scale matrix used downstream (arrays: as given; counts: VST, or
    TMM log-CPM for the limma methods of ``counts["method"]``)."""
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
        )
        return table, align(expression, samples).astype(np.float64)
    from markerflow.stages import counts as counts_mod

    counts_matrix = align(expression, samples)
    batch = samples["batch"].astype(str).nunique() > 1
    method = counts.get("method", "deseq2")
    if method != "deseq2":  # limma-voom / voomWithQualityWeights / limma-trend
        table = counts_mod.limma_counts(
            counts_matrix,
            samples,
            case=case_label,
            control=control_label,
            method=method,
            covariates=covariates,
            batch=batch,
            proportion=arrays["proportion"],
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
    )
    if "method" not in table.columns:
        table["method"] = "DESeq2"
    normalized = counts_mod.vst(counts_matrix)
    normalized.index.name = "gene"
    return table, normalized
