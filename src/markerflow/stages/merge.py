"""Merging discovery cohorts and checking batch effects: confounding, PCA, batch mixing.

* confounding of batch and condition is checked by :func:`markerflow.model.design.check_confounding`
  (the one check shared with the per-cohort designs) before ComBat runs.
* PCA and batch mixing (silhouette of the batch labels on the top PCs) come from
  :mod:`markerflow.engines.pca`.
* :func:`merge_cohorts` - join cohorts on their common genes, one batch label per sample.
* :func:`merge_and_correct` - the merge stage: merge, check, ComBat (Johnson et al. 2007, via
  :func:`markerflow.engines.combat.combat`) preserving condition, mixing before/after.
* The PCA figure is :func:`markerflow.plots.merge.pca_panels`.

Within a cohort, batch stays a covariate of the DE model instead (Nygaard et al. 2016,
Biostatistics 17:29): the corrected matrix is for plots and classifiers, never for testing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from markerflow.engines.combat import combat
from markerflow.engines.pca import batch_mixing, pca
from markerflow.errors import InputError
from markerflow.model.design import check_confounding

log = logging.getLogger(__name__)


def merge_cohorts(
    matrices: dict[str, pd.DataFrame], samples: dict[str, pd.DataFrame]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join cohorts on their common genes; one batch label per sample.

    ``matrices[c]`` is genes x samples (index = gene symbols, log2 scale); ``samples[c]`` the
    cohort's sample sheet (``sample``, ``condition``, ``batch``, ...). Samples are kept in matrix
    column order; sheet rows without a matrix column are left out (logged). The merged ``batch``
    is the cohort ID, or ``cohort:batch`` when the cohort has several batches; the cohort's own
    label is kept as ``cohort_batch``. Genes missing in any sample (NaN) are dropped (ComBat needs
    complete data). Gene counts per cohort and in common are logged.

    Returns
    -------
    expression : genes x samples DataFrame, index ``gene``, cohorts in the order given
    samples : sample, cohort, condition, batch, cohort_batch, then other sheet columns
    """
    if not matrices:
        raise InputError("no discovery cohort to merge")
    if set(matrices) != set(samples):
        raise InputError(
            f"cohorts with a matrix ({', '.join(matrices)}) and with a sample sheet "
            f"({', '.join(samples)}) differ"
        )
    common: pd.Index | None = None
    sheets = []
    for cohort, mat in matrices.items():
        sheet = samples[cohort].copy()
        missing = [c for c in ("sample", "condition", "batch") if c not in sheet.columns]
        if missing:
            raise InputError(f"cohort {cohort}: sample sheet lacks column(s) {', '.join(missing)}")
        sheet["sample"] = sheet["sample"].astype(str)
        if mat.index.has_duplicates:
            dup = mat.index[mat.index.duplicated()].unique()[:5]
            raise InputError(f"cohort {cohort}: duplicated gene(s) {', '.join(map(str, dup))}")
        cols = [str(c) for c in mat.columns]
        absent = sorted(set(cols) - set(sheet["sample"]))
        if absent:
            raise InputError(
                f"cohort {cohort}: sample(s) {', '.join(absent[:5])} of the expression matrix are "
                "not in the sample sheet"
            )
        extra = len(set(sheet["sample"]) - set(cols))
        if extra:
            log.info("cohort %s: %d sheet sample(s) not in the matrix are left out", cohort, extra)
        sheet = sheet.set_index("sample").loc[cols].reset_index()
        sheet["cohort"] = cohort
        own = sheet["batch"].astype(str)
        sheet["cohort_batch"] = own
        sheet["batch"] = cohort if own.nunique() <= 1 else cohort + ":" + own
        sheets.append(sheet)
        log.info("cohort %s: %d genes, %d samples", cohort, mat.shape[0], mat.shape[1])
        common = mat.index if common is None else common.intersection(mat.index, sort=False)
    assert common is not None
    log.info("genes common to all %d cohort(s): %d", len(matrices), common.size)
    all_samples = pd.concat([s["sample"] for s in sheets])
    if all_samples.duplicated().any():
        dup = all_samples[all_samples.duplicated()].unique()[:5]
        raise InputError(
            f"sample ID(s) {', '.join(dup)} occur in more than one cohort",
            hint="sample IDs must be unique across the study",
        )
    expression = pd.concat(
        [
            mat.loc[common].set_axis([str(c) for c in mat.columns], axis=1)
            for mat in matrices.values()
        ],
        axis=1,
    ).astype(np.float64)
    expression.index.name = "gene"
    incomplete = expression.isna().any(axis=1)
    if incomplete.any():
        log.info("%d common gene(s) with missing values dropped", int(incomplete.sum()))
        expression = expression.loc[~incomplete]
    if expression.shape[0] == 0:
        raise InputError(
            "the discovery cohorts share no gene measured in every sample",
            hint="check that every cohort uses gene symbols (genes stage) of the same species",
        )
    merged = pd.concat(sheets, ignore_index=True)
    first = ["sample", "cohort", "condition", "batch", "cohort_batch"]
    merged = merged[first + [c for c in merged.columns if c not in first]]
    return expression, merged


@dataclass
class MergeResult:
    """Outputs of :func:`merge_and_correct`."""

    expression: pd.DataFrame  #: ComBat-corrected genes x samples (index ``gene``)
    uncorrected: pd.DataFrame  #: merged, before correction
    samples: pd.DataFrame  #: merged sample sheet (``batch`` = ComBat batch)
    mixing: pd.DataFrame  #: one-row summary: silhouette before/after, sizes, what was done
    pca_before: tuple[np.ndarray, np.ndarray]  #: (scores, explained ratio)
    pca_after: tuple[np.ndarray, np.ndarray]


def merge_and_correct(
    matrices: dict[str, pd.DataFrame],
    samples: dict[str, pd.DataFrame],
    *,
    parametric: bool = True,
    mean_only: bool = False,
    reference_batch: str | None = None,
    n_pcs: int = 10,
    n_threads: int | None = None,
) -> MergeResult:
    """Merge discovery cohorts and remove batch effects with ComBat, preserving condition.

    Batch = cohort (or ``cohort:batch``, see :func:`merge_cohorts`); ComBat's covariates are the
    condition dummies, so the condition difference is kept. :func:`markerflow.model.design.check_confounding` runs first
    (an :class:`~markerflow.errors.InputError` when batch and condition are confounded).
    With one batch nothing is corrected (``correction`` = ``none (single batch)`` in the table).
    ``reference_batch`` is a merged batch label (a cohort ID or ``cohort:batch``). ``n_threads``
    goes to the non-parametric ComBat.
    """
    expression, sheet = merge_cohorts(matrices, samples)
    batch = sheet["batch"].to_numpy()
    condition = sheet["condition"].astype(str).to_numpy()
    table = check_confounding(batch, condition, samples=sheet["sample"].tolist())
    n_batches = table.shape[0]
    x = expression.to_numpy()
    if n_batches < 2:
        corrected = x.copy()
        correction = "none (single batch)"
        if reference_batch is not None:
            log.info("one batch only: reference_batch %r ignored", reference_batch)
    else:
        levels = sorted(set(condition))
        covariates = np.column_stack([(condition == lev).astype(float) for lev in levels[1:]])
        corrected = combat(
            x,
            batch,
            covariates if covariates.shape[1] else None,
            parametric=parametric,
            mean_only=mean_only,
            reference_batch=reference_batch,
            genes=expression.index.tolist(),
            samples=sheet["sample"].tolist(),
            n_threads=n_threads,
        )
        kind = "parametric" if parametric else "non-parametric"
        correction = f"ComBat {kind}{', mean only' if mean_only else ''}"
        if reference_batch is not None:
            correction += f", reference batch {reference_batch}"
    corrected_df = pd.DataFrame(corrected, index=expression.index, columns=expression.columns)
    # one PCA per matrix serves both the silhouette (n_pcs) and the plots (first two)
    pcs_before, pcs_after = pca(x, max(n_pcs, 2)), pca(corrected, max(n_pcs, 2))
    before = batch_mixing(x, batch, n_pcs, scores=pcs_before[0][:, :n_pcs])
    after = batch_mixing(corrected, batch, n_pcs, scores=pcs_after[0][:, :n_pcs])
    mixing = pd.DataFrame(
        {
            "n_genes": [expression.shape[0]],
            "n_samples": [expression.shape[1]],
            "n_cohorts": [len(matrices)],
            "n_batches": [n_batches],
            "correction": [correction],
            "silhouette_before": [before],
            "silhouette_after": [after],
            "n_pcs": [n_pcs],
        }
    )
    log.info(
        "merged %d genes x %d samples, %d batch(es); %s; batch silhouette %.3f -> %.3f",
        *expression.shape,
        n_batches,
        correction,
        before,
        after,
    )
    return MergeResult(
        expression=corrected_df,
        uncorrected=expression,
        samples=sheet,
        mixing=mixing,
        pca_before=(pcs_before[0][:, :2], pcs_before[1][:2]),
        pca_after=(pcs_after[0][:, :2], pcs_after[1][:2]),
    )
