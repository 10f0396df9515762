"""The per-cohort model: one design builder and one estimability check for arrays, counts, ComBat.

Design (:func:`build_design`), the same rule for limma (arrays) and DESeq2 (counts), as R's
``model.matrix(~ [batch +] covariates + condition)`` with the control level as reference:

* column order ``Intercept``, ``batch_<level>`` ..., the covariates in the order given, then
  ``condition_<case>_vs_<control>`` (0/1), so the last coefficient is case - control;
* a known within-cohort batch is a term of the model, not removed beforehand (Nygaard et al. 2016,
  Biostatistics 17:29); it enters when ``batch`` is true, or (``batch=None``) when the sheet's
  ``batch`` column has more than one level;
* numeric covariates are centred and scaled to unit SD (``ddof=1``). Because the intercept is in
  the model, centring and scaling a column only re-parametrises the fit: the condition coefficient,
  its standard error and test are unchanged (up to rounding), while the IRLS of DESeq2 and the QR of
  limma work on columns of comparable size (an age in years next to 0/1 columns conditions badly).
  This deviates from ``model.matrix``, which uses the raw values; only the covariate's own
  coefficient changes meaning (per SD instead of per unit). A value is numeric when every entry
  parses as a number (booleans are categorical);
* categorical covariates (and batch) are treatment-coded with the first level in sorted order as
  the reference (R's default factor order for text), columns ``<name>_<level>``;
* a covariate with missing values, or with a single value, is dropped with a logged warning (and
  a ``RuntimeWarning``) that names the samples; the fit continues with the smaller model and
  :attr:`Design.dropped` records why. A missing batch or an unknown covariate column is an
  :class:`~markerflow.errors.InputError`.

Checks, run by :func:`build_design` and usable on their own:

* :func:`check_confounding` - batch x condition: condition cannot be separated from batch when the
  bipartite graph batch -- condition (an edge where a batch holds samples of a condition) has more
  than one connected component (``scipy.sparse.csgraph.connected_components``); used per cohort
  and before ComBat on the merged cohorts. Partial confounding (a batch lacking a condition, but
  the graph connected) is only a warning: the model stays estimable.
* :func:`check_estimable` - numerical rank by R's rule (LINPACK ``dqrdc2`` with ``tol = 1e-7``, as
  ``lm.fit`` and limma's ``lmFit``; :func:`markerflow.rcompat.qr.estimable_columns`); an aliased
  column is an :class:`~markerflow.errors.InputError` naming it, the columns it is a combination of,
  and its samples. Also requires at least one residual degree of freedom.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from markerflow.errors import InputError, name_first
from markerflow.rcompat.qr import R_QR_TOL, estimable_columns

log = logging.getLogger(__name__)

#: how many sample IDs an error message names before "(and N more)"


@dataclass(frozen=True)
class Design:
    """A model matrix with its column names and provenance (rows = :attr:`samples`, in order)."""

    matrix: np.ndarray  #: samples x p, float64
    columns: list[str]  #: one name per column of :attr:`matrix`
    coefficient: int  #: index of the case-vs-control column (the coefficient of interest)
    samples: list[str]  #: sample IDs, one per row
    dropped: dict[str, str] = field(default_factory=dict)  #: dropped covariate -> reason
    standardised: list[str] = field(default_factory=list)  #: numeric covariates, centred + scaled

    @property
    def residual_df(self) -> int:
        """Samples minus coefficients."""
        return self.matrix.shape[0] - self.matrix.shape[1]

    def frame(self) -> pd.DataFrame:
        """The matrix as a DataFrame (index = samples, columns = column names).

        Built column by column, so ``frame().to_numpy()`` is column-major: the DESeq2 engine's BLAS
        products then sum in the order its R-parity fixtures were made with (a row-major copy
        changes the last bits of the dispersion estimates).
        """
        columns = dict(zip(self.columns, self.matrix.T, strict=True))
        return pd.DataFrame(columns, index=pd.Index(self.samples))


def _prefix(cohort: str) -> str:
    return f"cohort {cohort}: " if cohort else ""


def _treatment(values: pd.Series, name: str) -> tuple[list[str], list[np.ndarray]]:
    """Treatment coding: one 0/1 column per level after the first (sorted) level."""
    text = values.astype(str)
    levels = sorted(text.unique())
    return [f"{name}_{lv}" for lv in levels[1:]], [
        (text == lv).to_numpy(float) for lv in levels[1:]
    ]


def _drop(dropped: dict[str, str], name: str, reason: str, message: str) -> None:
    log.warning("%s; dropped from the model", message)
    warnings.warn(message + "; dropped from the model", RuntimeWarning, stacklevel=3)
    dropped[name] = reason


def build_design(
    samples: pd.DataFrame,
    case: str,
    control: str,
    covariates: Sequence[str] = (),
    *,
    batch: bool | None = None,
    cohort: str = "",
    check: bool = True,
) -> Design:
    """Design ``~ [batch +] covariates + condition`` for ``samples`` (see the module docstring).

    ``samples`` has columns ``sample``, ``condition`` (only ``case``/``control`` values), ``batch``
    (when used) and the covariates; rows are the matrix columns in order. ``check`` runs
    :func:`check_confounding` (when batch is in the model) and :func:`check_estimable`.
    """
    sample_ids = samples["sample"].astype(str).to_numpy()
    condition = samples["condition"].astype(str)
    unknown = sorted(set(condition) - {case, control})
    if unknown:
        raise InputError(
            f"{_prefix(cohort)}unexpected condition values {unknown} (case {case!r}, control "
            f"{control!r})",
            hint="leave out samples of other conditions before building the design",
        )
    names: list[str] = ["Intercept"]
    cols: list[np.ndarray] = [np.ones(len(samples))]
    dropped: dict[str, str] = {}
    standardised: list[str] = []
    if batch is None:
        batch = "batch" in samples.columns and samples["batch"].astype(str).nunique() > 1
    if batch and "batch" in samples.columns:
        missing = samples["batch"].isna().to_numpy()
        if missing.any():
            raise InputError(
                f"{_prefix(cohort)}missing batch for sample(s) {name_first(sample_ids[missing])}",
                hint="give every sample a batch (one value if there is none)",
            )
        if check:
            check_confounding(samples["batch"], condition, samples=sample_ids, cohort=cohort)
        more, blocks = _treatment(samples["batch"], "batch")
        names += more
        cols += blocks
    for cov in covariates:
        if cov not in samples.columns:
            raise InputError(
                f"{_prefix(cohort)}covariate {cov!r} is not a column of the sample sheet",
                hint=f"columns are: {', '.join(map(str, samples.columns))}",
            )
        values = samples[cov]
        missing = values.isna().to_numpy()
        if missing.any():
            miss = sample_ids[missing]
            _drop(
                dropped,
                cov,
                "missing values: " + name_first(miss),
                f"{_prefix(cohort)}covariate {cov!r} is missing for {len(miss)} sample(s): "
                f"{name_first(miss)}",
            )
            continue
        num = pd.to_numeric(values, errors="coerce")
        if num.notna().all() and not pd.api.types.is_bool_dtype(values):
            sd = float(num.std(ddof=1))
            if not sd > 0:
                _drop(
                    dropped,
                    cov,
                    "constant",
                    f"{_prefix(cohort)}covariate {cov!r} is constant ({num.iloc[0]:g} in all "
                    f"{len(num)} samples)",
                )
                continue
            names.append(cov)
            cols.append(((num - num.mean()) / sd).to_numpy(float))
            standardised.append(cov)
        else:
            more, blocks = _treatment(values, cov)
            if not more:
                _drop(
                    dropped,
                    cov,
                    "one level",
                    f"{_prefix(cohort)}covariate {cov!r} has one level "
                    f"({values.astype(str).iloc[0]!r} in all {len(values)} samples)",
                )
                continue
            names += more
            cols += blocks
    names.append(f"condition_{case}_vs_{control}")
    cols.append((condition == case).to_numpy(float))
    design = Design(
        matrix=np.column_stack(cols),
        columns=names,
        coefficient=len(names) - 1,
        samples=sample_ids.tolist(),
        dropped=dropped,
        standardised=standardised,
    )
    if check:
        check_estimable(design, cohort=cohort)
    return design


def check_estimable(design: Design, *, cohort: str = "", tol: float = R_QR_TOL) -> None:
    """Raise :class:`InputError` unless every coefficient of ``design`` is estimable.

    Rank by R's rule (``dqrdc2``, ``tol = 1e-7``; :func:`markerflow.rcompat.qr.estimable_columns`):
    a column whose part orthogonal to the columns before it is below ``tol`` of its norm is aliased.
    The message names each aliased column, the earlier columns it is a combination of and the
    samples in which it is non-zero (for a 0/1 column: the samples of that level). Also requires a
    residual degree of freedom (samples > coefficients).
    """
    x, names = design.matrix, design.columns
    n, p = x.shape
    if n <= p:
        raise InputError(
            f"{_prefix(cohort)}the model has {p} coefficients ({', '.join(names)}) for {n} "
            "samples: no residual degrees of freedom",
            hint="use fewer covariates or more samples",
        )
    kept = estimable_columns(x, tol)
    if kept.size == p:
        return
    aliased = np.setdiff1d(np.arange(p), kept)
    parts = []
    for j in aliased:
        left = kept[kept < j]
        coef = np.linalg.lstsq(x[:, left], x[:, j], rcond=None)[0] if left.size else np.empty(0)
        terms = [names[k] for k, c in zip(left, coef, strict=True) if abs(c) > tol]
        where = np.flatnonzero(x[:, j] != 0)
        indicator = bool(np.all((x[:, j] == 0) | (x[:, j] == 1)))
        carriers = (
            f" (samples {name_first([design.samples[i] for i in where])})" if indicator else ""
        )
        combo = " + ".join(terms) if terms else "nothing (all zero)"
        parts.append(f"{names[j]!r}{carriers} is a linear combination of {combo}")
    condition = design.coefficient in aliased
    what = (
        "the condition is confounded with batch/covariates, so its effect cannot be estimated"
        if condition
        else "the design matrix is not of full rank"
    )
    raise InputError(
        f"{_prefix(cohort)}{what}: {'; '.join(parts)}",
        hint="drop the confounded batch or covariate from the model, or add samples so that "
        "each batch/covariate level holds both conditions",
    )


def check_confounding(
    batch: Sequence,
    condition: Sequence,
    *,
    samples: Sequence[str] | None = None,
    cohort: str = "",
) -> pd.DataFrame:
    """Batch x condition table; :class:`InputError` when condition cannot be told apart from batch.

    Batch and condition are confounded when the batches split into groups that share no condition:
    the bipartite graph batch -- condition (edge = the batch holds samples of the condition) has
    more than one connected component (``scipy.sparse.csgraph.connected_components``). Then a batch
    effect and a condition effect span the same columns, the condition coefficient is not estimable
    and a batch correction (ComBat) would remove the biology. The message names each group's
    batches with their condition counts and samples. When the graph is connected but some batch
    lacks a condition (partial confounding, e.g. bladderbatch) a warning shows the table.

    Returns the table: rows = batches, columns = conditions, values = sample counts (sorted labels).
    """
    batch_s = pd.Series(np.asarray(batch, dtype=object), name="batch").astype(str)
    cond_s = pd.Series(np.asarray(condition, dtype=object), name="condition")
    if batch_s.size != cond_s.size:
        raise InputError(
            f"{_prefix(cohort)}{batch_s.size} batch labels but {cond_s.size} condition labels"
        )
    ids = (
        np.asarray([f"#{i + 1}" for i in range(batch_s.size)], dtype=object)
        if samples is None
        else np.asarray(samples, dtype=object)
    )
    if cond_s.isna().any():
        where = np.flatnonzero(cond_s.isna().to_numpy())
        raise InputError(
            f"{_prefix(cohort)}{where.size} sample(s) have no condition: {name_first(ids[where])}",
            hint="every sample needs a condition label",
        )
    cond_s = cond_s.astype(str)
    table = pd.crosstab(batch_s, cond_s).sort_index().sort_index(axis=1)
    n_b, n_c = table.shape
    if n_b < 2 or n_c < 2:
        return table
    present = table.to_numpy() > 0
    rows, cols = np.nonzero(present)
    graph = coo_matrix((np.ones(rows.size), (rows, n_b + cols)), shape=(n_b + n_c, n_b + n_c))
    n_comp, label = connected_components(graph, directed=False)
    if n_comp > 1:
        groups = []
        for comp in np.unique(label[:n_b]):  # numbered in order of first appearance
            parts = []
            for b in table.index[label[:n_b] == comp]:
                row = table.loc[b]
                counts = ", ".join(f"{int(k)} {c}" for c, k in row.items() if k)
                members = ids[(batch_s == b).to_numpy()]
                parts.append(f"batch {b}: {counts} ({name_first(members, 4)})")
            groups.append("[" + "; ".join(parts) + "]")
        raise InputError(
            f"{_prefix(cohort)}batch is confounded with condition: these groups of batches share "
            f"no condition, so a batch effect cannot be told apart from the condition effect: "
            f"{' vs '.join(groups)}. Batch x condition table:\n{table.to_string()}",
            hint="drop or combine the confounded batches (or leave batch out of the model), or add "
            "samples/cohorts so that batches share conditions; batch correction here would remove "
            "the biology",
        )
    lacking = table.index[(table.to_numpy() == 0).any(axis=1)].tolist()
    if lacking:
        log.warning(
            "%sbatch partly confounded with condition: batch(es) %s lack at least one condition; "
            "their batch effect is estimated through the other batches only. Batch x condition "
            "table:\n%s",
            _prefix(cohort),
            ", ".join(map(str, lacking)),
            table.to_string(),
        )
    return table
