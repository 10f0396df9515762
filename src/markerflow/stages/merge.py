"""Merging discovery cohorts and checking batch effects: confounding, PCA, batch mixing.

* confounding of batch and condition is checked by :func:`markerflow.model.design.check_confounding`
  (the one check shared with the per-cohort designs) before ComBat runs.
* PCA and batch mixing (silhouette of the batch labels on the top PCs) come from
  :mod:`markerflow.engines.pca`.
* :func:`merge_cohorts` - join cohorts on their common genes, one batch label per sample.
* :func:`merge_and_correct` - merge, check, ComBat (Johnson et al. 2007, via
  :func:`markerflow.engines.combat.combat`) preserving condition, mixing before/after, in memory
  (leave-one-cohort-out refits, tests).
* :func:`merge_and_correct_files` - the merge rule: the same out of core (Parquet in and out, gene
  blocks, :mod:`markerflow.engines.combat_blocks`, block Gram PCA; issue 20, docs/scaling.md).
* The PCA figure is :func:`markerflow.plots.merge.pca_panels`.

Within a cohort, batch stays a covariate of the DE model instead (Nygaard et al. 2016,
Biostatistics 17:29): the corrected matrix is for plots and classifiers, never for testing.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
    complete data). Gene counts per cohort and in common are logged. The checks and the gene and
    sample order are :func:`plan_merge`'s (shared with the out-of-core :func:`merge_and_correct_files`).

    Returns
    -------
    expression : genes x samples DataFrame, index ``gene``, cohorts in the order given
    samples : sample, cohort, condition, batch, cohort_batch, then other sheet columns
    """
    if not matrices:
        raise InputError("no discovery cohort to merge")
    common, merged = plan_merge(
        {c: (m.index, list(m.columns)) for c, m in matrices.items()}, samples
    )
    expression = pd.concat(
        [
            mat.loc[common].set_axis([str(c) for c in mat.columns], axis=1)
            for mat in matrices.values()
        ],
        axis=1,
    ).astype(np.float64)
    expression.index.name = "gene"
    complete = _complete_genes(~expression.isna().any(axis=1).to_numpy())
    if not complete.all():
        expression = expression.loc[complete]
    return expression, merged


def plan_merge(
    layouts: Mapping[str, tuple[pd.Index, Sequence]], samples: Mapping[str, pd.DataFrame]
) -> tuple[pd.Index, pd.DataFrame]:
    """Common genes (in the first cohort's order) and the merged sample sheet, from each cohort's
    genes and sample columns only (``layouts[c] = (genes, columns)``): every check of
    :func:`merge_cohorts` that needs no values (sheets, duplicated genes, samples)."""
    if not layouts:
        raise InputError("no discovery cohort to merge")
    if set(layouts) != set(samples):
        raise InputError(
            f"cohorts with a matrix ({', '.join(layouts)}) and with a sample sheet "
            f"({', '.join(samples)}) differ"
        )
    common: pd.Index | None = None
    sheets = []
    for cohort, (index, columns) in layouts.items():
        sheet = samples[cohort].copy()
        missing = [c for c in ("sample", "condition", "batch") if c not in sheet.columns]
        if missing:
            raise InputError(f"cohort {cohort}: sample sheet lacks column(s) {', '.join(missing)}")
        sheet["sample"] = sheet["sample"].astype(str)
        if index.has_duplicates:
            dup = index[index.duplicated()].unique()[:5]
            raise InputError(f"cohort {cohort}: duplicated gene(s) {', '.join(map(str, dup))}")
        cols = [str(c) for c in columns]
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
        log.info("cohort %s: %d genes, %d samples", cohort, len(index), len(cols))
        common = index if common is None else common.intersection(index, sort=False)
    assert common is not None
    log.info("genes common to all %d cohort(s): %d", len(layouts), common.size)
    all_samples = pd.concat([s["sample"] for s in sheets])
    if all_samples.duplicated().any():
        dup = all_samples[all_samples.duplicated()].unique()[:5]
        raise InputError(
            f"sample ID(s) {', '.join(dup)} occur in more than one cohort",
            hint="sample IDs must be unique across the study",
        )
    merged = pd.concat(sheets, ignore_index=True)
    first = ["sample", "cohort", "condition", "batch", "cohort_batch"]
    merged = merged[first + [c for c in merged.columns if c not in first]]
    return common, merged


def _complete_genes(complete: np.ndarray) -> np.ndarray:
    """Log the genes dropped for missing values; an InputError when none is left."""
    if not complete.all():
        log.info("%d common gene(s) with missing values dropped", int((~complete).sum()))
    if not complete.any():
        raise InputError(
            "the discovery cohorts share no gene measured in every sample",
            hint="check that every cohort uses gene symbols (genes stage) of the same species",
        )
    return complete


@dataclass
class MergeSummary:
    """What the merge stage reports besides the matrices (:func:`merge_and_correct_files`)."""

    samples: pd.DataFrame  #: merged sample sheet (``batch`` = ComBat batch)
    mixing: pd.DataFrame  #: one-row summary: silhouette before/after, sizes, what was done
    pca_before: tuple[np.ndarray, np.ndarray]  #: (scores, explained ratio)
    pca_after: tuple[np.ndarray, np.ndarray]


@dataclass
class MergeResult(MergeSummary):
    """Outputs of :func:`merge_and_correct` (in memory)."""

    expression: pd.DataFrame  #: ComBat-corrected genes x samples (index ``gene``)
    uncorrected: pd.DataFrame  #: merged, before correction


def _combat_setup(
    sheet: pd.DataFrame, parametric: bool, mean_only: bool, reference_batch: str | None
) -> tuple[Any, np.ndarray | None, int, str]:
    """Batch labels, condition covariates, number of batches and the correction label; runs
    :func:`markerflow.model.design.check_confounding` (an InputError when confounded)."""
    batch = sheet["batch"].to_numpy()
    condition = sheet["condition"].astype(str).to_numpy()
    table = check_confounding(batch, condition, samples=sheet["sample"].tolist())
    n_batches = table.shape[0]
    if n_batches < 2:
        if reference_batch is not None:
            log.info("one batch only: reference_batch %r ignored", reference_batch)
        return batch, None, n_batches, "none (single batch)"
    levels = sorted(set(condition))
    covariates = np.column_stack([(condition == lev).astype(float) for lev in levels[1:]])
    kind = "parametric" if parametric else "non-parametric"
    correction = f"ComBat {kind}{', mean only' if mean_only else ''}"
    if reference_batch is not None:
        correction += f", reference batch {reference_batch}"
    return batch, covariates if covariates.shape[1] else None, n_batches, correction


def _mixing_table(
    shape: tuple[int, int], n_cohorts: int, n_batches: int, correction: str,
    before: float, after: float, n_pcs: int,
) -> pd.DataFrame:  # fmt: skip
    log.info(
        "merged %d genes x %d samples, %d batch(es); %s; batch silhouette %.3f -> %.3f",
        *shape,
        n_batches,
        correction,
        before,
        after,
    )
    return pd.DataFrame(
        {
            "n_genes": [shape[0]],
            "n_samples": [shape[1]],
            "n_cohorts": [n_cohorts],
            "n_batches": [n_batches],
            "correction": [correction],
            "silhouette_before": [before],
            "silhouette_after": [after],
            "n_pcs": [n_pcs],
        }
    )


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
    goes to the non-parametric ComBat. In memory (leave-one-cohort-out refits, tests); the merge
    rule runs the out-of-core :func:`merge_and_correct_files` (same numbers to rounding).
    """
    expression, sheet = merge_cohorts(matrices, samples)
    batch, covariates, n_batches, correction = _combat_setup(
        sheet, parametric, mean_only, reference_batch
    )
    x = expression.to_numpy()
    if n_batches < 2:
        corrected = x.copy()
    else:
        corrected = combat(
            x,
            batch,
            covariates,
            parametric=parametric,
            mean_only=mean_only,
            reference_batch=reference_batch,
            genes=expression.index.tolist(),
            samples=sheet["sample"].tolist(),
            n_threads=n_threads,
        )
    corrected_df = pd.DataFrame(corrected, index=expression.index, columns=expression.columns)
    # one PCA per matrix serves both the silhouette (n_pcs) and the plots (first two)
    pcs_before, pcs_after = pca(x, max(n_pcs, 2)), pca(corrected, max(n_pcs, 2))
    before = batch_mixing(x, batch, n_pcs, scores=pcs_before[0][:, :n_pcs])
    after = batch_mixing(corrected, batch, n_pcs, scores=pcs_after[0][:, :n_pcs])
    mixing = _mixing_table(
        expression.shape, len(matrices), n_batches, correction, before, after, n_pcs
    )
    return MergeResult(
        expression=corrected_df,
        uncorrected=expression,
        samples=sheet,
        mixing=mixing,
        pca_before=(pcs_before[0][:, :2], pcs_before[1][:2]),
        pca_after=(pcs_after[0][:, :2], pcs_after[1][:2]),
    )


#: gene block of the out-of-core merge: about this many bytes of float64 (all samples)
BLOCK_BYTES = 64 * 2**20
#: free disk left beside the merge's scratch and outputs before it keeps the corrected blocks
SCRATCH_MARGIN_BYTES = 2 * 10**9


def merge_and_correct_files(
    expression: Mapping[str, str | Path],
    samples: Mapping[str, pd.DataFrame],
    out_expression: str | Path,
    out_uncorrected: str | Path,
    *,
    parametric: bool = True,
    mean_only: bool = False,
    reference_batch: str | None = None,
    n_pcs: int = 10,
    n_threads: int | None = None,
    block_bytes: int = BLOCK_BYTES,
    row_group_rows: int | None = None,
) -> MergeSummary:
    """:func:`merge_and_correct` out of core: cohort matrices from Parquet files, the corrected and
    uncorrected merged matrices written to Parquet, never a whole merged matrix in memory.

    1. :func:`plan_merge` on each file's genes and columns (index column only).
    2. Each cohort is read once (one at a time), its common genes in the merged order are
       copied as float64 to a scratch file next to ``out_expression`` (removed at the end).
    3. Pass 1 over gene blocks of about ``block_bytes`` (all samples; a fixed number of genes
       for a given sample count, so the output does not depend on cores or machine): the
       uncorrected block is written (whole blocks grouped into row groups of at least
       :data:`markerflow.io.tables.ROW_GROUP_MIN_ROWS` genes, or ``row_group_rows``), added to
       the before-PCA Gram matrix (:class:`markerflow.engines.pca.BlockGram`) and to ComBat's
       pass 1 (:func:`markerflow.engines.combat_blocks.fit_blocks`: per-gene estimates, pooled
       priors).
    4. Pass 2: each block is adjusted (:func:`markerflow.engines.combat_blocks.adjust_block`),
       written, and added to the after-PCA Gram matrix.

    Above :data:`markerflow.engines.pca.GRAM_SAMPLES_MAX` samples (8,000) the PCAs are
    block Krylov (:class:`markerflow.engines.pca.BlockKrylov`) instead of the Gram matrix: the
    first pass of each rides on steps 3 and 4, and further passes re-read the scratch files (both
    PCAs in the same pass; step 4 also writes the corrected blocks to scratch, so a further pass
    reads them instead of recomputing ComBat's adjustment: scratch disk is then two float64
    merged matrices instead of one, when the disk has room for it beside the corrected output
    and :data:`SCRATCH_MARGIN_BYTES`, else the adjustment is recomputed, same values) until
    every top component's relative residual is at most 1e-10 (logged). At 4,000 samples
    (forced) that took 9 passes before and 35 after ComBat, 4.7x the Gram path's CPU, with
    scores within 4e-14.

    Memory: one cohort (step 2), else a few copies of one block plus one samples x samples Gram
    matrix (below the limit) or the Krylov bases (samples x a few hundred, above it). Results equal :func:`merge_and_correct` up to the rounding of block-wise sums
    (docs/scaling.md: corrected matrix <= 1e-12, PCA scores and silhouettes <= 1e-10); a matrix
    that fits in one block gives the same numbers and the same file bytes.
    """
    from markerflow.engines.combat_blocks import adjust_block, fit_blocks
    from markerflow.engines.pca import GRAM_SAMPLES_MAX, BlockGram, BlockKrylov
    from markerflow.io.tables import ROW_GROUP_MIN_ROWS, MatrixWriter, matrix_layout, read_matrix

    cohorts = list(expression)
    if not cohorts:
        raise InputError("no discovery cohort to merge")
    layouts = {c: matrix_layout(expression[c]) for c in cohorts}
    common, sheet = plan_merge(layouts, samples)
    batch, covariates, n_batches, correction = _combat_setup(
        sheet, parametric, mean_only, reference_batch
    )
    widths = [len(layouts[c][1]) for c in cohorts]
    n_samples = int(sum(widths))
    columns = pd.Index(sheet["sample"].tolist())
    out_dir = Path(out_expression).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".merge-scratch-", dir=out_dir) as scratch:
        files = [Path(scratch) / f"{i}.f64" for i in range(len(cohorts))]
        complete = np.ones(common.size, dtype=bool)
        for cohort, file in zip(cohorts, files, strict=True):
            mat = read_matrix(expression[cohort])
            x = mat.to_numpy(dtype=np.float64)[mat.index.get_indexer(common)]
            del mat
            complete &= ~np.isnan(x).any(axis=1)
            np.ascontiguousarray(x).tofile(file)
            del x
        _complete_genes(complete)
        genes = pd.Index(common[complete], name="gene")
        rows = max(1, int(block_bytes) // (8 * max(n_samples, 1)))
        where = np.flatnonzero(complete)
        spans = [(a, min(a + rows, where.size)) for a in range(0, where.size, rows)]

        def block(a: int, b: int) -> np.ndarray:
            """Complete genes a..b-1 (merged order) x all samples, read from the scratch files."""
            first, last = int(where[a]), int(where[b - 1]) + 1
            parts = []
            for file, width in zip(files, widths, strict=True):
                with open(file, "rb") as handle:
                    handle.seek(first * width * 8)
                    part = np.fromfile(handle, dtype=np.float64, count=(last - first) * width)
                parts.append(part.reshape(last - first, width))
            # samples-major, as the in-memory matrix (a pandas frame's values): one block then
            # rounds exactly as merge_and_correct
            return np.asfortranarray(np.hstack(parts)[where[a:b] - first])

        def components() -> BlockGram | BlockKrylov:
            if n_samples > GRAM_SAMPLES_MAX:
                return BlockKrylov(n_samples, max(n_pcs, 2))
            return BlockGram(n_samples)

        group_rows = ROW_GROUP_MIN_ROWS if row_group_rows is None else row_group_rows
        gram = components()
        with MatrixWriter(out_uncorrected, min_rows=group_rows) as writer:

            def pass1() -> Iterator[np.ndarray]:
                for a, b in spans:
                    x = block(a, b)
                    writer.write(pd.DataFrame(x, index=genes[a:b], columns=columns))
                    gram.add(x)
                    yield x

            fit = None
            if n_batches < 2 or len(spans) == 1:
                for _ in pass1():
                    pass
            else:
                fit = fit_blocks(
                    pass1(),
                    batch,
                    covariates,
                    parametric=parametric,
                    mean_only=mean_only,
                    reference_batch=reference_batch,
                    n_threads=n_threads,
                )
        if fit is not None and not fit.fitted.all():  # as the in-memory combat warns
            log.warning(
                "ComBat: %d gene(s) are constant within a batch (%s); they are not adjusted",
                int((~fit.fitted).sum()),
                ", ".join(genes[~fit.fitted][:5]) + (" ..." if (~fit.fitted).sum() > 5 else ""),
            )
        gram.end_pass()
        k = max(n_pcs, 2)
        # the Gram matrix is decomposed (and freed) before the second is built; a Krylov PCA of
        # the uncorrected matrix needs more passes, made together with the corrected one's
        pcs_before = gram.pca(k) if gram.done else None
        pending = None if gram.done else gram
        gram = components()  # now of the corrected matrix

        def corrected(x: np.ndarray, a: int) -> np.ndarray:
            if n_batches < 2:
                return x
            if fit is None:  # all in one block: the in-memory ComBat (same bytes)
                return combat(
                    x,
                    batch,
                    covariates,
                    parametric=parametric,
                    mean_only=mean_only,
                    reference_batch=reference_batch,
                    genes=genes.tolist(),
                    samples=columns.tolist(),
                    n_threads=n_threads,
                )
            return adjust_block(fit, x, a)

        # BlockKrylov makes further passes: the corrected blocks go to a scratch file too, read
        # back raw (recomputing their ComBat adjustment was ~60 % of a pass at 50,000 samples)
        keep_corrected = isinstance(gram, BlockKrylov) and n_batches >= 2
        if keep_corrected:
            # the second scratch file is a speed-up, not a need: the same values are recomputed
            # when the disk lacks room for it beside the corrected Parquet file pass 2 writes
            need = 2 * genes.size * n_samples * 8 + SCRATCH_MARGIN_BYTES
            free = shutil.disk_usage(scratch).free
            keep_corrected = free >= need
            log.info(
                "block Krylov: corrected blocks %s scratch (%.1f GB free, %.1f GB wanted)",
                "kept on" if keep_corrected else "recomputed in each pass, not kept on",
                free / 1e9,
                need / 1e9,
            )
        corrected_file = Path(scratch) / "corrected.f64"
        orders: list[Literal["C", "F"]] = []  # memory order of each corrected block
        with (
            MatrixWriter(out_expression, min_rows=group_rows) as writer,
            open(corrected_file, "wb") if keep_corrected else contextlib.nullcontext() as kept,
        ):
            for a, b in spans:
                x = block(a, b)
                y = corrected(x, a)
                writer.write(pd.DataFrame(y, index=genes[a:b], columns=columns))
                if kept is not None:
                    # in its own memory order: read back, its sums round as the recomputed block's
                    order: Literal["C", "F"] = (
                        "F" if y.flags.f_contiguous and not y.flags.c_contiguous else "C"
                    )
                    orders.append(order)
                    kept.write(y.tobytes(order=order))
                if pending is not None:
                    pending.add(x)
                gram.add(y)
        for op in (pending, gram):
            if op is not None:
                op.end_pass()

        def corrected_block(a: int, b: int) -> np.ndarray:
            """The corrected genes a..b-1 as the second pass computed them (same values)."""
            if not keep_corrected:
                return corrected(block(a, b), a)
            with open(corrected_file, "rb") as handle:
                handle.seek(a * n_samples * 8)
                y = np.fromfile(handle, dtype=np.float64, count=(b - a) * n_samples)
            return y.reshape((b - a, n_samples), order=orders[spans.index((a, b))])

        # BlockKrylov only: further passes over the scratch files, both matrices at once
        while not (gram.done and (pending is None or pending.done)):
            todo = [op for op in (pending, gram) if op is not None and not op.done]
            for a, b in spans:
                if pending is not None and not pending.done:
                    pending.add(block(a, b))
                if not gram.done:
                    gram.add(corrected_block(a, b))
            for op in todo:
                op.end_pass()
        if pending is not None:
            pcs_before = pending.pca(k)
        assert pcs_before is not None
        pcs_after = gram.pca(k)
    before = batch_mixing(None, batch, n_pcs, scores=pcs_before[0][:, :n_pcs])
    after = batch_mixing(None, batch, n_pcs, scores=pcs_after[0][:, :n_pcs])
    mixing = _mixing_table(
        (genes.size, n_samples), len(cohorts), n_batches, correction, before, after, n_pcs
    )
    return MergeSummary(
        samples=sheet,
        mixing=mixing,
        pca_before=(pcs_before[0][:, :2], pcs_before[1][:2]),
        pca_after=(pcs_after[0][:, :2], pcs_after[1][:2]),
    )
