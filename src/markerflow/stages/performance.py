"""Clinical performance of the locked signature in every validation cohort (rule ``performance``).

Everything fitted here is fitted on discovery data; validation cohorts are only scored.

- **AUC** with its 95 % interval: DeLong (as pROC) when both classes have >= 10 samples and the AUC
  is strictly between 0 and 1, else Newcombe (2006) method 5, which does not collapse at AUC 1
  (``ci_method``; :mod:`markerflow.engines.performance`).
- **Threshold** fixed on discovery data: Youden's J maximised on the pooled discovery scores of
  the locked signature (each cohort's score is standardised within the cohort, so pooled scores
  share a scale; for forward search these are in-sample scores). **Sensitivity / specificity** in
  each validation cohort at that threshold with Wilson intervals; **PPV / NPV** at prevalences 1,
  5, 10, 20 and 50 % by Bayes' rule (plug-in intervals from the Wilson limits).
- **Calibration** (logistic signature only): the linear predictor ``lp = sum beta_j z_j`` plus an
  intercept fixed on the pooled discovery samples (the maximum-likelihood intercept with ``lp`` as
  offset; the penalised fit's own intercept is not part of the locked signature table) is the
  predicted log-odds; its calibration intercept and slope in each validation cohort are those of
  logistic recalibration (Cox 1958; Van Calster et al. 2016). Not defined for forward search (its
  score is not a probability model).
- **Reference signatures** (``signature.reference_signatures``): scored the same way
  (MetaIntegrator score: geometric mean of up minus down genes, standardised within the cohort),
  AUC with interval, and DeLong's paired test against the discovered signature on the same samples
  (pROC ``roc.test(method="delong", paired=TRUE)``, cases-high direction fixed for both).
- **Summary ROC**: vertical average of the validation cohorts' empirical ROC curves (Fawcett 2006),
  each cohort weighted equally, with the min–max band.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from markerflow.engines import performance as perf
from markerflow.stages.cohorts import Cohort
from markerflow.stages.signature import metaintegrator_score, signature_score

CLINICAL_COLUMNS = (
    "cohort", "n_case", "n_control", "auc", "ci_low", "ci_high", "ci_method", "threshold",
    "sensitivity", "sensitivity_low", "sensitivity_high", "specificity", "specificity_low",
    "specificity_high", "calibration_intercept", "calibration_intercept_low",
    "calibration_intercept_high", "calibration_slope", "calibration_slope_low",
    "calibration_slope_high", "n_genes_used", "note",
)  # fmt: skip
PREDICTIVE_COLUMNS = ("cohort", "prevalence", "ppv", "ppv_low", "ppv_high", "npv", "npv_low",
                      "npv_high")  # fmt: skip
REFERENCE_COLUMNS = ("cohort", "signature", "n_genes", "n_genes_used", "missing_genes", "auc",
                     "ci_low", "ci_high", "ci_method", "delta_auc", "delong_z", "delong_p")  # fmt: skip
DISCOVERED = "discovered"


@dataclass
class PerformanceResult:
    """The tables of :func:`evaluate` and what the figures need."""

    clinical: pd.DataFrame
    predictive: pd.DataFrame
    references: pd.DataFrame
    summary_roc: pd.DataFrame
    threshold: float
    #: per validation cohort: {signature name: (scores, is_case)} for the figures
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    #: per validation cohort (logistic only): (predicted log-odds, is_case)
    calibration: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def _pooled(scores: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([s for s, _ in scores.values()]),
            np.concatenate([y for _, y in scores.values()]))  # fmt: skip


def evaluate(
    signature: pd.DataFrame,
    method: str,
    discovery: Mapping[str, Cohort],
    validation: Mapping[str, Cohort],
    *,
    references: Sequence[Mapping] = (),
    prevalences: Sequence[float] = perf.PREVALENCES,
) -> PerformanceResult:
    """The tables of the module docstring for the locked ``signature`` (``gene``, ``direction``,
    ``weight``) of ``method`` (forward_search | logistic)."""
    disc = {n: (signature_score(c.expression, signature, method)[0], c.is_case)
            for n, c in discovery.items()}  # fmt: skip
    threshold = perf.youden_threshold(*_pooled(disc))
    intercept = np.nan
    if method == "logistic":
        intercept = float(perf.calibration(*_pooled(disc))[0, 0])
    clinical, predictive, refs, curves, calib = [], [], [], {}, {}
    for name, c in validation.items():
        scores, missing = signature_score(c.expression, signature, method)
        y = c.is_case
        (auc, lo, hi), ci_method = perf.auc_interval(scores, y)
        se, sp = perf.sens_spec(scores, y, threshold)
        cal = np.full((2, 3), np.nan)
        if method == "logistic":
            calib[name] = (scores + intercept, y)
            cal = perf.calibration(scores + intercept, y)
        note = "locked signature, no refit; threshold fixed on discovery (Youden)"
        if missing:
            note += f"; {len(missing)} gene(s) missing and dropped: {', '.join(missing)}"
        clinical.append([name, int(y.sum()), int((~y).sum()), auc, lo, hi, ci_method, threshold,
                         *se, *sp, *cal[0], *cal[1], len(signature) - len(missing), note])  # fmt: skip
        ppv, npv = perf.predictive_values(se, sp, np.asarray(prevalences))
        for k, p in enumerate(prevalences):
            predictive.append([name, p, *ppv[k], *npv[k]])
        curves[name] = {DISCOVERED: (scores, y)}
        refs.append([name, DISCOVERED, len(signature), len(signature) - len(missing),
                     ";".join(missing), auc, lo, hi, ci_method, 0.0, np.nan, np.nan])  # fmt: skip
        for ref in references:
            up, down = list(ref.get("up", [])), list(ref.get("down", []))
            s_ref, miss = metaintegrator_score(c.expression, up, down)
            (r_auc, r_lo, r_hi), r_method = perf.auc_interval(s_ref, y)
            if len(miss) == len(up) + len(down):
                r_auc = r_lo = r_hi = np.nan
                z = p_val = np.nan
            else:
                _, _, z, p_val = perf.delong_paired_test(scores, s_ref, y)
                curves[name][str(ref["name"])] = (s_ref, y)
            refs.append([name, str(ref["name"]), len(up) + len(down),
                         len(up) + len(down) - len(miss), ";".join(miss), r_auc, r_lo, r_hi,
                         r_method, auc - r_auc, z, p_val])  # fmt: skip
    grid = perf.summary_roc([cv[DISCOVERED] for cv in curves.values()])
    summary = pd.DataFrame({"fpr": grid[0], "tpr_mean": grid[1], "tpr_min": grid[2],
                            "tpr_max": grid[3], "n_cohorts": len(curves)})  # fmt: skip
    return PerformanceResult(
        clinical=pd.DataFrame(clinical, columns=list(CLINICAL_COLUMNS)),
        predictive=pd.DataFrame(predictive, columns=list(PREDICTIVE_COLUMNS)),
        references=pd.DataFrame(refs, columns=list(REFERENCE_COLUMNS)),
        summary_roc=summary,
        threshold=threshold,
        curves=curves,
        calibration=calib,
    )


__all__ = ["CLINICAL_COLUMNS", "PREDICTIVE_COLUMNS", "REFERENCE_COLUMNS", "PerformanceResult",
           "evaluate"]  # fmt: skip
