"""Cohort-level validation: the whole selection chain refitted per fold, frozen signatures.

Three kinds of performance (DESIGN.md), every row labelled with one of them:

``in-sample``      the signature scored on the samples it was selected on (optimistic by design);
``out-of-cohort``  leave-one-discovery-cohort-out (LOCO): the whole selection chain is refitted on
                   the other discovery cohorts and the frozen result scores the left-out cohort;
``external``       the signature frozen on all discovery cohorts scored in a validation cohort.

Only the last two are validation.

The selection chain (:func:`select_signature`) is the main workflow's chain, called through the
same stage functions: merge + ComBat (as :func:`markerflow.stages.merge.merge_and_correct`, via
:func:`fold_combat`), random-effects meta-analysis (:func:`markerflow.stages.meta.meta_analysis`),
ORA of the meta result as the candidate ranking uses it
(:func:`markerflow.stages.enrichment.ora_up_down`; the study analysis is the meta table, or the
single cohort's DE table with one cohort, like the ``candidates`` rule), candidate ranking
(:func:`markerflow.stages.candidates.rank_candidates`) and signature search
(:func:`markerflow.stages.signature.build_signature`).

Per-cohort DE tables and normalised matrices depend on their own cohort only and are reused, not
recomputed. ComBat is refitted per fold: its location/scale estimates pool the cohorts it sees, so
parameters fitted with the held-out cohort in the merge would carry that cohort's data into the
stability evidence. What a fold does not need is not computed (issue 20): no PCA or batch
silhouettes, no merged matrix. The fold's order is meta -> ORA -> preselection
(:func:`markerflow.stages.candidates.preselected_genes`) -> ComBat, and ComBat adjusts only the
preselected genes' rows, the only rows of the corrected matrix the ranking reads (its stability
selection). ComBat's priors still pool every common gene: pass 1 runs on per-(merged batch,
condition) cell statistics of every gene of each training cohort (n, mean, centred M2, min, max;
:func:`markerflow.engines.combat_blocks.fit_cells`), which equal the in-memory fit to rounding
(<= 1e-12, tests/test_combat_cells.py, tests/test_validation.py). Everything of a cohort that
does not depend on the other cohorts (DE columns, gene means, complete genes, those cell
statistics, the matrix minimum) is computed once per (comparison, cohort) by the DE job, in its
columnar summary (:mod:`markerflow.stages.columnar`); a fold reads the summaries and, of each
training matrix, only the preselected genes' rows and its minimum's row (issue 20). Cost per fold:
reading k summaries and k row sets (each still decodes its matrix' one Parquet row group), the
meta-analysis with leave-one-out, ORA, the ranking's AUC and stability selection on the
preselected genes, and the signature search.

Deviation from MetaIntegrator (Haynes et al. 2017), which searches on all discovery data and has
no cohort-level out-of-sample figure: LOCO is leave-one-dataset-out validation with the whole
selection refitted, so the held-out cohort influences neither the genes nor the batch correction.

Pooled out-of-cohort figures (both reported):

``pooled``         one AUC over all held-out scores, each fold's scores standardised within their
                   cohort (R ``scale()``) first, DeLong interval. That interval treats the folds
                   as independent, but folds share training cohorts and their AUCs correlate
                   (pure-noise study, 3 cohorts x 40 seeds: r ~ 0.2, pooled AUC sd 0.062 vs
                   DeLong 0.053), so it is somewhat optimistic; use ``weighted_mean`` for claims;
``weighted_mean``  sum w_i AUC_i, w_i = n_i / sum n (n_i = cohort size), 95 % interval
                   AUC -/+ z sum w_i sd_i (sd_i from cohort i's interval): the bound on the sd for *any*
                   correlation between folds (Cauchy-Schwarz), hence conservative.

Interval method: :func:`markerflow.engines.performance.auc_interval` (DeLong, or Newcombe's 2006
method-5 score interval for classes under 10 samples or AUC 0/1, which does not collapse),
wrapped by :func:`auc_interval`; ``ci_method`` says which, as in the other performance tables.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from markerflow.engines import performance as perf_engine
from markerflow.engines.combat_blocks import CellFit, CellStats, adjust_cells, fit_cells
from markerflow.errors import InputError
from markerflow.io.tables import read_matrix, sha256_file
from markerflow.model.design import check_confounding
from markerflow.stages.candidates import preselected_genes, rank_candidates
from markerflow.stages.cohorts import Cohort, load_cohort
from markerflow.stages.columnar import CohortSummary, matrix_cells, summarise_cohort
from markerflow.stages.enrichment import ora_up_down
from markerflow.stages.merge import plan_merge
from markerflow.stages.meta import meta_analysis
from markerflow.stages.signature import build_signature, candidate_pool, signature_score

log = logging.getLogger(__name__)

KINDS = ("in-sample", "out-of-cohort", "external")
PERFORMANCE_COLUMNS = ("cohort", "kind", "role", "n_case", "n_control", "auc", "ci_low",
                       "ci_high", "ci_method", "n_genes_used", "genes_missing",
                       "trained_on", "note")  # fmt: skip
SCORE_COLUMNS = ("sample", "is_case", "score", "genes_missing")
SCORE_DESCRIPTION = {
    "forward_search": "MetaIntegrator calculateScore: geomean(up) - geomean(down), z within cohort",
    "logistic": "sum(weight x gene z within cohort); missing genes contribute 0",
}


# ---------------------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class DiscoveryInput:
    """One discovery cohort as the chain reads it: normalised matrix, sample sheet, DE table."""

    expression: pd.DataFrame
    samples: pd.DataFrame
    de: pd.DataFrame


@dataclass(frozen=True)
class ChainSettings:
    """Parameters of the selection chain (the config sections merge/meta/enrichment.ora/
    candidates/signature and the seed); the workflow passes them as rule params."""

    case_label: str
    control_label: str
    seed: int
    combat: Mapping[str, Any] = field(default_factory=dict)
    meta_method: str = "random_effects"
    leave_one_out: bool = True
    min_cohorts: int | None = None
    fdr: float = 0.05
    ora: Mapping[str, Any] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)
    preselect: int = 300
    stability_subsamples: int = 100
    method: str = "forward_search"
    max_genes: int = 20
    pool_size: int = 50
    threshold: float = 0.0
    l1_ratio: float = 1.0
    folds: int = 5

    def record(self) -> dict[str, Any]:
        """Plain-JSON form (for the frozen record)."""
        return json.loads(json.dumps(asdict(self), default=str, sort_keys=True))


def chain_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """:class:`ChainSettings` fields from a (schema-filled) markerflow config, as the main chain's
    rules read them (``signature.pool_size`` null = ``candidates.top_n``)."""
    study, sig, cand = config["study"], config["signature"], config["candidates"]
    meta = config["meta"]
    return {
        "case_label": study["case_label"], "control_label": study["control_label"],
        "seed": int(config["seed"]), "combat": dict(config["merge"]["combat"]),
        "meta_method": meta["method"], "leave_one_out": bool(meta["leave_one_out"]),
        "min_cohorts": meta["min_cohorts"], "fdr": float(meta["fdr"]),
        "ora": dict(config["enrichment"]["ora"]), "weights": dict(cand["weights"]),
        "preselect": int(cand["preselect"]),
        "stability_subsamples": int(cand["stability_subsamples"]),
        "method": sig["method"], "max_genes": int(sig["max_genes"]),
        "pool_size": int(sig["pool_size"] or cand["top_n"]),
        "threshold": float(sig["forward_threshold"]), "l1_ratio": float(sig["l1_ratio"]),
        "folds": int(sig["cv_folds"]),
    }  # fmt: skip


@dataclass(frozen=True)
class Selection:
    """Everything the chain fitted on its discovery cohorts."""

    cohorts: tuple[str, ...]
    meta: pd.DataFrame
    candidates: pd.DataFrame
    signature: pd.DataFrame
    frozen: dict[str, Any]


# ------------------------------------------------------------------------------------ the chain
@dataclass(frozen=True)
class SummarisedInput:
    """One discovery cohort as a fold reads it (issue 20): its columnar summary
    (:mod:`markerflow.stages.columnar`: DE table, gene means, completeness, ComBat cell
    statistics, matrix minimum), its sample sheet, and the path of its normalised matrix, of
    which only the rows the chain needs are read (:func:`markerflow.io.tables.read_matrix`)."""

    summary: CohortSummary
    samples: pd.DataFrame
    matrix: str | Path


ChainInput = DiscoveryInput | SummarisedInput


def _summary_of(c: str, d: ChainInput, s: ChainSettings) -> CohortSummary:
    """The cohort's summary: read (SummarisedInput) or computed in memory, the same function."""
    if isinstance(d, SummarisedInput):
        return d.summary
    return summarise_cohort(d.de, d.expression, d.samples, cohort=c, case_label=s.case_label,
                            control_label=s.control_label)  # fmt: skip


def _read_rows(d: ChainInput, genes: Sequence[str]) -> pd.DataFrame:
    """The rows of ``genes`` (file order) of the cohort's normalised matrix."""
    if isinstance(d, SummarisedInput):
        return read_matrix(d.matrix, list(genes))
    return d.expression.loc[d.expression.index.isin(list(genes))]


def select_signature(
    inputs: Mapping[str, ChainInput],
    settings: ChainSettings,
    gene_sets: Mapping[str, Mapping] | None = None,
) -> Selection:
    """Run merge/ComBat -> meta -> ORA -> candidates -> signature on ``inputs`` only.

    ``gene_sets``: library name -> gene sets (:func:`markerflow.io.gmt.read_gmt`), in the
    config's order. Two settings adapt to a subset of the cohorts: a ComBat ``reference_batch``
    that is not among them is dropped (no reference), and ``min_cohorts`` is capped at the number
    of cohorts. With all discovery cohorts this reproduces the main chain's rules exactly.
    Returns the fitted chain and the frozen signature record
    (:func:`frozen_record`, without input checksums: the caller adds the files it read).

    What is read of each cohort (issue 20): its columnar summary
    (:mod:`markerflow.stages.columnar`; computed in memory for a :class:`DiscoveryInput`) for the
    meta-analysis (DE table), the expression evidence (gene means), the merge (genes, complete
    genes) and ComBat's pass 1 (cell statistics); of its matrix only the preselected genes' rows
    plus the row of its minimum (and, if the signature pool reaches beyond the preselected genes,
    those rows too). The numbers are the whole-matrix chain's (tests/test_columnar.py).
    """
    if not inputs:
        raise InputError("the selection chain needs at least one discovery cohort")
    s = settings
    names = list(inputs)
    summaries = {c: _summary_of(c, inputs[c], s) for c in names}
    combat = dict(s.combat or {})
    min_cohorts = None if s.min_cohorts is None else min(int(s.min_cohorts), len(names))
    des = {c: summaries[c].de for c in names}
    meta = meta_analysis(des, min_cohorts=min_cohorts, leave_one_out=s.leave_one_out,
                         method=s.meta_method)  # fmt: skip
    if len(names) > 1:
        study, cols = meta, {"gene_col": "gene", "lfc_col": "pooled_effect", "padj_col": "fdr"}
    else:
        study, cols = des[names[0]], {"gene_col": "gene", "lfc_col": "log2fc",
                                      "padj_col": "padj"}  # fmt: skip
    ora = dict(s.ora or {})
    enrichment = [
        ora_up_down(study, sets, ora.get("padj_threshold", 0.05), ora.get("lfc_threshold", 0.0),
                    ora.get("min_size", 10), ora.get("max_size", 500), **cols)
        for sets in (gene_sets or {}).values()
    ]  # fmt: skip
    means = {c: summaries[c].mean_expression for c in names}
    options: dict[str, Any] = {"enrichment": enrichment, "weights": dict(s.weights or {}),
                               "fdr_threshold": s.fdr, "preselect": s.preselect}  # fmt: skip
    pre = preselected_genes(meta, expression_means=means, **options)
    # of each matrix: the preselected genes' rows and the minimum's row, read once
    rows = {c: _read_rows(inputs[c], summaries[c].rows_needed(pre)) for c in names}
    fold = fold_combat_summaries(
        summaries,
        {c: inputs[c].samples for c in names},
        {c: _frame_rows(rows[c]) for c in names},
        parametric=bool(combat.get("parametric", True)),
        mean_only=bool(combat.get("mean_only", False)),
        reference_batch=combat.get("reference_batch")
        if combat.get("reference_batch") in set(_batches(inputs))
        else None,
    )
    cohorts = {c: load_cohort(rows[c], inputs[c].samples, s.case_label, s.control_label, name=c)
               for c in names}  # fmt: skip
    # ComBat-adjusted rows of the preselected genes only: all rank_candidates reads of `merged`
    merged_cohort = load_cohort(fold.adjusted(pre), fold.samples, s.case_label, s.control_label,
                                name="merged")  # fmt: skip
    candidates = rank_candidates(
        meta, cohorts, merged=merged_cohort.expression, merged_is_case=merged_cohort.is_case,
        seed=s.seed, n_subsamples=s.stability_subsamples, expression_means=means, **options,
    )  # fmt: skip
    pool = candidate_pool(candidates, s.pool_size)["gene"].astype(str).tolist()
    for c in names:  # a pool beyond the preselected genes (pool_size > preselect): read the rest
        need = summaries[c].rows_needed([*pre, *pool])
        if not set(need) <= set(map(str, rows[c].index)):
            cohorts[c] = load_cohort(_read_rows(inputs[c], need), inputs[c].samples,
                                     s.case_label, s.control_label, name=c)  # fmt: skip
    sig, _, _ = build_signature(candidates, cohorts, {}, method=s.method, max_genes=s.max_genes,
                                pool_size=s.pool_size, seed=s.seed, threshold=s.threshold,
                                l1_ratio=s.l1_ratio, folds=s.folds)  # fmt: skip
    return Selection(tuple(names), meta, candidates, sig,
                     frozen_record(sig, s.method, s.seed, names, settings=s.record()))  # fmt: skip


# ------------------------------------------------------------------ the fold's merge + ComBat
@dataclass
class FoldCombat:
    """ComBat of a fold's merged discovery matrix, fitted from per-cell statistics, adjusting any
    gene's rows on request (:func:`fold_combat`)."""

    samples: pd.DataFrame  #: merged sample sheet (:func:`markerflow.stages.merge.merge_cohorts`)
    genes: pd.Index  #: the merged matrix's genes (common to all cohorts, complete), merge order
    fit: CellFit | None  #: None: one batch, nothing corrected
    cell: np.ndarray  #: cell (row of the fit's statistics) of each merged sample
    rows: Mapping[str, Any]  #: cohort -> callable(genes) -> genes x samples DataFrame (raw rows)
    cohort_of: np.ndarray  #: cohort of each merged sample

    def adjusted(self, genes: Sequence[str]) -> pd.DataFrame:
        """The ComBat-adjusted merged rows of ``genes`` (those in the merged matrix), equal to
        the rows of ComBat on the whole merged matrix (to rounding, <= 1e-12)."""
        keep = self.genes[self.genes.isin(pd.Index(list(map(str, genes))))]
        parts = [self.rows[c](keep) for c in self.rows]
        raw = pd.concat(parts, axis=1).set_axis(self.samples["sample"].to_numpy(), axis=1)
        x = raw.to_numpy(dtype=np.float64)
        if self.fit is not None:
            x = adjust_cells(self.fit, x, self.genes.get_indexer(keep), self.cell)
        out = pd.DataFrame(x, index=keep, columns=raw.columns)
        out.index.name = "gene"
        return out


def fold_combat(
    matrices: Mapping[str, pd.DataFrame],
    samples: Mapping[str, pd.DataFrame],
    *,
    parametric: bool = True,
    mean_only: bool = False,
    reference_batch: str | None = None,
) -> FoldCombat:
    """The merge + ComBat step of a fold without the merged matrix, from whole matrices in
    memory: each cohort's cell statistics (:func:`markerflow.stages.columnar.summarise_cohort`'s,
    the numbers the DE job writes) then :func:`fold_combat_summaries`."""
    summaries = {}
    for c, m in matrices.items():
        genes, columns, cells, st, complete = matrix_cells(m, samples[c], c)
        summaries[c] = CohortSummary(c, pd.DataFrame(), genes, tuple(columns),
                                     pd.Series(dtype=np.float64), complete, tuple(cells), st,
                                     np.nan, None)  # fmt: skip
    return fold_combat_summaries(summaries, samples, {c: _frame_rows(m) for c, m in matrices.items()},
                                 parametric=parametric, mean_only=mean_only,
                                 reference_batch=reference_batch)  # fmt: skip


def fold_combat_summaries(
    summaries: Mapping[str, CohortSummary],
    samples: Mapping[str, pd.DataFrame],
    rows: Mapping[str, Any],
    *,
    parametric: bool = True,
    mean_only: bool = False,
    reference_batch: str | None = None,
) -> FoldCombat:
    """The merge + ComBat step of a fold without the merged matrix.

    The main chain's :func:`markerflow.stages.merge.merge_and_correct` merges the cohorts on their
    common complete genes, checks batch x condition confounding and runs ComBat (batch = cohort or
    ``cohort:batch``, covariates = condition dummies) on the whole merged matrix, then computes
    PCA and batch silhouettes. A fold needs neither the PCA nor the silhouettes, and the candidate
    ranking reads only the preselected genes' rows of the corrected matrix. So here:

    * the merged sample sheet and the common genes come from
      :func:`~markerflow.stages.merge.plan_merge` on each cohort's genes and matrix columns (the
      same sheet checks and labels, no matrix); the genes kept are those common to all cohorts,
      in the first cohort's order, complete (no missing value) in every cohort;
    * each cohort contributes its per-(merged batch, condition) cell statistics of every kept
      gene: the rows of its summary's (:mod:`markerflow.stages.columnar`, written once by the DE
      job; :func:`markerflow.engines.combat_blocks.cell_stats`); ComBat's pass 1 and its priors,
      which pool all genes, are fitted from them (:func:`~markerflow.engines.combat_blocks.fit_cells`);
    * :meth:`FoldCombat.adjusted` adjusts only the rows asked for (``rows[c](genes)``: the
      cohort's raw rows of those genes, columns in matrix order).

    Equal to the in-memory path to rounding (tests/test_combat_cells.py, tests/test_validation.py).
    """
    names = list(summaries)
    common, sheet = plan_merge({c: (summaries[c].genes, list(summaries[c].samples))
                                for c in names}, dict(samples))  # fmt: skip
    complete = np.ones(common.size, dtype=bool)
    for sm in summaries.values():
        complete &= sm.complete[sm.genes.get_indexer(common)]
    genes = pd.Index(common[complete], name="gene")
    if genes.size == 0:
        raise InputError(
            "the discovery cohorts share no gene measured in every sample",
            hint="check that every cohort uses gene symbols (genes stage) of the same species",
        )
    batch = sheet["batch"].to_numpy()
    condition = sheet["condition"].astype(str).to_numpy()
    check_confounding(batch, condition, samples=sheet["sample"].tolist())
    levels = sorted(set(condition))
    key = pd.Series(list(zip(batch.astype(str), condition, strict=True)))
    cell, cells = pd.factorize(key)
    cohort_of = sheet["cohort"].astype(str).to_numpy()
    n_batches = len(set(batch.astype(str)))
    if n_batches < 2:
        if reference_batch is not None:
            log.info("one batch only: reference_batch %r ignored", reference_batch)
        return FoldCombat(sheet, genes, None, cell, rows, cohort_of)
    shape = (len(cells), genes.size)
    joined = CellStats(np.zeros(shape[0]), *(np.full(shape, np.nan) for _ in range(4)))
    where = {tuple(k): i for i, k in enumerate(cells)}
    for c in names:  # one cohort at a time; its cells are its own (batch = cohort[:batch])
        sm = summaries[c]
        own = np.array([where[k] for k in sm.cells], dtype=np.int64)
        st = sm.cell_rows(genes)
        joined.n[own] = st.n
        for f in ("mean", "m2", "lo", "hi"):
            getattr(joined, f)[own] = getattr(st, f)
    cell_batch = np.array([b for b, _ in cells])
    cell_cond = np.array([k for _, k in cells])
    cov = np.column_stack([(cell_cond == lev).astype(float) for lev in levels[1:]])
    fit = fit_cells(joined, cell_batch, cov if cov.shape[1] else None, parametric=parametric,
                    mean_only=mean_only, reference_batch=reference_batch)  # fmt: skip
    log.info("fold ComBat from %d cells x %d genes (%d batches)", len(cells), genes.size,
             n_batches)  # fmt: skip
    return FoldCombat(sheet, genes, fit, cell, rows, cohort_of)


def _frame_rows(matrix: pd.DataFrame) -> Any:
    """genes -> the matrix's rows of those genes, columns as strings (merge order)."""

    def rows(genes: pd.Index) -> pd.DataFrame:
        out = matrix.loc[genes]
        return out.set_axis([str(c) for c in out.columns], axis=1)

    return rows


def _batches(inputs: Mapping[str, ChainInput]) -> Iterable[str]:
    """Merged batch labels the chain's inputs can produce (cohort, cohort:batch)."""
    for c, d in inputs.items():
        yield c
        if "batch" in d.samples.columns:
            yield from (f"{c}:{b}" for b in d.samples["batch"].astype(str).unique())


# ------------------------------------------------------------------------------ frozen signature
def frozen_record(
    signature: pd.DataFrame,
    method: str,
    seed: int,
    cohorts: Sequence[str],
    *,
    inputs: Iterable[str | Path] = (),
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The frozen signature: genes, directions, weights, method, score, seed, the discovery
    cohorts it was fitted on and the sha256 of every input file it read (``inputs``)."""
    return {
        "method": method,
        "score": SCORE_DESCRIPTION[method],
        "seed": int(seed),
        "discovery_cohorts": [str(c) for c in cohorts],
        "genes": [str(g) for g in signature["gene"]],
        "directions": [str(d) for d in signature["direction"]],
        "weights": [float(w) for w in signature["weight"]],
        "settings": dict(settings or {}),
        "inputs": {str(p): sha256_file(p) for p in sorted(map(str, inputs))},
    }


def write_frozen(record: Mapping[str, Any], path: str | Path) -> None:
    """Write a frozen record as sorted, indented JSON (atomically)."""
    from markerflow.io.tables import atomic_open

    with atomic_open(path) as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
        handle.write("\n")


def read_frozen(path: str | Path) -> dict[str, Any]:
    """Read a frozen record; InputError naming the file and any missing key."""
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"frozen signature {path}: cannot be read ({error})") from None
    missing = [k for k in ("method", "genes", "directions", "weights") if k not in record]
    if missing:
        raise InputError(f"frozen signature {path} lacks key(s) {missing}")
    return record


def frozen_signature_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """The signature table (gene, direction, weight, step) of a frozen record."""
    n = len(record["genes"])
    return pd.DataFrame({"gene": record["genes"], "direction": record["directions"],
                         "weight": np.asarray(record["weights"], dtype=np.float64),
                         "step": np.arange(1, n + 1)})  # fmt: skip


def score_frozen(record: Mapping[str, Any], cohort: Cohort) -> tuple[np.ndarray, list[str]]:
    """Score one cohort with a frozen signature (no refit); returns (scores, missing genes)."""
    return signature_score(cohort.expression, frozen_signature_table(record), record["method"])


# ------------------------------------------------------------------------------ performance rows
def auc_interval(scores: np.ndarray, is_case: np.ndarray) -> tuple[float, float, float, float, str]:
    """AUC, the sd implied by its 95 % interval ((high - low) / (2 z)), the interval and its
    method (:func:`markerflow.engines.performance.auc_interval`)."""
    from scipy import stats

    (auc, low, high), how = perf_engine.auc_interval(scores, is_case)
    sd = (high - low) / (2.0 * stats.norm.ppf(0.975))
    return float(auc), float(sd), float(low), float(high), how


def performance_row(cohort: str, kind: str, role: str, scores: np.ndarray, is_case: np.ndarray,
                    n_genes: int, missing: Sequence[str], trained_on: Sequence[str],
                    note: str) -> dict[str, Any]:  # fmt: skip
    """One row of :data:`PERFORMANCE_COLUMNS`."""
    if kind not in KINDS:
        raise ValueError(f"unknown performance kind {kind!r}")
    is_case = np.asarray(is_case, dtype=bool)
    auc, _, lo, hi, how = auc_interval(scores, is_case)
    return {"cohort": cohort, "kind": kind, "role": role, "n_case": int(is_case.sum()),
            "n_control": int((~is_case).sum()), "auc": auc, "ci_low": lo, "ci_high": hi,
            "ci_method": how, "n_genes_used": n_genes - len(missing),
            "genes_missing": ";".join(missing), "trained_on": ";".join(trained_on),
            "note": note}  # fmt: skip


# ------------------------------------------------------------------------------------------ LOCO
@dataclass(frozen=True)
class Fold:
    """One LOCO fold: the chain fitted without ``heldout`` and the held-out cohort's scores."""

    heldout: str
    selection: Selection
    scores: pd.DataFrame  #: :data:`SCORE_COLUMNS`
    missing: tuple[str, ...]


def score_table(record: Mapping[str, Any], cohort: Cohort) -> tuple[pd.DataFrame, list[str]]:
    """Scores of a cohort under a frozen record (:data:`SCORE_COLUMNS`) and its missing genes."""
    scores, missing = score_frozen(record, cohort)
    table = pd.DataFrame({"sample": cohort.expression.columns.astype(str),
                          "is_case": cohort.is_case, "score": scores,
                          "genes_missing": ";".join(missing)})  # fmt: skip
    return table, missing


def loco_fold(
    inputs: Mapping[str, DiscoveryInput],
    heldout: str,
    settings: ChainSettings,
    gene_sets: Mapping[str, Mapping] | None = None,
) -> Fold:
    """Fit the chain on every discovery cohort but ``heldout``, freeze, then score ``heldout``.

    The held-out cohort is not passed to :func:`select_signature` at all; it is read only by
    :func:`score_frozen` after the signature is frozen.
    """
    if heldout not in inputs:
        raise InputError(f"LOCO: held-out cohort {heldout!r} is not a discovery cohort",
                         hint=f"use one of {list(inputs)}")  # fmt: skip
    train = {c: d for c, d in inputs.items() if c != heldout}
    if not train:
        raise InputError("LOCO needs at least two discovery cohorts")
    selection = select_signature(train, settings, gene_sets)
    held = inputs[heldout]
    cohort = load_cohort(held.expression, held.samples, settings.case_label,
                         settings.control_label, name=heldout)  # fmt: skip
    table, missing = score_table(selection.frozen, cohort)
    return Fold(heldout, selection, table, tuple(missing))


def run_loco(
    inputs: Mapping[str, DiscoveryInput],
    settings: ChainSettings,
    gene_sets: Mapping[str, Mapping] | None = None,
) -> list[Fold]:
    """Every LOCO fold (library entry point; the workflow runs one fold per job)."""
    return [loco_fold(inputs, c, settings, gene_sets) for c in inputs]


def out_of_cohort_table(
    folds: Mapping[str, tuple[pd.DataFrame, pd.DataFrame, Sequence[str]]],
) -> pd.DataFrame:
    """Per held-out cohort and pooled out-of-cohort performance.

    ``folds``: held-out cohort -> (score table, fold signature table, cohorts trained on).
    Rows: one per held-out cohort (kind ``out-of-cohort``), then ``pooled`` and
    ``weighted_mean`` (see the module docstring).
    """
    from scipy import stats

    rows, pooled_s, pooled_y, aucs, sds, sizes = [], [], [], [], [], []
    for heldout, (scores, sig, trained) in folds.items():
        s = scores["score"].to_numpy(dtype=np.float64)
        y = scores["is_case"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
        genes = set(map(str, sig["gene"]))
        missing = sorted(genes - set(_present_genes(scores, sig)))
        row = performance_row(heldout, "out-of-cohort", "discovery", s, y, len(sig), missing,
                              trained, f"chain refitted without {heldout}; "
                              f"fold signature: {';'.join(map(str, sig['gene']))}")  # fmt: skip
        rows.append(row)
        sd = s.std(ddof=1) if s.size > 1 else 0.0
        pooled_s.append((s - s.mean()) / sd if sd > 0 else np.zeros_like(s))
        pooled_y.append(y)
        _, sd_i, _, _, _ = auc_interval(s, y)
        aucs.append(row["auc"])
        sds.append(sd_i)
        sizes.append(y.size)
    if not rows:
        return pd.DataFrame(columns=list(PERFORMANCE_COLUMNS))
    all_trained = ";".join(folds)
    rows.append(performance_row(
        "pooled", "out-of-cohort", "discovery", np.concatenate(pooled_s),
        np.concatenate(pooled_y), 0, [], [],
        "all held-out scores, standardised within cohort, one AUC; its interval assumes "
        "independent folds (they share training cohorts: optimistic, null sd 1.17x DeLong)",
    ) | {"n_genes_used": np.nan, "trained_on": all_trained})  # fmt: skip
    w = np.asarray(sizes, dtype=np.float64) / float(np.sum(sizes))
    auc = float(np.sum(w * np.asarray(aucs)))
    # folds share training cohorts, so their AUCs are correlated (null study: r ~ 0.2); the bound
    # sd <= sum w_i sd_i holds for any correlation (Cauchy-Schwarz)
    half = stats.norm.ppf(0.975) * float(np.sum(w * np.asarray(sds)))
    yy = np.concatenate(pooled_y)
    rows.append({"cohort": "weighted_mean", "kind": "out-of-cohort", "role": "discovery",
                 "n_case": int(yy.sum()), "n_control": int((~yy).sum()), "auc": auc,
                 "ci_low": max(0.0, auc - half), "ci_high": min(1.0, auc + half),
                 "ci_method": "normal, sd = sum w_i sd_i (any fold correlation)",
                 "n_genes_used": np.nan, "genes_missing": "", "trained_on": all_trained,
                 "note": "sample-size-weighted mean of the held-out cohorts' AUCs"})  # fmt: skip
    return pd.DataFrame(rows, columns=list(PERFORMANCE_COLUMNS))


def _present_genes(scores: pd.DataFrame, sig: pd.DataFrame) -> list[str]:
    """Fold signature genes the held-out cohort measured (recorded in the score table attrs or
    in a ``missing`` column; default: all)."""
    if "genes_missing" in scores.columns and scores["genes_missing"].notna().any():
        miss = set(str(scores["genes_missing"].dropna().iloc[0]).split(";")) - {""}
        return [g for g in map(str, sig["gene"]) if g not in miss]
    return list(map(str, sig["gene"]))


def rank_stability(fold_candidates: Mapping[str, pd.DataFrame], top_n: int) -> pd.DataFrame:
    """How often each gene is in a LOCO fold's top ``top_n`` candidates.

    Columns: ``gene``, ``n_folds``, ``in_top_n`` (folds with rank <= top_n), ``frequency``
    (in_top_n / n_folds), ``median_rank``, ``worst_rank`` (ranks over the folds that ranked the
    gene; a gene absent from a fold counts as not in its top N). Sorted by frequency, then
    median rank, then gene.
    """
    ranks = pd.concat(
        {f: t.set_index(t["gene"].astype(str))["rank"] for f, t in fold_candidates.items()},
        axis=1,
    )
    top = (ranks <= top_n).sum(axis=1)
    out = pd.DataFrame({"gene": ranks.index.astype(str), "n_folds": len(fold_candidates),
                        "in_top_n": top.to_numpy(), "top_n": int(top_n)})  # fmt: skip
    out["frequency"] = out["in_top_n"] / max(1, len(fold_candidates))
    out["median_rank"] = ranks.median(axis=1).to_numpy()
    out["worst_rank"] = ranks.max(axis=1).to_numpy()
    out = out[out["in_top_n"] > 0]
    return out.sort_values(["frequency", "median_rank", "gene"], ascending=[False, True, True],
                           kind="mergesort").reset_index(drop=True)  # fmt: skip


# ---------------------------------------------------------------------------- validate (locked)
def validate_frozen(
    record: Mapping[str, Any],
    discovery: Mapping[str, Cohort],
    validation: Mapping[str, Cohort],
    out_of_cohort: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Performance of the frozen signature: in-sample rows (discovery), the LOCO rows
    (``out_of_cohort``, as written by :func:`out_of_cohort_table`) and external rows
    (validation). Returns the table (:data:`PERFORMANCE_COLUMNS`) and per-cohort (scores,
    is_case) of the frozen signature for the ROC plot."""
    n = len(record["genes"])
    trained = list(record.get("discovery_cohorts", discovery))
    only = not validation and (out_of_cohort is None or out_of_cohort.empty)
    rows, curves = [], {}
    for name, c in discovery.items():
        s, miss = score_frozen(record, c)
        note = "in-sample (signature selected and weighted on these samples; optimistic)"
        if only:
            note = "in-sample only: no out-of-cohort or external cohort tested this signature"
        rows.append(performance_row(name, "in-sample", "discovery", s, c.is_case, n, miss,
                                    trained, note))  # fmt: skip
        curves[name] = (s, c.is_case)
    table = [pd.DataFrame(rows, columns=list(PERFORMANCE_COLUMNS))]
    if out_of_cohort is not None and not out_of_cohort.empty:
        loco = out_of_cohort.reindex(columns=list(PERFORMANCE_COLUMNS))
        table.append(loco.fillna({"genes_missing": "", "trained_on": "", "note": ""}))
    ext = []
    for name, c in validation.items():
        s, miss = score_frozen(record, c)
        note = "frozen signature, no refit"
        if len(miss) == n:
            note = "no signature gene measured"
        ext.append(performance_row(name, "external", "validation", s, c.is_case, n, miss,
                                   trained, note))  # fmt: skip
        curves[name] = (s, c.is_case)
    if ext:
        table.append(pd.DataFrame(ext, columns=list(PERFORMANCE_COLUMNS)))
    perf = pd.concat([t for t in table if not t.empty], ignore_index=True)
    return perf, curves


def in_sample_only(performance: pd.DataFrame) -> bool:
    """True when no row of a performance table is validation (out-of-cohort or external)."""
    return "kind" not in performance.columns or not performance["kind"].isin(KINDS[1:]).any()


__all__ = ["KINDS", "PERFORMANCE_COLUMNS", "ChainSettings", "DiscoveryInput", "Fold", "Selection",
           "auc_interval", "chain_settings", "frozen_record", "frozen_signature_table", "in_sample_only",
           "loco_fold", "out_of_cohort_table", "rank_stability", "read_frozen", "run_loco",
           "score_frozen", "score_table", "select_signature", "validate_frozen",
           "write_frozen"]  # fmt: skip
