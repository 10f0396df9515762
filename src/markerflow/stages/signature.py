"""A small gene signature from the top candidates, its score, and its AUC in every cohort.

Score (MetaIntegrator ``calculateScore``, Haynes et al. 2017; Sweeney et al. 2015)
--------------------------------------------------------------------------------
Within one cohort, on the expression matrix as given (log2 scale in markerflow, like the GEO series
matrices MetaIntegrator works on):

1. if the cohort's minimum value is negative, the whole matrix is shifted by ``|min| + 1`` so every
   value is positive (MetaIntegrator shifts only when min < 0; log2 data are usually left as is);
2. missing values of a signature gene are set to 1 (MetaIntegrator's ``.getGenesData``);
3. ``score = geomean(up genes) - geomean(down genes)`` per sample, the geometric mean taken over
   the *expression values themselves* (on log2 data: the geometric mean of the log2 values, not the
   mean of the logs — that is what MetaIntegrator computes); a side with no genes contributes 0;
4. the score is standardised within the cohort (R ``scale()``: mean 0, sd with ddof = 1).

Genes of the signature that a cohort lacks are left out of that cohort's score and reported.

Forward search (MetaIntegrator ``forwardSearch``)
------------------------------------------------
Greedy: start from the gene with the best discovery AUC, then repeatedly add the candidate (up or
down) that most increases the sample-size-weighted mean AUC over the discovery cohorts
(``sum n_i AUC_i / sum n_i``; MetaIntegrator uses the unnormalised sum, so its threshold is in units
of AUC x samples, ours in AUC). Stop when the best gain is <= ``threshold`` or at ``max_genes``.
MetaIntegrator's search scores candidates with ``geomean(up) - (n_down / n_up) geomean(down)`` but
its final score (``calculateScore``) without that ratio; ``search_ratio=True`` reproduces that,
the default (False) searches with the same score that is reported and validated. Candidates must be
measured in every discovery cohort (MetaIntegrator's ``.matchAll`` requirement). The discovery AUC
of a forward-search signature is **in-sample** (the genes were chosen on these samples).

Penalised logistic alternative
------------------------------
Each candidate gene is standardised within its cohort (label-free), the discovery cohorts are pooled,
and an L1 (``l1_ratio = 1``, liblinear) or elastic-net (saga) logistic regression is fitted with C
chosen by seeded stratified K-fold CV (maximum AUC; largest C with at most ``max_genes`` non-zero
coefficients). :func:`logistic_signature` also returns out-of-fold (nested) predictions, but the
candidate pool is chosen on all samples before those folds, so they are not a cross-validated
estimate (0.87 on single noise cohorts, issue 15): :func:`build_signature` reports the discovery
AUC of the locked model as **in-sample**, like the forward search's. The honest cohort-level
figure is leave-one-cohort-out (:mod:`markerflow.stages.validation`).
The locked model's score in a new cohort is ``sum beta_j z_j`` (missing genes contribute 0).

AUC and its 95 % CI (:mod:`markerflow.engines.roc`): DeLong et al. (1988) with the fast midrank
algorithm of Sun & Xu (2014), as in ``pROC::ci.auc(method = "delong")`` (CI clipped to [0, 1]); in
the performance table, when a class has fewer than 10 samples or the AUC is 0 or 1 (where DeLong
collapses to [1, 1]), Newcombe's (2006) method-5 score interval instead (``ci_method``;
:mod:`markerflow.engines.performance`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from markerflow.engines.roc import auc_rows
from markerflow.errors import AnalysisError, InputError
from markerflow.stages.cohorts import Cohort

log = logging.getLogger(__name__)

SIGNATURE_COLUMNS = ("gene", "direction", "weight", "step", "discovery_auc")
PERFORMANCE_COLUMNS = ("cohort", "role", "n_case", "n_control", "auc", "ci_low", "ci_high",
                       "ci_method", "n_genes_used", "note")  # fmt: skip


# ------------------------------------------------------------------------------------------- score
def _positive(expression: pd.DataFrame) -> pd.DataFrame:
    """MetaIntegrator's shift: the whole matrix + |min| + 1 when its minimum is negative."""
    lo = np.nanmin(expression.to_numpy(dtype=np.float64)) if expression.size else 0.0
    return expression + (abs(lo) + 1.0) if lo < 0 else expression


def _scale(v: np.ndarray) -> np.ndarray:
    sd = np.std(v, ddof=1) if v.size > 1 else 0.0
    return (v - v.mean()) / sd if sd > 0 else np.zeros_like(v)


def metaintegrator_score(
    expression: pd.DataFrame, up: list[str], down: list[str]
) -> tuple[np.ndarray, list[str]]:
    """MetaIntegrator's ``calculateScore`` on one cohort (see module docstring).

    Returns the within-cohort z-scored score (one value per column) and the signature genes that
    were missing from the cohort (left out).
    """
    expr = _positive(expression)
    present = set(expr.index)
    missing = [g for g in [*up, *down] if g not in present]

    def geomean(genes: list[str]) -> np.ndarray | float:
        genes = [g for g in genes if g in present]
        if not genes:
            return 0.0
        block = expr.loc[genes].to_numpy(dtype=np.float64)
        block = np.where(np.isnan(block), 1.0, block)
        return np.exp(np.log(block).mean(axis=0))

    raw = np.broadcast_to(geomean(up) - geomean(down), (expr.shape[1],)).astype(np.float64)
    return _scale(raw), missing


# -------------------------------------------------------------------------------- forward search
def forward_search(
    cohorts: Mapping[str, Cohort],
    up: list[str],
    down: list[str],
    *,
    max_genes: int = 20,
    threshold: float = 0.0,
    search_ratio: bool = False,
) -> pd.DataFrame:
    """MetaIntegrator forward search over the candidate ``up`` and ``down`` genes.

    Vectorised: at each step the scores of all remaining candidates are built at once
    (candidates x samples per cohort) and their AUCs computed from ranks. Returns the signature
    table (:data:`SIGNATURE_COLUMNS`; weight +1 for up, -1 for down; ``discovery_auc`` = the
    weighted in-sample discovery AUC after adding the gene).
    """
    shared = set.intersection(*(set(c.expression.index) for c in cohorts.values()))
    pool = [(g, +1) for g in up if g in shared] + [(g, -1) for g in down if g in shared]
    if not pool:
        raise AnalysisError("forward search: no candidate gene is measured in every discovery "
                            "cohort")  # fmt: skip
    genes = [g for g, _ in pool]
    sign = np.array([s for _, s in pool])
    logs, labels, sizes = [], [], []
    for c in cohorts.values():
        block = _positive(c.expression).loc[genes].to_numpy(dtype=np.float64)
        logs.append(np.log(np.where(np.isnan(block), 1.0, block)))
        labels.append(c.is_case)
        sizes.append(c.is_case.size)
    weights = np.asarray(sizes, dtype=np.float64)
    up_sum = [np.zeros(lg.shape[1]) for lg in logs]
    dn_sum = [np.zeros(lg.shape[1]) for lg in logs]
    n_up = n_dn = 0
    chosen: list[int] = []
    rows = []
    current = -np.inf
    remaining = np.ones(len(genes), dtype=bool)
    while len(chosen) < max_genes and remaining.any():
        idx = np.flatnonzero(remaining)
        is_up = sign[idx] > 0
        aucs = np.zeros((len(logs), idx.size))
        for k, lg in enumerate(logs):
            cand = lg[idx]
            nu = n_up + is_up  # per candidate: sizes after adding it
            nd = n_dn + ~is_up
            with np.errstate(divide="ignore", invalid="ignore"):
                pos_sum = up_sum[k][None, :] + np.where(is_up[:, None], cand, 0.0)
                neg_sum = dn_sum[k][None, :] + np.where(is_up[:, None], 0.0, cand)
                pos = np.where(nu[:, None] > 0, np.exp(pos_sum / nu[:, None]), 0.0)
                neg = np.where(nd[:, None] > 0, np.exp(neg_sum / nd[:, None]), 0.0)
                ratio = np.where(nu > 0, nd / nu, 1.0)[:, None] if search_ratio else 1.0
            aucs[k] = auc_rows(pos - ratio * neg, labels[k])
        weighted = (weights[:, None] * np.nan_to_num(aucs, nan=0.0)).sum(axis=0) / weights.sum()
        best = int(np.argmax(weighted))  # first best in candidate order on ties
        gain = weighted[best] - current
        if chosen and not gain > threshold:
            break
        gi = idx[best]
        chosen.append(gi)
        remaining[gi] = False
        for k, lg in enumerate(logs):
            if sign[gi] > 0:
                up_sum[k] = up_sum[k] + lg[gi]
            else:
                dn_sum[k] = dn_sum[k] + lg[gi]
        n_up += int(sign[gi] > 0)
        n_dn += int(sign[gi] < 0)
        current = weighted[best]
        rows.append((genes[gi], "up" if sign[gi] > 0 else "down", float(sign[gi]), len(chosen),
                     float(current)))  # fmt: skip
    return pd.DataFrame(rows, columns=list(SIGNATURE_COLUMNS))


# -------------------------------------------------------------------------------------- logistic
def _zscore_genes(expression: pd.DataFrame, genes: list[str]) -> np.ndarray:
    """Samples x genes, each gene standardised within the cohort; missing genes/values = 0."""
    block = expression.reindex(genes).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.nanmean(block, axis=1, keepdims=True) if block.size else block
        sd = np.nanstd(block, axis=1, ddof=1, keepdims=True) if block.size else block
        z = (block - mu) / sd
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).T


def _logreg(c: float, l1_ratio: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    solver = "liblinear" if l1_ratio >= 1.0 else "saga"
    return LogisticRegression(C=c, l1_ratio=l1_ratio, solver=solver, max_iter=5000,
                              random_state=seed)  # fmt: skip


def _fit_penalised(x: np.ndarray, y: np.ndarray, strata: np.ndarray, *, seed: int, folds: int,
                   l1_ratio: float, max_genes: int, cs: np.ndarray,
                   groups: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Choose C by stratified K-fold CV AUC (grouped by subject when ``groups`` repeat), refit on
    all rows; return coefficients."""
    from sklearn.model_selection import StratifiedKFold

    from markerflow.model.folds import has_repeats, stratified_folds

    if has_repeats(groups):  # one subject never on both sides of a fold
        splits = stratified_folds(strata, groups, folds, seed)
    else:
        n_folds = max(2, min(folds, int(np.bincount(strata).min()) if strata.size else 2))
        skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        splits = skf.split(x, strata)
    aucs = np.zeros(cs.size)
    for train, test in splits:
        for i, c in enumerate(cs):
            model = _logreg(c, l1_ratio, seed).fit(x[train], y[train])
            aucs[i] += auc_rows(model.decision_function(x[test])[None, :], y[test] == 1)[0]
    order = np.argsort(-aucs, kind="mergesort")
    for i in order:  # best CV AUC first; skip Cs whose model exceeds max_genes
        coef = _logreg(cs[i], l1_ratio, seed).fit(x, y).coef_[0]
        if 0 < np.count_nonzero(coef) <= max_genes:
            return coef
    for c in cs:  # smallest C with a non-empty model
        coef = _logreg(c, l1_ratio, seed).fit(x, y).coef_[0]
        if np.count_nonzero(coef):
            keep = np.argsort(-np.abs(coef), kind="mergesort")[:max_genes]
            out = np.zeros_like(coef)
            out[keep] = coef[keep]
            return out
    return np.zeros(x.shape[1])


def logistic_signature(
    cohorts: Mapping[str, Cohort],
    genes: list[str],
    *,
    seed: int,
    max_genes: int = 20,
    l1_ratio: float = 1.0,
    folds: int = 5,
    cs: np.ndarray | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Penalised logistic signature and out-of-fold discovery scores (see module docstring).

    Returns the signature table (weight = coefficient on the within-cohort z scale) and, per
    discovery cohort, the out-of-fold linear predictor of its samples (nested CV). Samples of one
    subject (``Cohort.groups``) stay on one side of every inner and outer fold.
    """
    from sklearn.model_selection import StratifiedKFold

    from markerflow.model.folds import has_repeats, stratified_folds

    cs = np.logspace(-2.5, 1, 12) if cs is None else np.asarray(cs, dtype=np.float64)
    names = list(cohorts)
    xs = [_zscore_genes(cohorts[c].expression, genes) for c in names]
    x = np.vstack(xs)
    y = np.concatenate([cohorts[c].is_case for c in names]).astype(int)
    which = np.concatenate([np.full(len(xi), i) for i, xi in enumerate(xs)])
    strata = which * 2 + y
    groups: np.ndarray | None = None  # subjects, prefixed by cohort, when a cohort declares them
    if any(cohorts[c].groups is not None for c in names):
        own = [cohorts[c].groups for c in names]
        ids = [np.asarray(g if g is not None else cohorts[c].expression.columns, dtype=str)
               for c, g in zip(names, own, strict=True)]  # fmt: skip
        groups = np.concatenate([np.char.add(f"{c}\t", i) for c, i in zip(names, ids, strict=True)])
    kw: dict[str, Any] = {
        "seed": seed,
        "folds": folds,
        "l1_ratio": l1_ratio,
        "max_genes": max_genes,
        "cs": cs,
    }
    coef = _fit_penalised(x, y, strata, groups=groups, **kw)
    oof = np.zeros(len(y))
    if has_repeats(groups):  # one subject never on both sides of an outer fold
        splits = stratified_folds(strata, groups, folds, seed + 1)
    else:
        n_folds = max(2, min(folds, int(np.bincount(strata).min())))
        splits = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed + 1).split(
            x, strata
        )
    for train, test in splits:
        _, inv = np.unique(strata[train], return_inverse=True)
        b = _fit_penalised(x[train], y[train], inv, groups=None if groups is None else
                           groups[train], **kw)  # fmt: skip
        oof[test] = x[test] @ b
    nz = np.flatnonzero(coef)
    order = nz[np.argsort(-np.abs(coef[nz]), kind="mergesort")]
    sig = pd.DataFrame({
        "gene": [genes[i] for i in order],
        "direction": np.where(coef[order] > 0, "up", "down"),
        "weight": coef[order],
        "step": np.arange(1, order.size + 1),
        "discovery_auc": np.nan,
    })  # fmt: skip
    return sig, {c: oof[which == i] for i, c in enumerate(names)}


def logistic_score(expression: pd.DataFrame, signature: pd.DataFrame) -> tuple[np.ndarray, list]:
    """Locked logistic model applied to a cohort: sum of weight x within-cohort z (no refit)."""
    genes = list(signature["gene"])
    missing = [g for g in genes if g not in set(expression.index)]
    z = _zscore_genes(expression, genes)
    return z @ signature["weight"].to_numpy(dtype=np.float64), missing


# ------------------------------------------------------------------------------------ pipeline
def signature_score(expression: pd.DataFrame, signature: pd.DataFrame, method: str):
    """Score of a locked signature in one cohort; returns (scores, missing genes)."""
    if method == "logistic":
        return logistic_score(expression, signature)
    up = list(signature.loc[signature["direction"] == "up", "gene"])
    down = list(signature.loc[signature["direction"] == "down", "gene"])
    return metaintegrator_score(expression, up, down)


def _perf_row(cohort, role, scores, is_case, n_genes, missing, note) -> dict:
    """One performance row. Interval: DeLong (pROC) when both classes have >= 10 samples and
    0 < AUC < 1, else Newcombe (2006) method 5, which does not collapse at AUC 1
    (:func:`markerflow.engines.performance.auc_interval`; ``ci_method`` says which)."""
    from markerflow.engines.performance import auc_interval

    (auc, low, high), ci_method = auc_interval(scores, is_case)
    if missing:
        note = f"{note}; {len(missing)} gene(s) missing and dropped: {', '.join(missing)}"
    return {"cohort": cohort, "role": role, "n_case": int(is_case.sum()),
            "n_control": int((~is_case).sum()), "auc": auc, "ci_low": low, "ci_high": high,
            "ci_method": ci_method, "n_genes_used": n_genes - len(missing), "note": note}  # fmt: skip


def candidate_pool(candidates: pd.DataFrame, pool_size: int) -> pd.DataFrame:
    """The top ``pool_size`` candidates by rank (the genes :func:`build_signature` selects from)."""
    return candidates.sort_values("rank", kind="mergesort").head(pool_size)


def signature_rows(expression: pd.DataFrame, genes: Sequence[str]) -> pd.DataFrame:
    """The rows of a cohort's matrix that the signature functions read for ``genes``: those genes
    and the row holding the matrix minimum (MetaIntegrator's shift of a matrix with negative
    values, :func:`_positive`), so a cohort reduced to them scores exactly as with the whole
    matrix (issue 20: a job keeps only what it needs). File order kept."""
    values = expression.to_numpy(dtype=np.float64)
    keep = np.asarray(expression.index.isin(list(genes)), dtype=bool)
    if values.size and not np.isnan(values).all():
        keep[int(np.nanargmin(values)) // values.shape[1]] = True
    return expression.loc[keep]


def build_signature(
    candidates: pd.DataFrame,
    discovery: Mapping[str, Cohort],
    validation: Mapping[str, Cohort] | None = None,
    *,
    method: str = "forward_search",
    max_genes: int = 20,
    pool_size: int = 50,
    seed: int = 0,
    threshold: float = 0.0,
    search_ratio: bool = False,
    l1_ratio: float = 1.0,
    folds: int = 5,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Select a signature from the top ``pool_size`` candidates and evaluate it everywhere.

    ``candidates`` needs ``gene``, ``rank`` and ``direction`` (up/down). Returns the signature
    table, the performance table (:data:`PERFORMANCE_COLUMNS`) and, per cohort, (scores,
    is_case) for the ROC plot. Validation cohorts are only scored with the locked signature.
    """
    if method not in ("forward_search", "logistic"):
        raise InputError(f"unknown signature.method {method!r}",
                         hint="use 'forward_search' or 'logistic'")  # fmt: skip
    validation = dict(validation or {})
    top = candidate_pool(candidates, pool_size)
    up = list(top.loc[top["direction"] == "up", "gene"])
    down = list(top.loc[top["direction"] == "down", "gene"])
    rows, curves = [], {}
    if method == "forward_search":
        sig = forward_search(discovery, up, down, max_genes=max_genes, threshold=threshold,
                             search_ratio=search_ratio)  # fmt: skip
        for name, c in discovery.items():
            s, miss = signature_score(c.expression, sig, method)
            rows.append(_perf_row(name, "discovery", s, c.is_case, len(sig), miss,
                                  "in-sample (genes selected on this cohort)"))  # fmt: skip
            curves[name] = (s, c.is_case)
    else:
        sig, oof = logistic_signature(discovery, list(top["gene"]), seed=seed, max_genes=max_genes,
                                      l1_ratio=l1_ratio, folds=folds)  # fmt: skip
        if sig.empty:
            raise AnalysisError("the penalised logistic model selected no gene",
                                "try signature.method: forward_search")  # fmt: skip
        del oof  # pool chosen on all samples: out-of-fold is not cross-validated here
        for name, c in discovery.items():
            s, miss = signature_score(c.expression, sig, method)
            rows.append(_perf_row(name, "discovery", s, c.is_case, len(sig), miss,
                                  "in-sample (candidate pool and model fitted on these samples)"))  # fmt: skip
            curves[name] = (s, c.is_case)
    for name, c in validation.items():
        s, miss = signature_score(c.expression, sig, method)
        note = "locked signature, no refit"
        if len(miss) == len(sig):
            note = "no signature gene measured"
        rows.append(_perf_row(name, "validation", s, c.is_case, len(sig), miss, note))
        curves[name] = (s, c.is_case)
    perf = pd.DataFrame(rows, columns=list(PERFORMANCE_COLUMNS))
    return sig.reset_index(drop=True), perf, curves


# ------------------------------------------------------------------------------- heatmap values
@dataclass(frozen=True)
class SignatureHeatmap:
    """What :func:`markerflow.plots.signature.signature_heatmap` draws."""

    genes: list[str]  #: rows: up genes, then down genes, each in selection order
    values: np.ndarray  #: genes x samples, z-scored within cohort, NaN where a cohort lacks a gene
    groups: list[tuple[str, int]]  #: column blocks: (label "condition\ncohort", number of samples)


def heatmap_matrix(cohorts: Mapping[str, Cohort], signature: pd.DataFrame,
                   case_label: str = "case", control_label: str = "control") -> SignatureHeatmap:  # fmt: skip
    """Signature genes (up then down) x samples, z-scored within cohort; samples grouped by
    condition (controls, then cases) and by cohort inside each condition."""
    genes = list(signature.sort_values(["direction", "step"], ascending=[False, True])["gene"])
    blocks, groups = [], []
    for flag, label in ((False, control_label), (True, case_label)):
        for name, c in cohorts.items():
            z = _zscore_genes(c.expression, genes).T[:, c.is_case == flag]
            missing = ~np.isin(genes, c.expression.index)
            z[missing] = np.nan
            blocks.append(z)
            groups.append((f"{label}\n{name}", z.shape[1]))
    mat = np.hstack(blocks) if blocks else np.zeros((len(genes), 0))
    return SignatureHeatmap(genes, mat, groups)
