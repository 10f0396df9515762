"""Transparent candidate ranking: one column per line of evidence, each scaled to [0, 1].

Only discovery data enter here (meta table, discovery cohorts' log2 matrices, the ComBat-merged
discovery matrix, discovery enrichment tables). Components:

``effect_size``   min(|pooled g| / ``effect_cap``, 1) (``effect_cap`` = 2: a g of 2 is a very large
                  standardised difference).
``significance``  min(-log10(meta FDR) / ``significance_cap``, 1) (cap 10).
``consistency``   sign agreement x LOO robustness, robustness =
                  min(1, -log10(loo_max_fdr) / -log10(fdr_threshold)): 1 while the gene stays
                  significant with any one cohort left out, decaying beyond. Without LOO (< 3
                  cohorts) robustness is 1; with one cohort the component is not available.
``auc``           AUC of the gene alone within each discovery cohort, averaged (column
                  ``gene_auc``): in each of K stratified folds (seeded) the direction is learned on
                  the training part (sign of the case-control mean difference) and the held-out
                  samples are scored; the pooled out-of-fold scores give the AUC. Scaled as
                  clip(2 (AUC - 0.5), 0, 1): the direction is learned, so AUC < 0.5 means the
                  direction did not replicate across folds and earns 0 (not |AUC - 0.5| x 2).
                  **Not a cross-validated estimate**: the genes were preselected on all samples,
                  before the folds, so on pure noise the top genes show 0.66-0.80 (issue 15). It
                  is ranking evidence only; the honest figure is the leave-one-cohort-out AUC
                  (:mod:`markerflow.stages.validation`).
``stability``     stability selection (Meinshausen & Bühlmann 2010): frequency with which an L1
                  logistic model (liblinear, genes standardised) selects the gene over
                  ``n_subsamples`` random halves of the merged discovery samples (stratified by
                  condition, seeded); C is chosen once by seeded 5-fold CV AUC on all samples.
``pathway``       number of significant (padj < ``pathway_padj``) ORA terms whose overlap genes
                  contain the gene in the gene's direction, divided by the maximum over genes.
``expression``    percentile rank of the gene's mean expression, averaged over discovery cohorts
                  (well-expressed genes are easier to measure in an assay).

Costly evidence and missing components
--------------------------------------
``auc`` and ``stability`` (the costly components) are computed for the ``preselect`` genes with
the best *cheap composite* only: the weighted mean of the cheap components (effect size,
significance, consistency, pathway, expression), ties by meta p-value then gene
(``preselected = True``). For the other genes the costly components are missing (NaN, listed in
``evidence_missing``), never 0. A component unavailable for the whole study (all NaN: no
enrichment tables, one cohort for consistency, no merged matrix) is left out
(``components_used``). ``composite`` is the weighted mean over the components present *for that
gene*: sum_c w_c x_c / sum_c w_c over the non-missing c (weights renormalised per gene).

Ranking is in two tiers: the preselected genes first (by their full composite), then the others
(by their composite, which is their cheap composite). A gene outside the preselected set has, by
construction, weaker cheap evidence than every preselected gene, so the tiers never place a gene
below one with weaker evidence because its costly evidence is missing; and the opposite bias (a
missing component counting as average, ranking an unmeasured gene above a measured one with
stronger cheap evidence) is avoided too. Before this rule, preselection was by meta p-value and
missing evidence counted as 0: BATF2 in the TB study (meta g 2.04, FDR 6e-6) was not preselected
and ranked 332nd; it is now preselected, and its rank reflects its measured evidence.

Ties
----
``rank`` 1 is best. Equal composites (to 1e-12, within a tier) are broken by meta p-value
(smaller first), then by gene symbol (alphabetical); ``rank_tied`` is the competition rank of the
(tier, composite) (the rank every member of a tie shares, R's ``rank(ties.method = "min")``), ``n_tied`` the size of the tie
and ``tie_break`` how the gene's ``rank`` within it was decided (empty when not tied).

Rank stability (seam for leave-one-cohort-out)
----------------------------------------------
``rank_stability``: the table of :func:`markerflow.stages.validation.rank_stability` (``gene``,
``frequency``: the fraction of leave-one-discovery-cohort-out refits in which the gene is in the
top N; genes it does not list were in no fold's top N and get 0), joined as the column
``rank_stability``; reported, not part of the composite.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from markerflow.engines.roc import auc_rows
from markerflow.errors import InputError
from markerflow.model.folds import has_repeats, stratified_folds
from markerflow.stages.cohorts import Cohort

log = logging.getLogger(__name__)

COMPONENTS = ("effect_size", "significance", "consistency", "auc", "stability", "pathway",
              "expression")  # fmt: skip
#: Computed only for the ``preselect`` genes with the best composite of the other components.
COSTLY = ("auc", "stability")


def single_gene_cv_auc(
    cohort: Cohort, genes: list[str], *, seed: int, folds: int = 5
) -> np.ndarray:
    """Out-of-fold AUC of each gene alone (direction learned in the training folds).

    Ranking evidence (``gene_auc``), not a cross-validated estimate: the genes were chosen on all
    samples before the folds (module docstring).
    """
    from sklearn.model_selection import StratifiedKFold

    x = cohort.expression.reindex(genes).to_numpy(dtype=np.float64)
    y = cohort.is_case
    n_min = int(min(y.sum(), (~y).sum()))
    if n_min < 2:
        return np.full(len(genes), np.nan)
    x = np.where(np.isnan(x), np.nanmean(x, axis=1, keepdims=True), x)
    oof = np.zeros_like(x)
    if has_repeats(cohort.groups):  # one subject never on both sides of a fold
        splits = stratified_folds(y, cohort.groups, min(folds, n_min), seed)
    else:
        skf = StratifiedKFold(n_splits=min(folds, n_min), shuffle=True, random_state=seed)
        splits = skf.split(x.T, y)
    for train, test in splits:
        yt = y[train]
        diff = x[:, train][:, yt].mean(axis=1) - x[:, train][:, ~yt].mean(axis=1)
        oof[:, test] = np.sign(diff)[:, None] * x[:, test]
    return auc_rows(oof, y)


def stability_selection(merged: pd.DataFrame, is_case: np.ndarray, genes: list[str], *,
                        seed: int, n_subsamples: int = 100,
                        groups: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Selection frequency of each gene by L1 logistic regression over random half-subsamples.

    With repeated subjects (``groups``), the CV folds for C are grouped by subject and each
    subsample draws half of the subjects of each class (a subject's class: its first sample's),
    with all their samples."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    x = merged.reindex(genes).to_numpy(dtype=np.float64).T
    x = np.where(np.isnan(x), np.nanmean(x, axis=0, keepdims=True), x)
    sd = x.std(axis=0, ddof=1)
    x = np.nan_to_num((x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0))
    y = np.asarray(is_case, dtype=bool).astype(int)
    n_min = int(min(y.sum(), len(y) - y.sum()))
    if n_min < 4:
        return np.full(len(genes), np.nan)

    def model(c: float) -> LogisticRegression:
        return LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", random_state=seed)

    cs = np.logspace(-2, 0.5, 8)
    if has_repeats(groups):
        splits = stratified_folds(y, groups, min(5, n_min), seed)
    else:
        splits = StratifiedKFold(n_splits=min(5, n_min), shuffle=True, random_state=seed).split(
            x, y
        )
    score = np.zeros(cs.size)
    for train, test in splits:
        for i, c in enumerate(cs):
            fit = model(c).fit(x[train], y[train])
            score[i] += auc_rows(fit.decision_function(x[test])[None], y[test] == 1)[0]
    c_best = cs[int(np.argmax(score))]
    rng = np.random.default_rng(seed)
    idx_case, idx_ctrl = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    counts = np.zeros(len(genes))
    if has_repeats(groups):
        _, first, member = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
        g_case, g_ctrl = np.flatnonzero(y[first] == 1), np.flatnonzero(y[first] == 0)
    for _ in range(n_subsamples):
        if has_repeats(groups):
            chosen = np.concatenate([rng.choice(g_case, g_case.size // 2, replace=False),
                                     rng.choice(g_ctrl, g_ctrl.size // 2, replace=False)])  # fmt: skip
            sub = np.flatnonzero(np.isin(member, chosen))
        else:
            sub = np.concatenate([rng.choice(idx_case, idx_case.size // 2, replace=False),
                                  rng.choice(idx_ctrl, idx_ctrl.size // 2, replace=False)])  # fmt: skip
        counts += model(c_best).fit(x[sub], y[sub]).coef_[0] != 0
    return counts / n_subsamples


def pathway_counts(genes: pd.Series, direction: pd.Series,
                   enrichment: Sequence[pd.DataFrame], padj: float) -> np.ndarray:  # fmt: skip
    """Number of significant ORA terms listing each gene (in its own direction when the table
    has a ``direction`` column with up/down). ``genes`` are unique (the meta table's)."""
    names = genes.astype(str).to_numpy()
    position = {g: i for i, g in enumerate(names)}
    if len(position) != len(names):
        dup = pd.Index(names)[pd.Index(names).duplicated()][0]
        raise InputError(f"the meta table lists gene {dup!r} more than once",
                         hint="pass the table written by markerflow.stages.meta")  # fmt: skip
    dirs = direction.to_numpy()
    counts = np.zeros(len(names))
    for table in enrichment:
        if table is None or table.empty:
            continue
        missing = [c for c in ("padj", "genes") if c not in table.columns]
        if missing:
            raise InputError(f"enrichment table lacks column(s) {missing}",
                             hint="pass ORA tables written by markerflow.stages.enrichment")  # fmt: skip
        sig = table[table["padj"] < padj]
        term_dirs = sig["direction"] if "direction" in sig.columns else [None] * len(sig)
        for listed, d in zip(sig["genes"].astype(str), term_dirs, strict=True):
            members = [position[g] for g in listed.split(";") if g in position]
            if d in ("up", "down"):
                members = [i for i in members if dirs[i] == d]
            counts[members] += 1  # a gene listed twice in a term counts once
    return counts


def rank_candidates(
    meta: pd.DataFrame,
    cohorts: Mapping[str, Cohort],
    *,
    merged: pd.DataFrame | None = None,
    merged_is_case: np.ndarray | None = None,
    merged_groups: np.ndarray | None = None,
    enrichment: Sequence[pd.DataFrame] | None = None,
    weights: Mapping[str, float] | None = None,
    seed: int = 0,
    fdr_threshold: float = 0.05,
    preselect: int = 300,
    effect_cap: float = 2.0,
    significance_cap: float = 10.0,
    pathway_padj: float = 0.05,
    n_subsamples: int = 100,
    folds: int = 5,
    rank_stability: pd.DataFrame | None = None,
    expression_means: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Ranked candidate table: gene, direction, the meta statistics used, one [0, 1] column per
    component (:data:`COMPONENTS`), composite, rank. See the module docstring.

    ``expression_means``: each cohort's :func:`cohort_mean_expression` (every gene), when the
    cohorts' matrices hold only the :func:`preselected_genes` rows (read only what is needed,
    issue 20; the same table as with whole matrices)."""
    weights = {c: 1.0 for c in COMPONENTS} | dict(weights or {})
    means = _means(cohorts, expression_means)
    m, genes, out, comp = _cheap_evidence(meta, means, enrichment, weights, fdr_threshold,
                                          effect_cap, significance_cap, pathway_padj)  # fmt: skip
    pre = _preselection(comp, m, genes, weights, preselect)
    pre_genes = list(genes[pre])
    out["preselected"] = pre
    if cohorts:
        aucs = np.vstack([single_gene_cv_auc(c, pre_genes, seed=seed, folds=folds)
                          for c in cohorts.values()])  # fmt: skip
        with np.errstate(invalid="ignore"):
            mean_auc = np.nanmean(aucs, axis=0) if np.isfinite(aucs).any() else aucs[0]
        out["gene_auc"] = np.nan
        out.loc[pre, "gene_auc"] = mean_auc
        comp.loc[pre, "auc"] = np.clip(2.0 * (mean_auc - 0.5), 0.0, 1.0)
        if np.isnan(mean_auc).all():
            comp["auc"] = np.nan
    if merged is not None and merged_is_case is not None and merged.shape[1] > 0:
        freq = stability_selection(merged, merged_is_case, pre_genes, seed=seed,
                                   n_subsamples=n_subsamples, groups=merged_groups)  # fmt: skip
        if np.isfinite(freq).any():
            comp.loc[pre, "stability"] = freq
    available = [c for c in COMPONENTS if comp[c].notna().any() and weights[c] > 0]
    if not available:
        raise InputError("every candidate weight is 0 or its evidence is unavailable",
                         hint="give a positive weight to effect_size or significance")  # fmt: skip
    missing = comp[[c for c in COSTLY if c in available]].isna()
    out = pd.concat([out, comp], axis=1)
    out["composite"] = _weighted_mean(comp, available, weights)
    out["components_used"] = ",".join(available)
    out["evidence_missing"] = [",".join(c for c, gone in zip(missing.columns, row, strict=True)
                                        if gone) for row in missing.to_numpy()]  # fmt: skip
    if rank_stability is not None:
        # the fold table lists genes in some fold's top N; every other gene was in none (0)
        table = rank_stability.set_index(rank_stability["gene"].astype(str))["frequency"]
        out["rank_stability"] = table.reindex(genes.to_numpy()).fillna(0.0).to_numpy(np.float64)
    out["_p"] = m["pvalue"].to_numpy()
    out["_c"] = np.round(out["composite"].to_numpy(dtype=np.float64), 12)
    # tier 0: costly evidence measured (or no costly component in the study); tier 1: missing
    out["_t"] = (out["evidence_missing"] != "").astype(np.int64)
    out = out.sort_values(["_t", "_c", "_p", "gene"], ascending=[True, False, True, True],
                          kind="mergesort")  # fmt: skip
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    key = out["_t"] * 10.0 - out["_c"]  # composites lie in [0, 1]: orders tier, then composite
    rank_tied = key.rank(method="min").astype(np.int64)
    n_tied = out.groupby(["_t", "_c"])["gene"].transform("size").astype(np.int64)
    p_tied = out.groupby(["_t", "_c", "_p"])["gene"].transform("size") > 1
    out.insert(1, "rank_tied", rank_tied.to_numpy())
    out.insert(2, "n_tied", n_tied.to_numpy())
    out["tie_break"] = np.where(n_tied.to_numpy() == 1, "",
                                np.where(p_tied.to_numpy(), "gene symbol", "meta p-value"))  # fmt: skip
    out = out.drop(columns=["_p", "_c", "_t"])
    log.info("candidates: %d genes, components %s", len(out), available)
    return out.reset_index(drop=True)


def cohort_mean_expression(cohort: Cohort) -> pd.Series:
    """Each gene's mean expression over the cohort's samples (input of the ``expression``
    component: its percentile rank among the cohort's genes)."""
    return cohort.expression.mean(axis=1)


def _means(
    cohorts: Mapping[str, Cohort] | None, expression_means: Mapping[str, pd.Series] | None
) -> list[pd.Series]:
    """Per discovery cohort, its genes' mean expression (given, or from the whole matrices)."""
    if expression_means is not None:
        names = list(expression_means) if cohorts is None else list(cohorts)
        return [expression_means[name] for name in names]
    return [cohort_mean_expression(c) for c in (cohorts or {}).values()]


def preselected_genes(
    meta: pd.DataFrame,
    cohorts: Mapping[str, Cohort] | None = None,
    *,
    expression_means: Mapping[str, pd.Series] | None = None,
    enrichment: Sequence[pd.DataFrame] | None = None,
    weights: Mapping[str, float] | None = None,
    fdr_threshold: float = 0.05,
    preselect: int = 300,
    effect_cap: float = 2.0,
    significance_cap: float = 10.0,
    pathway_padj: float = 0.05,
) -> list[str]:
    """The genes :func:`rank_candidates` (same arguments) computes the costly evidence for: the
    ``preselect`` best by the cheap composite (module docstring), in meta-table order. A caller
    that prepares ``merged`` can restrict it to these rows (the leave-one-cohort-out fold
    ComBat-adjusts only them); ``rank_candidates`` reads nothing else of ``merged``, nor of the
    cohorts' matrices besides their genes' means. With ``expression_means`` (each cohort's
    :func:`cohort_mean_expression`, issue 20) no matrix is needed: ``cohorts`` may be left out."""
    w = {c: 1.0 for c in COMPONENTS} | dict(weights or {})
    means = _means(cohorts, expression_means)
    m, genes, _, comp = _cheap_evidence(meta, means, enrichment, w, fdr_threshold, effect_cap,
                                        significance_cap, pathway_padj)  # fmt: skip
    return list(genes[_preselection(comp, m, genes, w, preselect)])


def _cheap_evidence(
    meta: pd.DataFrame,
    means: Sequence[pd.Series],
    enrichment: Sequence[pd.DataFrame] | None,
    weights: Mapping[str, float],
    fdr_threshold: float,
    effect_cap: float,
    significance_cap: float,
    pathway_padj: float,
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.DataFrame]:
    """The candidate table's first columns and the cheap components (all genes)."""
    unknown = sorted(set(weights) - set(COMPONENTS))
    if unknown:
        raise InputError(f"unknown candidates.weights key(s) {unknown}",
                         hint=f"use {list(COMPONENTS)}")  # fmt: skip
    if any(w < 0 for w in weights.values()):
        raise InputError("candidates.weights must be >= 0")
    m = meta.dropna(subset=["pooled_effect", "pvalue"]).reset_index(drop=True)
    genes = m["gene"].astype(str)
    out = pd.DataFrame({
        "gene": genes,
        "direction": np.where(m["pooled_effect"] > 0, "up", "down"),
        "pooled_effect": m["pooled_effect"],
        "fdr": m["fdr"],
        "n_cohorts": m["n_cohorts"],
        "sign_agreement": m["sign_agreement"],
        "loo_max_fdr": m["loo_max_fdr"],
    })  # fmt: skip
    comp = pd.DataFrame(index=out.index, columns=list(COMPONENTS), dtype=np.float64)
    comp["effect_size"] = np.minimum(m["pooled_effect"].abs() / effect_cap, 1.0)
    with np.errstate(divide="ignore"):
        neglog = -np.log10(np.clip(m["fdr"].to_numpy(dtype=float), 1e-300, 1.0))
    comp["significance"] = np.minimum(neglog / significance_cap, 1.0)
    if len(means) >= 2:
        loo = m["loo_max_fdr"].to_numpy(dtype=float)
        with np.errstate(divide="ignore"):
            robust = np.minimum(
                1.0, -np.log10(np.clip(loo, 1e-300, 1.0)) / -np.log10(fdr_threshold)
            )
        robust = np.where(np.isnan(loo), 1.0, robust)
        comp["consistency"] = m["sign_agreement"].to_numpy(dtype=float) * robust

    if enrichment:
        counts = pathway_counts(genes, out["direction"], enrichment, pathway_padj)
        out["n_terms"] = counts.astype(np.int64)
        comp["pathway"] = counts / counts.max() if counts.max() > 0 else 0.0
    if means:
        ranks = [mean.rank(pct=True).reindex(genes.to_numpy()).to_numpy() for mean in means]
        with np.errstate(invalid="ignore"):
            comp["expression"] = np.nanmean(np.vstack(ranks), axis=0)

    return m, genes, out, comp


def _preselection(comp: pd.DataFrame, m: pd.DataFrame, genes: pd.Series,
                  weights: Mapping[str, float], preselect: int) -> np.ndarray:  # fmt: skip
    """Mask of the ``preselect`` genes with the best cheap composite (ties: meta p, gene)."""
    cheap_score = _weighted_mean(comp, [c for c in COMPONENTS if c not in COSTLY], weights)
    order = np.lexsort((genes.to_numpy(), m["pvalue"].to_numpy(), -np.nan_to_num(cheap_score)))
    order = order[:preselect]
    pre = np.zeros(len(m), dtype=bool)
    pre[order] = True
    return pre


def _weighted_mean(comp: pd.DataFrame, columns: Sequence[str], weights: Mapping[str, float]):
    """Per gene: sum w_c x_c / sum w_c over the columns that are not NaN for that gene."""
    cols = [c for c in columns if weights[c] > 0 and comp[c].notna().any()]
    values = comp[cols].to_numpy(dtype=np.float64)
    w = np.array([weights[c] for c in cols], dtype=np.float64)
    present = np.isfinite(values)
    total = present @ w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.nan_to_num(values) @ w / total, np.nan)


__all__ = ["COMPONENTS", "COSTLY", "cohort_mean_expression", "pathway_counts",
           "preselected_genes", "rank_candidates", "single_gene_cv_auc",
           "stability_selection"]  # fmt: skip
