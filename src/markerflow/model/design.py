"""The per-cohort model: one design builder and one estimability check for arrays, counts, ComBat.

Design (:func:`build_design`), the same rule for limma (arrays) and DESeq2 (counts), as R's
``model.matrix`` of ``~ [batch +] [subject +] covariates + condition`` (or of a user formula,
:func:`parse_formula`):

* **condition** is a factor with the study's named levels. Coding: treatment contrasts, one 0/1
  column ``condition_<level>_vs_<reference>`` per non-reference level (R's ``model.matrix`` with
  ``relevel(condition, ref = reference)``). :func:`build_design` takes the reference (default:
  the comparison's control); the de stage fits a cohort ONCE with one reference for all its
  comparisons (:func:`model_levels`: the study's level order, else the control of a two-level
  cohort, else R's sorted factor order). A comparison ``case - control`` is then the coefficient
  ``condition_<case>_vs_<control>`` when control is the reference (:attr:`Design.coefficient`),
  otherwise the contrast :meth:`Design.contrast` (limma ``contrasts.fit``; DESeq2
  ``results(contrast = c("condition", case, control))``). A formula without intercept
  (``~ 0 + condition + ...``) gives the cell-means coding instead (one column
  ``condition_<level>`` per level; the contrast is ``+1``/``-1`` on two columns). For limma the
  parametrisations give the same t to rounding (same column space; tested to 1e-8 against R);
  DESeq2's IRLS has a small ridge (lambda 1e-6) that makes its estimates depend slightly on the
  parametrisation, which is why the reference is R's and the comparison a contrast.
* column order ``Intercept``, then the terms in formula order (R's: main effects first, then
  two-way interactions, ...); the default formula is ``~ [batch +] [subject +] covariates +
  condition``, so for two levels the last coefficient is case - control, as before issue 16;
* a known within-cohort batch is a term of the model, not removed beforehand (Nygaard et al. 2016,
  Biostatistics 17:29); in the default formula it enters when ``batch`` is true, or
  (``batch=None``) when the sheet's ``batch`` column has more than one level;
* ``subject`` (``subject=True`` or a ``subject`` term in the formula) is a categorical term: the
  within-subject comparison of DESeq2 (``~ subject + condition``). limma blocks on subject with
  ``duplicateCorrelation`` instead (:mod:`markerflow.stages.de`);
* numeric covariates are centred and scaled to unit SD (``ddof=1``). Because the intercept is in
  the model, centring and scaling a column only re-parametrises the fit: the condition coefficient,
  its standard error and test are unchanged (up to rounding), while the IRLS of DESeq2 and the QR of
  limma work on columns of comparable size (an age in years next to 0/1 columns conditions badly).
  This deviates from ``model.matrix``, which uses the raw values; only the covariate's own
  coefficient changes meaning (per SD instead of per unit; in an interaction ``condition:age`` the
  condition main effect is the effect at the mean age, not at age 0). A value is numeric when
  every entry parses as a number (booleans are categorical);
* categorical covariates (and batch, subject) are treatment-coded with the first level in sorted
  order as the reference (R's default factor order for text), columns ``<name>_<level>``;
* an interaction ``a:b`` has the products of the columns of ``a`` and ``b`` (``a`` varying
  fastest, as R), named ``<column of a>:<column of b>``, e.g. ``condition_severe_vs_healthy:sex_M``
  (the extra severe - healthy difference in sex M). Both main effects must be in the formula
  (R would switch to full dummy coding for a missing margin; markerflow asks for the margin);
* **missing values**: a sample with a missing value in any covariate the design uses (numeric or
  categorical; not the condition, batch or subject) is excluded from the model, logged, warned
  (``RuntimeWarning``) and recorded in :attr:`Design.excluded` (sample -> reason); the other
  samples are fitted. A covariate that is constant (or has one level) on the samples kept is
  dropped with a warning and recorded in :attr:`Design.dropped` (with every interaction that uses
  it). A missing batch or an unknown column is an :class:`~markerflow.errors.InputError`.

Checks, run by :func:`build_design` and usable on their own:

* :func:`check_confounding` - batch x condition: condition cannot be separated from batch when the
  bipartite graph batch -- condition (an edge where a batch holds samples of a condition) has more
  than one connected component (connected components, :func:`_batch_components`); used per cohort
  and before ComBat on the merged cohorts. Partial confounding (a batch lacking a condition, but
  the graph connected) is only a warning: the model stays estimable.
* :func:`check_estimable` - numerical rank by R's rule (LINPACK ``dqrdc2`` with ``tol = 1e-7``, as
  ``lm.fit`` and limma's ``lmFit``; :func:`markerflow.rcompat.qr.estimable_columns`); an aliased
  column is an :class:`~markerflow.errors.InputError` naming it, its term, the columns it is a
  combination of, and its samples. Also requires at least one residual degree of freedom.
* :func:`check_cohort_design` - everything above plus the subject rules, on a cohort's phenotypes
  before any job runs (unknown column, a level with no sample, rank deficiency, a subject on both
  sides of a between-subject comparison, a within-subject comparison without a paired subject).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from markerflow.errors import InputError, name_first
from markerflow.rcompat.qr import R_QR_TOL, estimable_columns

log = logging.getLogger(__name__)

#: the variables with a fixed meaning in a formula (columns of the standard sample sheet)
CONDITION, BATCH, SUBJECT = "condition", "batch", "subject"
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


# ------------------------------------------------------------------------------------ formulas


@dataclass(frozen=True)
class Formula:
    """A parsed design formula: the intercept flag and the terms (tuples of variable names)."""

    intercept: bool
    terms: tuple[tuple[str, ...], ...]

    def variables(self) -> list[str]:
        """Every variable the formula uses, in order of first appearance."""
        return list(dict.fromkeys(v for term in self.terms for v in term))

    def without(self, variable: str) -> Formula:
        """The formula with every term that uses ``variable`` removed."""
        return Formula(self.intercept, tuple(t for t in self.terms if variable not in t))

    def __str__(self) -> str:
        parts = ([] if self.intercept else ["0"]) + [":".join(t) for t in self.terms]
        return "~ " + (" + ".join(parts) if parts else "1")


def parse_formula(text: str) -> Formula:
    """Parse a design formula such as ``~ age + sex + batch + condition + condition:sex``.

    The grammar is a small subset of R's (``?formula``): ``~`` then terms joined by ``+``; a term
    is a variable name (a column of the sample sheet, or ``condition``/``batch``/``subject``), an
    interaction ``a:b`` or a crossing ``a*b`` (= ``a + b + a:b``; ``a*b*c`` gives every
    sub-interaction), or ``0``/``1`` (no intercept / intercept; the intercept is the default).
    Nothing else (no ``-``, ``.``, ``^``, functions or arithmetic). As R's ``terms()``, duplicate
    terms are removed (``a:b`` = ``b:a``) and terms are ordered by their number of variables,
    keeping the written order within one order. :class:`InputError` naming the offending part.
    """
    raw = str(text).strip()
    hint = (
        "write e.g. '~ age + sex + batch + condition' or '~ condition * sex'; see config/README.md"
    )
    if not raw.startswith("~"):
        raise InputError(f"design formula {raw!r} must start with '~'", hint=hint)
    body = raw[1:].strip()
    if not body:
        raise InputError(f"design formula {raw!r} has no terms", hint=hint)
    intercept = True
    seen: dict[frozenset[str], tuple[str, ...]] = {}
    for part in body.split("+"):
        part = part.strip()
        if part in ("0", "1"):
            intercept = part == "1"
            continue
        if not part:
            raise InputError(f"design formula {raw!r} has an empty term (two '+' in a row?)",
                             hint=hint)  # fmt: skip
        chunks = []
        for chunk in part.split("*"):
            names = tuple(v.strip() for v in chunk.split(":"))
            bad = [v for v in names if not _NAME.match(v)]
            if bad:
                raise InputError(
                    f"design formula {raw!r}: {bad[0]!r} in term {part!r} is not a column name "
                    "(only '+', ':', '*', '0' and '1' are understood)",
                    hint=hint,
                )
            chunks.append(names)
        for k in range(1, len(chunks) + 1):
            for combo in itertools.combinations(chunks, k):
                term = tuple(dict.fromkeys(v for names in combo for v in names))
                seen.setdefault(frozenset(term), term)
    terms = sorted(seen.values(), key=len)  # stable: written order within one order
    return Formula(intercept, tuple(terms))


def default_formula(covariates: Sequence[str] = (), *, batch: bool = False,
                    subject: bool = False) -> Formula:  # fmt: skip
    """``~ [batch +] [subject +] covariates + condition`` (the design without a user formula)."""
    names = ([BATCH] if batch else []) + ([SUBJECT] if subject else []) + list(covariates)
    return Formula(True, tuple((v,) for v in [*names, CONDITION]))


# -------------------------------------------------------------------------------------- design


@dataclass(frozen=True)
class Design:
    """A model matrix with its column names and provenance (rows = :attr:`samples`, in order)."""

    matrix: np.ndarray  #: samples x p, float64
    columns: list[str]  #: one name per column of :attr:`matrix`
    coefficient: int  #: index of the case-vs-control column (-1: the contrast is no coefficient)
    samples: list[str]  #: sample IDs, one per row (samples excluded for missing values are absent)
    dropped: dict[str, str] = field(default_factory=dict)  #: dropped covariate -> reason
    standardised: list[str] = field(default_factory=list)  #: numeric covariates, centred + scaled
    terms: list[str] = field(default_factory=list)  #: the term of each column ("Intercept", "a:b")
    levels: tuple[str, ...] = ()  #: condition levels in the model, reference (control) first
    excluded: dict[str, str] = field(default_factory=dict)  #: sample -> why it is not in the model
    formula: str = ""  #: the formula the matrix was built from (after dropped terms)
    cell_means: bool = False  #: condition coded one column per level (formula without intercept)

    @property
    def residual_df(self) -> int:
        """Samples minus coefficients."""
        return self.matrix.shape[0] - self.matrix.shape[1]

    @property
    def reference(self) -> str:
        """The reference level of condition (the first of :attr:`levels`)."""
        return self.levels[0] if self.levels else ""

    def frame(self) -> pd.DataFrame:
        """The matrix as a DataFrame (index = samples, columns = column names).

        Built column by column, so ``frame().to_numpy()`` is column-major: the DESeq2 engine's BLAS
        products then sum in the order its R-parity fixtures were made with (a row-major copy
        changes the last bits of the dispersion estimates).
        """
        columns = dict(zip(self.columns, self.matrix.T, strict=True))
        return pd.DataFrame(columns, index=pd.Index(self.samples))

    def column(self, name: str) -> int:
        """Index of the column ``name`` (:class:`InputError` listing the columns if absent)."""
        if name not in self.columns:
            raise InputError(f"the design has no coefficient {name!r}",
                             hint=f"coefficients are: {', '.join(self.columns)}")  # fmt: skip
        return self.columns.index(name)

    def _level_column(self, level: str) -> int | None:
        if level not in self.levels:
            raise InputError(f"condition level {level!r} is not in the model (levels: "
                             f"{', '.join(self.levels)})")  # fmt: skip
        if self.cell_means:
            return self.column(f"{CONDITION}_{level}")
        if level == self.reference:
            return None
        return self.column(f"{CONDITION}_{level}_vs_{self.reference}")

    def contrast(self, case: str, control: str) -> np.ndarray:
        """The contrast vector (one entry per column) of ``case - control`` in the condition
        main effect, named ``condition_<case>_vs_<control>`` (:func:`contrast_name`). With an
        interaction ``condition:x`` in the model it is the difference at the reference level of
        ``x`` (R: ``results(dds, contrast = c("condition", case, control))``)."""
        vector = np.zeros(len(self.columns))
        for level, sign in ((case, 1.0), (control, -1.0)):
            j = self._level_column(level)
            if j is not None:
                vector[j] += sign
        return vector

    def level_columns(
        self, case: str, control: str
    ) -> tuple[tuple[int, ...], int | None, int | None]:
        """``(condition columns, column of case, column of control)`` (None = the reference
        level): DESeq2's ``contrast = c("condition", case, control)`` on this matrix."""
        if self.cell_means:
            raise InputError("a level contrast needs treatment coding (a formula with intercept)")
        cols = tuple(j for j, t in enumerate(self.terms) if t == CONDITION)
        return cols, self._level_column(case), self._level_column(control)

    def condition_contrasts(self) -> np.ndarray:
        """p x (k - 1) contrasts spanning the condition main effect (every level against the
        first; for treatment coding the unit vectors of the condition columns): the moderated
        F-test across the levels (limma ``topTableF``) tests them jointly."""
        first = self.levels[0]
        return np.column_stack([self.contrast(lv, first) for lv in self.levels[1:]])

    def reduced(self) -> np.ndarray:
        """The model matrix without every column of a term that uses condition (the reduced
        model of DESeq2's likelihood-ratio test, ``reduced = ~ batch + covariates``); with the
        cell-means coding an intercept column is put first."""
        keep = [j for j, t in enumerate(self.terms) if CONDITION not in t.split(":")]
        x = self.matrix[:, keep]
        return x if not self.cell_means else np.column_stack([np.ones(len(self.samples)), x])


def contrast_name(case: str, control: str) -> str:
    """The name of the contrast ``case - control`` of condition: ``condition_<case>_vs_<control>``."""
    return f"{CONDITION}_{case}_vs_{control}"


def _prefix(cohort: str) -> str:
    return f"cohort {cohort}: " if cohort else ""


def _drop(dropped: dict[str, str], name: str, reason: str, message: str) -> None:
    log.warning("%s; dropped from the model", message)
    warnings.warn(message + "; dropped from the model", RuntimeWarning, stacklevel=3)
    dropped[name] = reason


def _is_missing(values: pd.Series) -> np.ndarray:
    text = values.astype("string").str.strip()
    return (values.isna() | text.isin(["", "NA", "NaN", "nan", "null"]).fillna(False)).to_numpy(
        bool
    )


def build_design(
    samples: pd.DataFrame,
    case: str,
    control: str,
    covariates: Sequence[str] = (),
    *,
    batch: bool | None = None,
    cohort: str = "",
    check: bool = True,
    levels: Sequence[str] | None = None,
    formula: str | Formula | None = None,
    subject: bool = False,
    reference: str | None = None,
) -> Design:
    """Design of ``samples`` (see the module docstring): ``formula``, or ``~ [batch +] [subject
    +] covariates + condition``.

    ``samples`` has columns ``sample``, ``condition``, ``batch`` (when used), ``subject`` (when
    used) and the covariates; rows are the matrix rows in order (less the samples excluded for
    missing values, :attr:`Design.excluded`). ``levels``: every condition level of the model
    (default ``(control, case)``); a condition value outside them is an error, and so is a level
    with no sample. ``reference`` is the reference level (default ``control``). ``covariates`` are ignored when a
    ``formula`` is given (the formula names every term). ``check`` runs :func:`check_confounding`
    (when batch is in the model) and :func:`check_estimable`.
    """
    sample_ids = samples["sample"].astype(str).to_numpy()
    condition = samples["condition"].astype(str)
    order = list(dict.fromkeys([reference or control, *(levels or ()), control, case]))
    unknown = sorted(set(condition) - set(order))
    if unknown:
        raise InputError(
            f"{_prefix(cohort)}unexpected condition values {unknown} (case {case!r}, control "
            f"{control!r}{', levels ' + ', '.join(order) if levels else ''})",
            hint="leave out samples of other conditions before building the design",
        )
    if batch is None:
        batch = "batch" in samples.columns and samples["batch"].astype(str).nunique() > 1
    if formula is None:
        parsed = default_formula(covariates, batch=bool(batch) and "batch" in samples.columns,
                                 subject=subject)  # fmt: skip
    else:
        parsed = formula if isinstance(formula, Formula) else parse_formula(formula)
    _check_formula(parsed, samples, cohort)
    variables = parsed.variables()
    if BATCH in variables:
        missing = _is_missing(samples[BATCH])
        if missing.any():
            raise InputError(
                f"{_prefix(cohort)}missing batch for sample(s) {name_first(sample_ids[missing])}",
                hint="give every sample a batch (one value if there is none)",
            )
    # samples with a missing covariate value leave the model (reported), the others are fitted
    excluded: dict[str, str] = {}
    keep = np.ones(len(samples), dtype=bool)
    for var in variables:
        if var in (CONDITION, BATCH, SUBJECT):
            continue
        missing = _is_missing(samples[var]) & keep
        for s in sample_ids[missing]:
            excluded[str(s)] = f"missing {var}"
        keep &= ~missing
    if excluded:
        message = (f"{_prefix(cohort)}{len(excluded)} sample(s) excluded from the model for a "
                   f"missing covariate value: "
                   f"{name_first(f'{s} ({why})' for s, why in excluded.items())}")  # fmt: skip
        log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    sheet = samples.loc[keep].reset_index(drop=True)
    ids = sample_ids[keep]
    condition = condition[keep].reset_index(drop=True)
    empty = [lv for lv in order if not (condition == lv).any()]
    if empty:
        raise InputError(
            f"{_prefix(cohort)}condition level(s) {', '.join(map(repr, empty))} have no sample"
            + (" after excluding samples with missing covariates" if excluded else ""),
            hint="check the cohort sheet's condition mapping (condition_levels or "
            "case_values/control_values), or leave the level out of this cohort's comparisons",
        )
    if BATCH in variables and check:
        check_confounding(sheet[BATCH], condition, samples=ids, cohort=cohort)
    coded, dropped, standardised, cell = _code_variables(parsed, sheet, order, cohort)
    names: list[str] = []
    cols: list[np.ndarray] = []
    terms: list[str] = []
    if parsed.intercept:
        names, cols, terms = ["Intercept"], [np.ones(len(sheet))], ["Intercept"]
    kept_terms = []
    for term in parsed.terms:
        if any(v in dropped for v in term):
            continue
        kept_terms.append(term)
        parts = [coded[v] for v in term]
        # R's column order for a:b: the first factor's columns vary fastest
        for combo in itertools.product(*reversed(parts)):
            combo = combo[::-1]
            names.append(":".join(n for n, _ in combo))
            cols.append(np.prod(np.column_stack([c for _, c in combo]), axis=1))
            terms.append(":".join(term))
    name = contrast_name(case, control)
    design = Design(
        matrix=np.column_stack(cols),
        columns=names,
        coefficient=names.index(name) if name in names else -1,
        samples=ids.tolist(),
        dropped=dropped,
        standardised=standardised,
        terms=terms,
        levels=tuple(order),
        excluded=excluded,
        formula=str(Formula(parsed.intercept, tuple(kept_terms))),
        cell_means=cell,
    )
    if check:
        check_estimable(design, cohort=cohort)
    return design


def _check_formula(parsed: Formula, samples: pd.DataFrame, cohort: str) -> None:
    """Every variable a column of the sheet, condition a main effect, interactions with margins."""
    if (CONDITION,) not in parsed.terms:
        raise InputError(f"{_prefix(cohort)}the design formula {str(parsed)!r} has no "
                         "'condition' term", hint="add '+ condition' to the formula")  # fmt: skip
    for var in parsed.variables():
        if var not in samples.columns:
            kind = "covariate" if var not in (BATCH, SUBJECT) else "term"
            raise InputError(
                f"{_prefix(cohort)}{kind} {var!r} is not a column of the sample sheet",
                hint=f"columns are: {', '.join(map(str, samples.columns))}"
                + (" (set subject_column in the cohort sheet)" if var == SUBJECT else ""),
            )
    mains = {t[0] for t in parsed.terms if len(t) == 1}
    for term in parsed.terms:
        lacking = [v for v in term if v not in mains]
        if len(term) > 1 and lacking:
            raise InputError(
                f"{_prefix(cohort)}the interaction {':'.join(term)!r} of the design formula "
                f"needs the main effect(s) {', '.join(map(repr, lacking))} in the formula too",
                hint=f"write {'*'.join(term)!r} (main effects and interaction)",
            )


def _code_variables(
    parsed: Formula, sheet: pd.DataFrame, order: list[str], cohort: str
) -> tuple[dict[str, list[tuple[str, np.ndarray]]], dict[str, str], list[str], bool]:
    """The columns of each variable's main effect: ``{variable: [(name, column), ...]}``, the
    dropped variables, the standardised ones, and whether condition is cell-means coded."""
    coded: dict[str, list[tuple[str, np.ndarray]]] = {}
    dropped: dict[str, str] = {}
    standardised: list[str] = []
    first_factor = True
    cell = False
    for var in parsed.variables():
        values = sheet[var]
        if var == CONDITION:
            text = values.astype(str)
            full = not parsed.intercept and first_factor
            kept = order if full else order[1:]
            label = "{lv}" if full else "{lv}_vs_" + order[0]
            coded[var] = [(f"{CONDITION}_" + label.format(lv=lv), (text == lv).to_numpy(float))
                          for lv in kept]  # fmt: skip
            cell = full
            first_factor = False
            continue
        num = pd.to_numeric(values, errors="coerce")
        numeric = (
            var not in (BATCH, SUBJECT)
            and bool(num.notna().all())
            and not pd.api.types.is_bool_dtype(values)
        )
        if numeric:
            sd = float(num.std(ddof=1))
            if not sd > 0:
                _drop(dropped, var, "constant", f"{_prefix(cohort)}covariate {var!r} is constant "
                      f"({num.iloc[0]:g} in all {len(num)} samples)")  # fmt: skip
                continue
            coded[var] = [(var, ((num - num.mean()) / sd).to_numpy(float))]
            standardised.append(var)
            continue
        text = values.astype(str)
        lvls = sorted(text.unique())
        if len(lvls) < 2 and var != BATCH:
            _drop(dropped, var, "one level", f"{_prefix(cohort)}covariate {var!r} has one level "
                  f"({text.iloc[0]!r} in all {len(text)} samples)")  # fmt: skip
            continue
        full = not parsed.intercept and first_factor and (var,) in parsed.terms
        first_factor = False
        use = lvls if full else lvls[1:]
        coded[var] = [(f"{var}_{lv}", (text == lv).to_numpy(float)) for lv in use]
    return coded, dropped, standardised, cell


def check_estimable(design: Design, *, cohort: str = "", tol: float = R_QR_TOL) -> None:
    """Raise :class:`InputError` unless every coefficient of ``design`` is estimable.

    Rank by R's rule (``dqrdc2``, ``tol = 1e-7``; :func:`markerflow.rcompat.qr.estimable_columns`):
    a column whose part orthogonal to the columns before it is below ``tol`` of its norm is aliased.
    The message names each aliased column, its term, the earlier columns it is a combination of and the
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
        term = design.terms[j] if len(design.terms) == p else names[j]
        parts.append(f"{names[j]!r}{carriers} is a linear combination of {combo} (term {term!r})")
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


def _batch_components(present: np.ndarray) -> np.ndarray:
    """Connected components of the bipartite batch-condition graph (``present``: batches x
    conditions, True where a batch has samples of a condition), labelled by each component's
    smallest batch index, so sorted labels are components in order of first appearance, as
    ``scipy.sparse.csgraph.connected_components`` numbers them. Label propagation over the small
    table (at most one pass per batch); kept in numpy so a job does not import scipy.sparse.
    """
    n_b = present.shape[0]
    label = np.arange(n_b)
    while True:
        per_condition = np.where(present, label[:, None], n_b).min(axis=0)
        new = np.minimum(label, np.where(present, per_condition[None, :], n_b).min(axis=1))
        if np.array_equal(new, label):
            return label
        label = new


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
    label = _batch_components(present)
    n_comp = np.unique(label).size
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


# ------------------------------------------------------------------------- subjects, pre-job


def comparison_pairing(
    samples: pd.DataFrame,
    case: str,
    control: str,
    *,
    formula: str | Formula | None = None,
    cohort: str = "",
) -> bool:
    """Whether ``case`` vs ``control`` is a within-subject (paired) comparison in ``samples``.

    Rule (a ``subject`` column comes from the cohort sheet's ``subject_column``):

    * no ``subject`` column: between subjects (samples independent);
    * a design formula with a ``subject`` term declares the comparison within subjects: at least
      one subject must have samples of both levels, else :class:`InputError`;
    * a design formula without ``subject`` declares it between subjects: a subject with samples of
      both levels is an :class:`InputError` naming it (its samples are not independent);
    * no formula: within subjects when at least one subject has samples of both levels.

    Only the samples of the two levels count.
    """
    if SUBJECT not in samples.columns:
        return False
    sheet = samples[samples["condition"].astype(str).isin([case, control])]
    subject = sheet[SUBJECT].astype(str)
    is_case = (sheet["condition"].astype(str) == case).to_numpy()
    both = sorted(set(subject[is_case]) & set(subject[~is_case]))
    parsed = (
        None
        if formula is None
        else formula
        if isinstance(formula, Formula)
        else parse_formula(formula)
    )
    if parsed is None:
        return bool(both)
    if SUBJECT in parsed.variables():
        if not both:
            raise InputError(
                f"{_prefix(cohort)}the comparison {case!r} vs {control!r} is within subjects (the "
                f"design formula {str(parsed)!r} has a 'subject' term), but no subject has "
                f"samples of both {case!r} and {control!r}",
                hint="check subject_column and the condition mapping, or remove 'subject' from "
                "the design formula for a between-subject comparison",
            )
        return True
    if both:
        where = sheet[subject.isin(both[:1]).to_numpy()]
        detail = ", ".join(f"{s} ({c})" for s, c in zip(where["sample"], where["condition"],
                                                           strict=True))  # fmt: skip
        raise InputError(
            f"{_prefix(cohort)}subject {both[0]!r} has samples on both sides of the between-"
            f"subject comparison {case!r} vs {control!r}: {detail}"
            + (f"; also subject(s) {name_first(both[1:])}" if len(both) > 1 else ""),
            hint="add 'subject' to the design formula for a within-subject (paired) comparison, "
            "or fix subject_column / the condition mapping",
        )
    return False


def model_levels(
    samples: pd.DataFrame, case: str, control: str, levels: Sequence[str] | None = None
) -> list[str]:
    """The condition levels of a cohort's model, the reference level first.

    The cohort is fitted once on all its levels, with one reference for every comparison:
    ``levels`` (the study's level order, e.g. the sheet's ``condition_levels``) when given (its
    first level present is the reference); otherwise, with two levels the comparison's control
    (``case - control`` is then the last coefficient, as before issue 16), with more levels R's
    default factor order (sorted, the first level is the reference). A comparison that is no
    single coefficient is a contrast (:meth:`Design.contrast`), as R's ``contrasts.fit`` /
    ``results(dds, contrast = c("condition", case, control))``.
    """
    present = list(dict.fromkeys(samples["condition"].dropna().astype(str)))
    if levels:
        order = [lv for lv in levels if lv in present]
        return list(dict.fromkeys([*order, *present, control, case]))
    if set(present) <= {case, control}:
        return [control, case]
    return sorted(dict.fromkeys([*present, control, case]))


def comparison_design(
    samples: pd.DataFrame,
    case: str,
    control: str,
    covariates: Sequence[str],
    data_type: str,
    *,
    formula: str | Formula | None = None,
    batch: bool | None = None,
    cohort: str = "",
    check: bool = True,
    levels: Sequence[str] | None = None,
) -> tuple[Design, bool]:
    """The cohort's design for one comparison and whether the comparison is within subjects.

    All condition levels of the cohort are in the model, the reference first
    (:func:`model_levels` with ``levels``); case - control is :attr:`Design.coefficient` when
    control is the reference, else :meth:`Design.contrast`. Within subjects
    (:func:`comparison_pairing`) counts get ``subject`` as a fixed term (DESeq2 ``~ subject +
    condition``; samples of subjects seen at one level only leave the model, recorded in
    :attr:`Design.excluded`), while for arrays a formula's ``subject`` term is taken out of the
    fixed effects: limma blocks on subject (``duplicateCorrelation``). Used by the de stage and by
    :func:`check_cohort_design`, so the check sees the design that is fitted.
    """
    paired = comparison_pairing(samples, case, control, formula=formula, cohort=cohort)
    parsed = (
        None
        if formula is None
        else formula
        if isinstance(formula, Formula)
        else parse_formula(formula)
    )
    if parsed is not None and data_type != "counts":
        parsed = parsed.without(SUBJECT)
    single: dict[str, str] = {}
    if paired and data_type == "counts":
        # with subject as a fixed term, a subject seen at one level only has no within-subject
        # information, and a level made only of such subjects would be aliased with them
        spans = samples.groupby(samples[SUBJECT].astype(str))["condition"].nunique()
        alone = samples[SUBJECT].astype(str).map(spans).to_numpy() < 2
        for s, subj in zip(samples["sample"][alone], samples[SUBJECT][alone], strict=True):
            single[str(s)] = f"subject {subj} is seen at one condition level only"
        if single:
            log.info("%s%d sample(s) of subjects seen at one level only leave the paired model: "
                     "%s", _prefix(cohort), len(single), name_first(single))  # fmt: skip
            samples = samples.loc[~alone].reset_index(drop=True)
    order = model_levels(samples, case, control, levels)
    design = build_design(
        samples,
        case,
        control,
        covariates,
        levels=order,
        formula=parsed,
        subject=paired and data_type == "counts" and parsed is None,
        batch=batch,
        cohort=cohort,
        check=check,
        reference=order[0],
    )
    if single:
        design = dataclasses.replace(design, excluded={**single, **design.excluded})
    return design, paired


class _CohortLike(Protocol):
    """What :func:`check_cohort_design` reads of a cohort spec (``io.study.CohortSpec``)."""

    cohort: str
    data_type: str
    condition_column: str
    batch_column: str | None
    subject_column: str | None
    design: str | None

    def level_map(self, case_label: str, control_label: str) -> dict[str, str]: ...


def _standard_sheet(
    pheno: pd.DataFrame, spec: _CohortLike, covariates: Sequence[str], case_label: str,
    control_label: str,
) -> pd.DataFrame:  # fmt: skip
    """Raw phenotypes -> the standard sheet as ingest builds it (condition levels mapped; samples
    with an unmapped condition or a missing batch left out; a missing covariate is left to
    :func:`build_design`, which excludes the sample as ingest does)."""
    cohort = spec.cohort
    for key, col in (("condition_column", spec.condition_column),
                     ("batch_column", spec.batch_column), ("subject_column", spec.subject_column),
                     *(("covariates", c) for c in covariates)):  # fmt: skip
        if col is not None and col not in pheno.columns:
            raise InputError(f"cohort {cohort}: {key} {col!r} is not a phenotype column "
                             f"(available: {', '.join(map(str, pheno.columns))})")  # fmt: skip
    lookup = spec.level_map(case_label, control_label)
    raw = pheno[spec.condition_column]
    condition = raw.map(lambda v: lookup.get(str(v).strip().casefold()) if pd.notna(v) else None)
    sheet = pd.DataFrame({"sample": pheno.index.astype(str), "condition": condition.to_numpy()})
    sheet["batch"] = (pheno[spec.batch_column].astype("string").str.strip().to_numpy()
                      if spec.batch_column else "1")  # fmt: skip
    if spec.subject_column:
        subj = pheno[spec.subject_column].astype("string").str.strip()
        sheet[SUBJECT] = (
            subj.mask(subj == "").fillna(pheno.index.to_series().astype(str)).to_numpy()
        )
    for col in covariates:
        values = pheno[col].astype("string").str.strip()
        num = pd.to_numeric(values, errors="coerce")
        sheet[col] = (num if num.notna().sum() == values.notna().sum() else values).to_numpy()
    keep = sheet["condition"].notna()
    if spec.batch_column:  # as ingest: a sample with a missing batch is excluded, not an error
        keep &= sheet["batch"].notna().to_numpy()
    return sheet[keep].reset_index(drop=True)


def check_cohort_design(
    samples_or_pheno: pd.DataFrame,
    spec: _CohortLike,
    levels: Sequence[str] | Any,
    covariates: Sequence[str] = (),
    formula: str | None = None,
    *,
    case_label: str = "case",
    control_label: str = "control",
    recode: Mapping[str, str] | None = None,
    order: Sequence[str] | None = None,
) -> None:
    """The named design errors of one cohort and comparison, before any job runs.

    ``samples_or_pheno``: the cohort's standard sample sheet (``sample``, ``condition``,
    ``batch``, ... as ingest writes it) or its raw phenotype table (index = sample IDs; mapped with
    ``spec.level_map`` as ingest does). ``levels``: the comparison (an object with ``case`` and
    ``control``, e.g. ``model.comparisons.Comparison``) or the sequence ``(case, control, *more)``
    of levels that must have samples. ``formula``: the cohort's design formula (default
    ``spec.design``). ``case_label``/``control_label``: the study labels of the back-compatible
    case_values/control_values mapping. ``recode``: study level -> the level the comparison's
    model sees (a pooled comparison's :meth:`~markerflow.model.comparisons.Comparison.recode`,
    applied to the mapped sheet as the de stage does, so that a pooled side such as ``asthma`` =
    mild + severe has samples); ``order``: the level order of the fit (``levels`` of
    :func:`comparison_design`, as the de rule passes it).

    Raises :class:`InputError` for an unknown column (a formula term or covariate), a level with
    no sample, a rank-deficient design (naming the term), a subject on both sides of a
    between-subject comparison (naming it) and a within-subject comparison in which no subject
    has both levels (:func:`comparison_pairing`). The design checked is the one the de stage fits:
    all levels of the cohort, ``subject`` as a term for counts compared within subjects.
    """
    if hasattr(levels, "case") and hasattr(levels, "control"):
        wanted = [str(levels.case), str(levels.control)]
    else:
        wanted = [str(v) for v in levels]
    if len(wanted) < 2:
        raise InputError(f"cohort {spec.cohort}: a comparison needs a case and a control level")
    case, control = wanted[0], wanted[1]
    formula = formula if formula is not None else getattr(spec, "design", None)
    standard = all(c in samples_or_pheno.columns for c in ("sample", "condition", "batch"))
    columns = list(covariates)
    if formula is not None:
        fixed = (CONDITION, BATCH, SUBJECT)
        terms = [v for v in parse_formula(formula).variables() if v not in fixed]
        absent = [v for v in terms if v not in samples_or_pheno.columns]
        if absent:
            raise InputError(
                f"cohort {spec.cohort}: the design formula {formula!r} uses column(s) "
                f"{', '.join(map(repr, absent))}, which are not phenotype columns (available: "
                f"{', '.join(map(str, samples_or_pheno.columns))})",
                hint="correct the cohort sheet's `design` cell (terms are sample-sheet columns or "
                "condition, batch, subject)",
            )
        columns += terms
    sheet = (
        samples_or_pheno.reset_index(drop=True)
        if standard
        else _standard_sheet(
            samples_or_pheno, spec, list(dict.fromkeys(columns)), case_label, control_label
        )
    )
    if recode:
        sheet = sheet.assign(condition=[recode.get(str(v), v) if pd.notna(v) else v
                                        for v in sheet["condition"]])  # fmt: skip
    present = list(dict.fromkeys(sheet["condition"].dropna().astype(str)))
    empty = [lv for lv in wanted if lv not in present]
    if empty:
        raise InputError(
            f"cohort {spec.cohort}: condition level(s) {', '.join(map(repr, empty))} have no "
            f"sample (levels with samples: {', '.join(present) or 'none'})",
            hint="check the cohort sheet's condition_levels (or case_values/control_values), or "
            "leave the cohort out of this comparison",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        comparison_design(
            sheet,
            case,
            control,
            covariates,
            spec.data_type,
            formula=formula,
            cohort=spec.cohort,
            levels=order,
        )
