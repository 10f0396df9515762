"""The counts half of the de stage: DESeq2 and VST, or limma-voom / limma-trend, of count cohorts.

Reading and validating count matrices is :mod:`markerflow.io.matrices`; mapping IDs to symbols and
the low-count filter are the genes stage (:mod:`markerflow.stages.genes`).

Methods and references
- Differential expression: DESeq2 (Love, Huber & Anders 2014, Genome Biology 15:550), R package
  1.38 defaults: median-of-ratios size factors, gene-wise dispersions with Cox-Reid adjustment,
  parametric dispersion trend, MAP shrinkage, Wald test on the condition coefficient, Cook's
  distance outlier filtering / replacement (>= 7 replicates), independent filtering on the mean of
  normalised counts (Bourgon et al. 2010) and BH adjustment. Computed by
  :mod:`markerflow.engines.deseq2`, a vectorised re-implementation of R's code path (parity with R
  in tests/test_counts_parity.py); ``engine="pydeseq2"`` runs pydeseq2 0.5.4's DeseqDataSet instead.
- tximport offsets: for a cohort from salmon/kallisto files with ``countsFromAbundance = "no"``
  the fit uses normalisation factors from the genes' average transcript lengths instead of size
  factors, as ``DESeqDataSetFromTximport`` (:func:`tximport_gene_lengths`,
  :func:`tximport_norm_factors`; R parity in tests/test_tximport_offsets.py).
- Variance-stabilising transformation: DESeq2 ``varianceStabilizingTransformation`` (parametric
  trend, ``blind=True`` by default: dispersions fitted with an intercept-only design).

Design of the DE model: ``~ [batch +] [subject +] covariates + condition`` (or the cohort's
formula) on every condition level of the cohort with the comparison's control as reference, built
by :func:`markerflow.model.design.comparison_design` (the same rule as for arrays: numeric
covariates standardised, categorical ones treatment-coded, samples with a missing covariate value
excluded and recorded in ``attrs["deseq2"]["excluded_samples"]``, a single-valued covariate
dropped with a warning, recorded in ``attrs["deseq2"]["dropped_covariates"]``; a confounded batch
or covariate is an :class:`~markerflow.errors.InputError` naming the column and the samples).
``subject`` is a term when the comparison is within subjects. The likelihood-ratio test across
all levels is :func:`deseq2_lrt`.

limma methods (``de.counts.method``, :func:`limma_counts`; limma 3.54 / edgeR 3.40 as the limma
user's guide runs them, engines :mod:`markerflow.engines.edger`, :mod:`markerflow.engines.voom`,
:mod:`markerflow.engines.limma`, R parity in tests/test_voom_parity.py):

- one model on every condition level of the cohort, as DESeq2 and the array path (issue 17):
  TMM normalisation factors (``calcNormFactors``) of all the model's samples; effective library
  sizes ``colSums * factors``;
- ``voom``: ``voom(counts, design, lib.size)`` -> ``lmFit`` with the precision weights ->
  ``eBayes``; ``voom_quality_weights``: ``voomWithQualityWeights`` (sample weights by
  ``arrayWeights``, method ``genebygene``) instead of voom; ``limma_trend``:
  ``cpm(log = TRUE, prior.count = 3)`` -> ``lmFit`` -> ``eBayes(trend = TRUE)`` (the prior count of
  the limma user's guide, section 15.5);
- the same design as DESeq2 (:func:`markerflow.model.design.comparison_design`), the comparison
  as the condition coefficient or ``contrasts.fit`` of case - control (R parity of the
  three-level case in tests/test_voom_levels.py); the low-count filter before it is edgeR's ``filterByExpr`` with the condition as
  group (:func:`markerflow.stages.genes.map_cohort_genes`);
- DE table ``DE_COLUMNS`` from ``topTable``: ``log2fc`` = logFC, ``ave_expr`` = AveExpr (mean
  log-CPM), ``stat`` = moderated t, ``se`` = ``stdev.unscaled * sqrt(s2.post)``, Hedges' g on the
  same log-CPM values as the fit (voom's ``E``; the log-CPM for limma-trend); then ``B`` and
  ``method`` (``limma-voom``, ``limma-voom-qw``, ``limma-trend``); the factors, library sizes and
  sample weights in ``attrs["limma"]``;
- the matrix passed downstream is that log-CPM of every sample of the sheet (TMM over them).

DESeq2 DE table (``markerflow.contracts.DE_COLUMNS`` first): ``log2fc`` = DESeq2 log2FoldChange (MLE, no
shrinkage), ``ave_expr`` = mean of the VST values of the gene over the samples tested (log2 scale,
comparable to limma's AveExpr), ``stat`` = Wald statistic, ``se`` = lfcSE, ``pvalue``/``padj`` as
DESeq2's ``results()`` (NA p-value for Cook's outliers, NA padj for genes removed by independent
filtering), ``hedges_g``/``hedges_g_se`` on the VST values; then ``baseMean``, ``dispersion``,
``disp_gene_est``, ``disp_fit``, ``max_cooks``, ``cooks_outlier``, ``replaced``,
``independent_filtered``, ``beta_converged``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from markerflow.contracts import DE_COLUMNS
from markerflow.engines import edger, limma
from markerflow.engines import voom as voom_engine
from markerflow.errors import AnalysisError, InputError
from markerflow.model.design import SUBJECT, Design, comparison_design
from markerflow.model.effectsize import comparison_effect_size
from markerflow.stages.ingest import check_sheet_matches

# markerflow.engines.deseq2 (scipy.stats and scipy.optimize, ~0.5-1 s CPU) is imported inside the
# functions that fit DESeq2: an array cohort's DE job imports this module only for
# read_tximport_lengths (issue 20).
log = logging.getLogger(__name__)


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
    norm_factors: np.ndarray | None = None,
) -> pd.DataFrame:
    """DESeq2 ``varianceStabilizingTransformation`` (log2-like scale), genes x samples.

    ``blind=True`` (default, as R) fits the gene-wise dispersions and the parametric trend with an
    intercept-only design; ``blind=False`` uses ``design`` (samples x coefficients). The parametric
    trend gives the closed form of Anders & Huber (2010); if it cannot be fitted the ``mean`` trend
    is used (R would use a local fit), with a warning. ``norm_factors`` (genes x samples, e.g.
    tximport offsets, :func:`tximport_norm_factors`) replace the size factors everywhere, as R's
    ``vst`` of a ``DESeqDataSetFromTximport`` object (``counts(dds, normalized = TRUE)`` and the
    dispersion fit use ``normalizationFactors``).
    """
    from markerflow.engines import deseq2 as engine_mod  # on use (scipy.stats; see imports)

    y = counts.to_numpy(dtype=np.float64)
    if norm_factors is not None:
        nf = np.asarray(norm_factors, dtype=np.float64)
        if nf.shape != y.shape:
            raise ValueError(f"normalization factors have shape {nf.shape}, counts {y.shape}")
        sf2 = nf
    else:
        sf = engine_mod.size_factors(y) if size_factors is None else np.asarray(size_factors, float)
        sf2 = sf[None, :]  # broadcasts against the counts
    X = np.ones((y.shape[1], 1)) if (blind or design is None) else design.to_numpy(float)
    nz = y.sum(axis=1) > 0
    sf_nz = sf2[nz] if norm_factors is not None else sf2[0]
    ge = engine_mod.disp_gene_est(y[nz], sf_nz, X, n_cpus=max(1, int(n_cpus)))
    bm = (y[nz] / (sf2[nz] if norm_factors is not None else sf2)).mean(axis=1)
    trend = engine_mod.fit_trend(bm, ge.disp, fit_type)
    q = y / sf2
    if trend.fit_type == "parametric":
        assert trend.coefs is not None
        a0, a1 = trend.coefs
        v = np.log((1 + a1 + 2 * a0 * q + 2 * np.sqrt(a0 * q * (1 + a1 + a0 * q))) / (4 * a0))
        v /= np.log(2)
    else:
        assert trend.mean is not None
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
    formula: str | None = None,
    cohort: str = "",
    levels: list[str] | None = None,
    avg_tx_length: pd.DataFrame | None = None,
    lfc_shrink: str | bool = False,
) -> pd.DataFrame:
    """DESeq2 Wald test of ``case`` vs ``control`` on one fit of all the cohort's levels.

    Design: :func:`markerflow.model.design.comparison_design`, ``~[batch +] [subject +]
    covariates + condition`` (or ``formula``) with every condition level of ``samples``, the
    reference level from ``levels`` (:func:`~markerflow.model.design.model_levels`); the test is
    ``results(dds, name = "condition_<case>_vs_<control>")`` when control is the reference, else
    ``results(dds, contrast = c("condition", case, control))``; ``subject`` is a term when the
    comparison is within
    subjects (:func:`~markerflow.model.design.comparison_pairing`), and the effect size then the
    paired standardised mean change. ``counts``: genes x samples integer matrix (index = gene);
    ``samples``: sheet with columns ``sample``, ``condition``, ``batch`` and the covariates.
    ``vst_values`` (genes x samples, e.g. from :func:`vst`) are used for ``ave_expr`` and the
    effect size; computed blind if not given. ``n_cpus`` splits the genes into that many blocks
    fitted in threads (identical results); ``engine="pydeseq2"`` runs pydeseq2 0.5.4 instead
    (slower; ``n_cpus`` is passed to it). Returns the DE table (see module docstring) with a run
    summary in ``attrs["deseq2"]``.

    ``avg_tx_length`` (genes x samples, a row for every gene of ``counts``; from
    :func:`tximport_gene_lengths`): the cohort came from transcript quantifications
    (``countsFromAbundance = "no"``) and DESeq2 uses normalisation factors from these average
    transcript lengths instead of size factors, as ``DESeqDataSetFromTximport`` then
    ``DESeq()`` (:func:`tximport_norm_factors`); the VST values, when computed here, use them
    too. The summary records ``"offsets": "tximport average transcript lengths"``.

    ``lfc_shrink="normal"`` (config ``de.counts.lfc_shrink``) adds ``log2fc_shrunk`` and
    ``se_shrunk``: DESeq2 1.38 ``lfcShrink(dds, type = "normal")`` of the same test
    (:func:`markerflow.engines.deseq2.lfc_shrink_normal`), ``coef =`` the condition coefficient
    when ``results(name =)`` is the test, else ``contrast = c("condition", case, control)`` on the
    expanded model matrix (every categorical term of the design a factor). A design with an
    interaction term is refused by DESeq2's normal prior; the columns are then NaN, with a
    warning. ``log2fc`` stays the MLE.

    Steps: the sheet aligned with the matrix (:func:`_cohort_samples`); the design; the engine
    (:func:`_run_markerflow` or :func:`_run_pydeseq2`), each giving DESeq2's results columns and a
    summary; the DE table (:func:`_de_table`).
    """
    from markerflow.engines import deseq2 as engine_mod  # on use (scipy.stats; see imports)

    covariates = list(covariates or [])
    counts, sheet = _cohort_samples(counts, samples, case, control)
    design, paired = comparison_design(
        sheet,
        case,
        control,
        covariates,
        "counts",
        formula=formula,
        batch=batch,
        cohort=cohort,
        levels=levels,
    )
    if design.excluded:
        keep = sheet["sample"].isin(design.samples).to_numpy()
        sheet = sheet.loc[keep].reset_index(drop=True)
        counts = counts.loc[:, list(sheet["sample"])]
    n_case = int((sheet["condition"] == case).sum())
    n_control = int((sheet["condition"] == control).sum())
    # several levels: R's results(contrast = c("condition", case, control)) (with its rule that
    # zeroes the LFC of genes whose counts are all zero in both levels); two levels: the
    # coefficient, results(name = ...) as before issue 16
    contrast = None
    has_contrast = engine == "markerflow" and hasattr(engine_mod, "LevelContrast")
    if design.coefficient < 0 or (len(design.levels) > 2 and has_contrast):
        if not has_contrast:
            raise InputError(
                f"cohort {cohort}: {case!r} vs {control!r} is no single coefficient of the "
                f"design {design.formula!r} and this DESeq2 engine takes no contrast",
                hint="give the comparison's control as the first level (study level order)",
            )
        contrast = getattr(engine_mod, "LevelContrast")(*design.level_columns(case, control))  # noqa: B009
    X = design.frame()
    nf = None if avg_tx_length is None else tximport_norm_factors(counts, avg_tx_length, cohort)
    shrink = _shrink_spec(lfc_shrink, design, contrast)
    if (nf is not None or shrink is not None) and engine != "markerflow":
        if shrink is not None:
            raise InputError(
                f"cohort {cohort}: de.counts.lfc_shrink needs the markerflow DESeq2 engine",
                hint="use engine markerflow or lfc_shrink: false",
            )
        raise InputError(
            f"cohort {cohort}: the {engine} engine takes no tximport length offsets",
            hint="use the markerflow DESeq2 engine, or countsFromAbundance lengthScaledTPM",
        )
    if nf is not None and vst_values is None:
        vst_values = vst(counts, norm_factors=nf)
    if engine == "markerflow":
        try:
            table, summary = _run_markerflow(
                counts,
                X,
                alpha,
                cooks_filter,
                independent_filter,
                n_cpus,
                min_replicates_for_replace,
                design.coefficient,
                contrast,
                norm_factors=nf,
                shrink=shrink,
            )
        except (ValueError, FloatingPointError) as exc:  # the engine's own DESeq2 stops
            raise AnalysisError(
                f"DESeq2 cannot fit this count matrix ({counts.shape[0]} genes x "
                f"{counts.shape[1]} samples): {exc}; R DESeq2 stops at the same point "
                "(too few genes or too sparse counts for size factors and the dispersion trend)"
            ) from None
    elif engine == "pydeseq2":
        table, summary = _run_pydeseq2(
            counts,
            X,
            alpha,
            cooks_filter,
            independent_filter,
            n_cpus,
            min_replicates_for_replace,
            design.coefficient,
        )
    else:
        raise InputError(f"unknown DESeq2 engine {engine!r}", hint="use 'markerflow' or 'pydeseq2'")
    condition = sheet["condition"].to_numpy()
    subject = sheet[SUBJECT].astype(str).to_numpy() if paired else None
    de = _de_table(counts, table, vst_values, condition, case, control, subject, n_case, n_control)
    summary.update(
        {
            "design": list(X.columns),
            "formula": design.formula,
            "engine": engine,
            "n_genes": len(de),
            "n_padj_lt_alpha": int((de["padj"] < alpha).sum()),
            "alpha": alpha,
            "case": case,
            "control": control,
            "n_case": n_case,
            "n_control": n_control,
            "paired": paired,
            "covariates_standardised": design.standardised,
            "dropped_covariates": design.dropped,
            "excluded_samples": design.excluded,
            "offsets": "size factors" if nf is None else "tximport average transcript lengths",
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


def _cohort_samples(
    counts: pd.DataFrame, samples: pd.DataFrame, case: str, control: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sheet (every level: one fit on all the cohort's samples) and the matrix columns in
    the sheet's order.

    Checks the sheet's columns and that it matches the matrix (:func:`check_sheet_matches`) and
    requires >= 2 samples in each of the two compared levels. Returns ``(counts, sheet)``.
    """
    for col in ("sample", "condition"):
        if col not in samples.columns:
            raise InputError(f"sample sheet has no {col!r} column")
    counts = check_sheet_matches(counts, samples, allow_extra=False)
    sheet = samples.copy().reset_index(drop=True)
    sheet["sample"] = sheet["sample"].astype(str)
    sheet["condition"] = sheet["condition"].astype(str)
    n_case = int((sheet["condition"] == case).sum())
    n_control = int((sheet["condition"] == control).sum())
    if n_case < 2 or n_control < 2:
        raise InputError(
            f"need >= 2 samples per group, found {n_case} {case!r} and {n_control} {control!r}",
            hint="check study.case_label / control_label and the condition column",
        )
    others = sheet.loc[~sheet["condition"].isin([case, control]), "condition"].value_counts()
    if len(others):
        log.info("levels in the model besides the comparison: %s", dict(others))
    return counts, sheet


def _run_markerflow(
    counts: pd.DataFrame,
    X: pd.DataFrame,
    alpha: float,
    cooks_filter: bool,
    independent_filter: bool,
    n_cpus: int,
    min_rep: int,
    coef: int = -1,
    contrast: Any = None,
    norm_factors: np.ndarray | None = None,
    shrink: dict | None = None,
) -> tuple[pd.DataFrame, dict]:
    """DESeq2 by :mod:`markerflow.engines.deseq2`: ``DESeq()`` then ``results()`` on coefficient
    ``coef`` (or the level ``contrast``); ``norm_factors``: genes x samples offsets instead of
    size factors; ``shrink`` (:func:`_shrink_spec`): also ``lfcShrink(type = "normal")``.
    Returns DESeq2's results columns (index = gene) and the run summary."""
    from markerflow.engines import deseq2 as engine_mod  # on use (scipy.stats; see imports)

    y = counts.to_numpy(dtype=np.float64)
    res = engine_mod.run_deseq(
        y, X.to_numpy(), min_rep, n_cpus=max(1, int(n_cpus)), norm_factors=norm_factors
    )
    single = X.shape[1] == 2
    extra = {} if contrast is None else {"contrast": contrast}  # engine of issue 16
    out = engine_mod.results(
        res,
        X.to_numpy(),
        y,
        coef=coef,
        **extra,
        alpha=alpha,
        cooks_filter=cooks_filter,
        independent_filter=independent_filter,
        single_factor_two_levels=single,
    )
    table = pd.DataFrame(
        {
            "baseMean": res.base_mean,
            "log2FoldChange": out.log2_fold_change,
            "lfcSE": out.lfc_se,
            "stat": out.stat,
            "pvalue": out.pvalue,
            "padj": out.padj,
            "dispersion": res.dispersion,
            "disp_gene_est": res.disp_gene,
            "disp_fit": res.disp_fit,
            "max_cooks": res.max_cooks,
            "cooks_outlier": out.cooks_outlier,
            "replaced": res.replace,
            "beta_converged": res.beta_conv,
        },
        index=counts.index,
    )
    if shrink is not None:
        table["log2fc_shrunk"], table["se_shrunk"], prior = _shrunken(
            res, X.to_numpy(), y, coef, contrast, shrink, n_cpus
        )
    summary = {
        "size_factors": dict(zip(counts.columns, res.size_factors.tolist(), strict=True))
        if norm_factors is None
        else None,
        "trend_type": res.trend.fit_type,
        "trend_coefficients": None
        if res.trend.coefs is None
        else {"asymptDisp": float(res.trend.coefs[0]), "extraPois": float(res.trend.coefs[1])},
        "disp_prior_var": res.prior_var,
        "var_log_disp_ests": res.var_log_disp,
        "n_replaced": int(res.replace.sum()),
        "filter_threshold": out.filter_threshold,
    }
    if shrink is not None:
        summary["lfc_shrink"] = {"type": "normal", "beta_prior_var": prior}
    return table, summary


def _shrink_spec(lfc_shrink: str | bool, design: Design, contrast: Any) -> dict | None:
    """What ``lfcShrink`` needs from the design: its factors (the columns of every categorical
    term, for the expanded matrix of a contrast) and whether it has an interaction; None when
    no shrinkage is asked for."""
    if lfc_shrink in (False, None, "false", "none"):
        return None
    if lfc_shrink != "normal":
        raise InputError(f"unknown de.counts.lfc_shrink {lfc_shrink!r}", hint="use false or normal")
    factors = []
    for term in dict.fromkeys(design.terms):
        cols = tuple(j for j, t in enumerate(design.terms) if t == term)
        numeric = [design.columns[j] for j in cols] == [term]
        if term != "Intercept" and ":" not in term and not numeric:
            factors.append(cols)
    return {
        "factors": factors,
        "has_interaction": any(":" in t for t in design.terms),
        "uses_contrast": contrast is not None,
    }


def _shrunken(res, X, y, coef, contrast, shrink, n_cpus) -> tuple[np.ndarray, np.ndarray, list]:
    """``lfcShrink(type = "normal")`` columns of the test (NaN + warning where DESeq2 refuses)."""
    from markerflow.engines import deseq2 as engine_mod  # on use (scipy.stats; see imports)

    try:
        out = engine_mod.lfc_shrink_normal(
            res,
            X,
            y,
            coef=None if contrast is not None else coef,
            contrast=contrast,
            factors=shrink["factors"] if contrast is not None else (),
            has_interaction=shrink["has_interaction"],
            n_cpus=max(1, int(n_cpus)),
        )
    except AnalysisError as exc:
        log.warning("log2fc_shrunk not computed: %s", exc)
        warnings.warn(f"log2fc_shrunk not computed: {exc}", RuntimeWarning, stacklevel=2)
        nan = np.full(y.shape[0], np.nan)
        return nan, nan.copy(), []
    return out.log2_fold_change, out.lfc_se, out.beta_prior_var.tolist()


def _de_table(
    counts: pd.DataFrame,
    table: pd.DataFrame,
    vst_values: pd.DataFrame | None,
    condition: np.ndarray,
    case: str,
    control: str,
    subject: np.ndarray | None,
    n_case: int,
    n_control: int,
) -> pd.DataFrame:
    """The DE table: ``DE_COLUMNS`` from DESeq2's results and the VST values (``ave_expr``,
    the effect size of the two levels), then the engine's extra columns and
    ``independent_filtered``."""
    if vst_values is None:
        vst_values = vst(counts)
    v = vst_values.loc[counts.index, list(counts.columns)].to_numpy(dtype=np.float64)
    g, g_se = comparison_effect_size(v, condition, case, control, subject)
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
    return de


def _run_pydeseq2(counts, X, alpha, cooks_filter, independent_filter, n_cpus, min_rep, coef=-1):
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
        contrast[coef] = 1.0
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


def deseq2_lrt(
    counts: pd.DataFrame,
    design: Design,
    alpha: float = 0.1,
    independent_filter: bool = True,
    cooks_filter: bool = True,
    n_cpus: int = 1,
    min_replicates_for_replace: int = 7,
    avg_tx_length: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """DESeq2's likelihood-ratio test of ``design`` against :meth:`Design.reduced
    <markerflow.model.design.Design.reduced>` (R: ``DESeq(dds, test = "LRT", reduced = ~ batch +
    covariates)`` then ``results(dds)``), one row per gene: ``gene``, ``stat`` (LR statistic),
    ``pvalue``, ``padj`` (Cook's filter and independent filtering as ``results()``),
    ``ave_expr`` (mean VST value, blind), ``df1`` (columns dropped), ``df2`` (NaN), then
    ``coef_<k>`` = the full model's condition coefficients (log2, MLE).

    The fit and the test are :func:`markerflow.engines.deseq2.run_deseq` with ``reduced=`` and
    :func:`~markerflow.engines.deseq2.results` with ``test="LRT"`` (issue 16).
    ``avg_tx_length``: tximport offsets as in :func:`deseq2` (fit and VST).
    """
    from markerflow.engines import deseq2 as engine_mod  # on use (scipy.stats; see imports)

    nf = None if avg_tx_length is None else tximport_norm_factors(counts, avg_tx_length)
    y = counts.to_numpy(dtype=np.float64)
    full = design.frame().to_numpy()
    reduced = design.reduced()
    run: Any = engine_mod.run_deseq  # ``reduced=`` lands with issue 16 ("deseq2design")
    test: Any = engine_mod.results
    res = run(
        y,
        full,
        min_replicates_for_replace,
        n_cpus=max(1, int(n_cpus)),
        reduced=reduced,
        norm_factors=nf,
    )
    out = test(
        res,
        full,
        y,
        alpha=alpha,
        cooks_filter=cooks_filter,
        independent_filter=independent_filter,
        single_factor_two_levels=full.shape[1] == 2,
        test="LRT",
    )
    table = pd.DataFrame(
        {
            "gene": counts.index.astype(str),
            "stat": out.stat,
            "pvalue": out.pvalue,
            "padj": out.padj,
            "ave_expr": vst(counts, norm_factors=nf).to_numpy().mean(axis=1),
            "df1": float(full.shape[1] - reduced.shape[1]),
            "df2": np.nan,
        }
    )
    for k, j in enumerate(j for j, t in enumerate(design.terms) if t == "condition"):
        table[f"coef_{k}"] = res.beta[:, j]
    return table


# ------------------------------------------------------------------------------------------------
# tximport offsets: average transcript lengths of the genes, DESeq2 normalisation factors
# ------------------------------------------------------------------------------------------------


def tximport_gene_lengths(
    feature_counts: pd.DataFrame,
    feature_lengths: pd.DataFrame,
    symbols: pd.Series,
    cohort: str = "",
) -> pd.DataFrame:
    """Average transcript lengths of the genes stage's genes (symbols x samples, index ``gene``).

    ``feature_counts`` / ``feature_lengths``: the ingested (rounded) counts and tximport's
    ``length`` matrix of the tximport stage, one row per tx2gene gene ID; ``symbols``: the symbol
    each ID ends on in the genes stage (:func:`markerflow.stages.genes.count_row_symbols`,
    missing = dropped), so the rows summed into one gene there are merged here.

    Rule for several IDs summed into one symbol (the issue is silent; chosen to be what tximport
    1.26 itself would give had the tx2gene table mapped all their transcripts to one gene):
    tximport's gene length is the abundance-weighted mean of its transcripts' lengths,
    ``L = sum(a_t l_t) / sum(a_t)``, and salmon/kallisto abundances are TPM, proportional to
    ``count / effective length`` within a sample. Merging genes i with counts C_i and lengths
    L_i therefore gives the count-weighted harmonic mean per sample

        L = sum_i C_i / sum_i (C_i / L_i),

    exact for unrounded counts when TPM = count / effective length up to a per-sample constant
    (tests/test_tximport_offsets.py: 2e-7 relative against tximport on the merged tx2gene, the
    files printing TPM to limited precision); here C_i are the rounded counts DESeq2 sees (a
    deviation of the order of the rounding, largest for genes with few reads). A symbol with zero counts in a sample gets tximport's ``replaceMissingLength``
    rule: the geometric mean of its lengths in the other samples, or when it has no count in any
    sample the mean over its IDs of their mean length over samples (tximport averages the
    transcripts' lengths there; their per-transcript values are not kept, a deviation). A symbol
    from one ID keeps that ID's lengths unchanged. Vectorised (groupby sums over the rows).
    """
    missing = [g for g in feature_counts.index if g not in feature_lengths.index]
    if missing:
        raise InputError(
            f"cohort {cohort}: {len(missing)} gene ID(s) of the count matrix have no tximport "
            f"length (e.g. {', '.join(map(str, missing[:5]))})",
            path="tx_lengths.parquet",
            hint="rerun the tximport rule: counts and lengths come from the same tximport run",
        )
    absent = [s for s in feature_counts.columns if s not in feature_lengths.columns]
    if absent:
        raise InputError(
            f"cohort {cohort}: sample(s) {', '.join(map(str, absent[:5]))} have no tximport "
            "lengths",
            path="tx_lengths.parquet",
            hint="the lengths file's columns are the quantification samples; rerun tximport",
        )
    lengths = feature_lengths.loc[feature_counts.index, list(feature_counts.columns)]
    sym = symbols.reindex(feature_counts.index)
    keep = sym.notna().to_numpy()
    key = sym[keep].astype(str).to_numpy()
    c = feature_counts.to_numpy(dtype=np.float64)[keep]
    ln = lengths.to_numpy(dtype=np.float64)[keep]
    cols = list(feature_counts.columns)
    num = pd.DataFrame(c, columns=cols).groupby(key, sort=True).sum()
    den = pd.DataFrame(c / ln, columns=cols).groupby(key, sort=True).sum()
    n_ids = pd.Series(key).value_counts().reindex(num.index).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        merged = np.where(num.to_numpy() > 0, num.to_numpy() / den.to_numpy(), np.nan)
    # tximport replaceMissingLength: geometric mean over the other samples; none: simple mean
    ave = pd.Series(ln.mean(axis=1)).groupby(key, sort=True).mean().to_numpy()
    logm = np.log(merged)
    observed = ~np.isnan(merged)
    n_obs = observed.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        geo = np.exp(np.where(observed, logm, 0.0).sum(axis=1) / n_obs)
    fill = np.where(n_obs > 0, geo, ave)
    merged = np.where(observed, merged, fill[:, None])
    single = n_ids == 1
    if single.any():
        first = pd.DataFrame(ln, columns=cols).groupby(key, sort=True).first().to_numpy()
        merged[single] = first[single]
    out = pd.DataFrame(merged, index=num.index, columns=cols)
    out.index.name = "gene"
    n_merged = int((~single).sum())
    if n_merged:
        log.info(
            "cohort %s: tximport lengths of %d symbol(s) summed from several IDs merged "
            "(count-weighted harmonic mean)",
            cohort,
            n_merged,
        )
    return out


def tximport_norm_factors(
    counts: pd.DataFrame, avg_tx_length: pd.DataFrame, cohort: str = ""
) -> np.ndarray:
    """DESeq2 normalisation factors of ``counts`` (genes x samples) from the genes' average
    transcript lengths (:func:`markerflow.engines.deseq2.normalization_factors_from_lengths`,
    DESeq2 1.38 ``estimateSizeFactors`` of a ``DESeqDataSetFromTximport`` object), computed on
    the genes and samples of ``counts`` (after the low-count filter, as size factors are)."""
    from markerflow.engines import deseq2 as engine_mod  # on use (scipy.stats; see imports)

    absent = [g for g in counts.index if g not in avg_tx_length.index]
    if absent:
        raise InputError(
            f"cohort {cohort}: {len(absent)} gene(s) have no tximport length "
            f"(e.g. {', '.join(map(str, absent[:5]))})",
            hint="rerun the tximport rule and the genes stage of the cohort",
        )
    L = avg_tx_length.loc[counts.index, list(counts.columns)].to_numpy(dtype=np.float64)
    try:
        return engine_mod.normalization_factors_from_lengths(counts.to_numpy(np.float64), L)
    except ValueError as exc:
        raise InputError(f"cohort {cohort}: tximport lengths: {exc}") from None


def read_tximport_lengths(
    feature_lengths: pd.DataFrame,
    feature_counts: pd.DataFrame,
    annotation: str | Path | None = None,
    symbol_table: str | Path | None = None,
    cohort: str = "",
) -> pd.DataFrame:
    """The genes' average transcript lengths for the DE stage: the IDs mapped as the genes stage
    maps them (the same gene ID table ``annotation`` and alias table ``symbol_table``,
    :func:`markerflow.stages.genes.count_row_symbols`), then :func:`tximport_gene_lengths`."""
    from markerflow.io.symbols import read_alias_table
    from markerflow.io.tables import read_tsv
    from markerflow.stages.genes import count_row_symbols

    gene_table = None if annotation is None else read_tsv(annotation, dtype=str)
    aliases = None if symbol_table is None else read_alias_table(symbol_table)
    symbols = count_row_symbols(feature_counts.index, gene_table, aliases)
    return tximport_gene_lengths(feature_counts, feature_lengths, symbols, cohort)


# ------------------------------------------------------------------------------------------------
# limma-voom, voomWithQualityWeights, limma-trend
# ------------------------------------------------------------------------------------------------

#: ``de.counts.method`` values and the ``method`` column of their DE tables
COUNT_METHODS = {
    "deseq2": "DESeq2",
    "voom": "limma-voom",
    "voom_quality_weights": "limma-voom-qw",
    "limma_trend": "limma-trend",
}

#: prior count of limma-trend's log-CPM (limma user's guide, RNA-seq case study)
TREND_PRIOR_COUNT = 3.0


def log_cpm(counts: pd.DataFrame) -> pd.DataFrame:
    """voom's log-CPM of every sample, ``log2((y + 0.5) / (L + 1) * 1e6)`` with TMM-scaled
    library sizes ``L`` (the matrix passed downstream by the limma methods)."""
    y = counts.to_numpy(dtype=np.float64)
    lib = y.sum(axis=0) * edger.calc_norm_factors(y)
    e = np.log2((y + 0.5) / (lib + 1)[None, :] * 1e6)
    out = pd.DataFrame(e, index=counts.index, columns=counts.columns)
    out.index.name = "gene"
    return out


def limma_counts(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    case: str,
    control: str,
    method: str,
    covariates: list[str] | None = None,
    batch: bool = False,
    proportion: float = 0.01,
    formula: str | None = None,
    cohort: str = "",
    levels: list[str] | None = None,
) -> pd.DataFrame:
    """limma-voom, voomWithQualityWeights or limma-trend of ``case`` vs ``control`` on one fit of
    all the cohort's levels (see the module docstring); returns the DE table with a run summary
    in ``attrs["limma"]``.

    One model, as the array limma path (:func:`markerflow.stages.de.array_de`) and DESeq2
    (:func:`deseq2`): the design is :func:`markerflow.model.design.comparison_design` on every
    condition level of ``samples`` (reference from ``levels``); TMM factors, voom's
    mean-variance trend (or the quality weights, or limma-trend's log-CPM) and ``lmFit`` use all
    those samples; the comparison is ``topTable(coef =)`` of the condition coefficient when
    control is the reference, else ``contrasts.fit(fit, case - control)`` then ``eBayes``
    (limma user's guide, section 9.3). ``counts``: genes x samples (already filtered, e.g. by
    ``filterByExpr``); ``samples``: the sheet (``sample``, ``condition``, ``batch``,
    covariates). Hedges' g is on the two compared levels' log-CPM values.
    """
    if method not in COUNT_METHODS or method == "deseq2":
        raise InputError(
            f"unknown limma counts method {method!r}",
            hint="use voom, voom_quality_weights or limma_trend (de.counts.method)",
        )
    covariates = list(covariates or [])
    counts, sheet = _cohort_samples(counts, samples, case, control)
    design, paired = comparison_design(
        sheet,
        case,
        control,
        covariates,
        "counts",
        formula=formula,
        batch=batch,
        cohort=cohort,
        levels=levels,
    )
    if design.excluded:
        keep = sheet["sample"].isin(design.samples).to_numpy()
        sheet = sheet.loc[keep].reset_index(drop=True)
        counts = counts.loc[:, list(sheet["sample"])]
    n_case = int((sheet["condition"] == case).sum())
    n_control = int((sheet["condition"] == control).sum())
    x = design.matrix
    y = counts.to_numpy(dtype=np.float64)
    factors = edger.calc_norm_factors(y)
    lib = y.sum(axis=0) * factors
    sample_weights = None
    if method == "limma_trend":
        values = edger.cpm(y, lib, log=True, prior_count=TREND_PRIOR_COUNT)
        fit = limma.lm_fit(values, x)
    else:
        if method == "voom":
            v = voom_engine.voom(y, x, lib_size=lib)
        else:
            v = voom_engine.voom_with_quality_weights(y, x, lib_size=lib)
            sample_weights = v.sample_weights
        values = v.expression
        fit = limma.lm_fit(values, x, weights=v.weights)
    j = design.coefficient
    if j < 0:
        fit, j = limma.contrasts_fit(fit, design.contrast(case, control)), 0
    fit = limma.ebayes(fit, proportion=proportion, trend=method == "limma_trend")
    top = limma.top_table(fit, coef=j)
    g, g_se = comparison_effect_size(
        values,
        sheet["condition"].to_numpy(),
        case,
        control,
        sheet[SUBJECT].astype(str).to_numpy() if paired else None,
    )
    de = pd.DataFrame(
        {
            "gene": counts.index.astype(str),
            "log2fc": top["logFC"],
            "ave_expr": top["AveExpr"],
            "stat": top["t"],
            "pvalue": top["P.Value"],
            "padj": top["adj.P.Val"],
            "se": fit.stdev_unscaled[:, j] * np.sqrt(fit.s2_post),
            "hedges_g": g,
            "hedges_g_se": g_se,
            "n_case": n_case,
            "n_control": n_control,
            "B": top["B"],
            "method": COUNT_METHODS[method],
        }
    )
    assert tuple(de.columns[: len(DE_COLUMNS)]) == DE_COLUMNS
    samples_used = list(counts.columns)
    de.attrs["limma"] = {
        "method": method,
        "design": design.columns,
        "case": case,
        "control": control,
        "n_case": n_case,
        "n_control": n_control,
        "n_genes": len(de),
        "tmm_factors": dict(zip(samples_used, factors.tolist(), strict=True)),
        "lib_sizes": dict(zip(samples_used, lib.tolist(), strict=True)),
        "sample_weights": None
        if sample_weights is None
        else dict(zip(samples_used, sample_weights.tolist(), strict=True)),
        "df_prior": float(np.mean(fit.df_prior)),
        "covariates_standardised": design.standardised,
        "dropped_covariates": design.dropped,
        "excluded_samples": design.excluded,
        "formula": design.formula,
        "levels": list(design.levels),
        "paired": paired,
    }
    log.info(
        "%s: %d genes, %d with padj < 0.05; design %s",
        COUNT_METHODS[method],
        len(de),
        int((de["padj"] < 0.05).sum()),
        " + ".join(design.columns[1:]),
    )
    return de
