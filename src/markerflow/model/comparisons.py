"""Comparisons: the named two-group contrasts a study runs, and which cohorts can serve each.

A study has one ``condition`` factor with named levels (the cohort sheet maps each cohort's raw
phenotype values onto them: column ``condition_levels``, or, without it, ``case_values`` ->
``study.case_label`` and ``control_values`` -> ``study.control_label``). A comparison names a case
level and a control level, like one column of limma's ``makeContrasts(case - control, ...)``;
everything from differential expression on runs once per comparison (``results/<comparison>/...``).

Pooling. A comparison may pool several study levels into one side (config key ``pool``, e.g.
``{asthma: [mild, severe]}``). The pooled levels are recoded to the side's name before the cohort's
model is fitted, exactly as a limma user recodes the factor (``group[group %in% c("mild",
"severe")] <- "asthma"``) and fits ``~ group``; this is *not* the contrast ``(mild + severe)/2 -
healthy`` of the unpooled model (the two differ when the pooled groups differ in size). Levels
named by no side stay in the model as their own levels (one model on all levels of a cohort).

Eligibility. A cohort serves a comparison when it has at least one sample on each side (decided from
the sheet's level mapping and the phenotype values read before any job; when the phenotypes are
not yet available, e.g. a GEO download, from the mapping alone). Other cohorts are skipped for that
comparison with a reason. A comparison that no discovery cohort can serve is an error.

This module is pure (no file reading): the workflow's ``common.smk`` passes in the cohort specs and
their raw phenotype values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from markerflow.errors import InputError, name_first

#: A comparison name is a path component (``results/<comparison>/...``).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: Folders of the results directory that are not comparisons (per-cohort stages, bookkeeping).
RESERVED_NAMES = frozenset(
    {"ingest", "qc", "genes", "de_ftest", "provenance", "report", "logs", "benchmarks"}
)
LEVEL_SEPARATOR = ";"
LEVEL_ASSIGN = "="


@dataclass(frozen=True)
class Comparison:
    """One comparison: ``case`` vs ``control`` levels of the study's condition.

    ``case_pool`` / ``control_pool``: further study levels counted as case / control in this
    comparison (recoded to ``case`` / ``control`` before the model; empty = none).
    """

    name: str
    case: str
    control: str
    case_pool: tuple[str, ...] = field(default=())
    control_pool: tuple[str, ...] = field(default=())

    @property
    def case_levels(self) -> tuple[str, ...]:
        """Every study level on the case side (the case level first)."""
        return (self.case, *self.case_pool)

    @property
    def control_levels(self) -> tuple[str, ...]:
        """Every study level on the control side (the control level first)."""
        return (self.control, *self.control_pool)

    def recode(self) -> dict[str, str]:
        """Study level -> the level the comparison's model sees (pooled levels -> their side)."""
        return {
            **{level: self.case for level in self.case_levels},
            **{level: self.control for level in self.control_levels},
        }

    def as_params(self) -> dict[str, Any]:
        """A plain dict for Snakemake ``params:`` (tuples as lists)."""
        return {
            "name": self.name,
            "case": self.case,
            "control": self.control,
            "case_pool": list(self.case_pool),
            "control_pool": list(self.control_pool),
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Comparison:
        """Inverse of :meth:`as_params`."""
        return cls(
            name=str(params["name"]),
            case=str(params["case"]),
            control=str(params["control"]),
            case_pool=tuple(params.get("case_pool") or ()),
            control_pool=tuple(params.get("control_pool") or ()),
        )


def comparisons_from_config(config: Mapping[str, Any]) -> list[Comparison]:
    """The study's comparisons, checked; absent ``comparisons:`` -> one ``<case>_vs_<control>``.

    Errors (InputError naming ``comparisons[i].<key>``): a name that is not path-safe or is a
    results folder of its own, duplicate names, case == control, a pool keyed by something other
    than the comparison's case or control, a level on both sides.
    """
    study = config.get("study", {})
    entries = config.get("comparisons")
    if not entries:
        case = str(study.get("case_label", "case"))
        control = str(study.get("control_label", "control"))
        entries = [{"name": f"{case}_vs_{control}", "case": case, "control": control}]
    result: list[Comparison] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        key = f"comparisons[{i}]"
        for required in ("name", "case", "control"):
            if not str(entry.get(required) or "").strip():
                raise InputError(f"config {key}.{required} is missing or empty")
        name = str(entry["name"]).strip()
        if not NAME_PATTERN.match(name):
            raise InputError(
                f"config {key}.name {name!r} is not a safe folder name",
                hint="use letters, digits, '_', '.' and '-', starting with a letter or digit",
            )
        if name in RESERVED_NAMES:
            raise InputError(
                f"config {key}.name {name!r} is a results folder of its own",
                hint=f"choose another name (reserved: {', '.join(sorted(RESERVED_NAMES))})",
            )
        if name.casefold() in seen:
            raise InputError(
                f"config {key}.name {name!r} repeats comparisons[{seen[name.casefold()]}].name",
                hint="give every comparison its own name",
            )
        seen[name.casefold()] = i
        case, control = str(entry["case"]).strip(), str(entry["control"]).strip()
        if case.casefold() == control.casefold():
            raise InputError(
                f"config {key} ({name}): case and control are the same level {case!r}",
                hint="compare two different levels",
            )
        pool = dict(entry.get("pool") or {})
        unknown = [k for k in pool if k not in (case, control)]
        if unknown:
            raise InputError(
                f"config {key}.pool ({name}): key(s) {name_first(unknown)} are neither the case "
                f"{case!r} nor the control {control!r}",
                hint="key the pool by the side the listed levels join",
            )
        case_pool = tuple(dict.fromkeys(str(v).strip() for v in pool.get(case, ()) if v != case))
        control_pool = tuple(
            dict.fromkeys(str(v).strip() for v in pool.get(control, ()) if v != control)
        )
        both = sorted(set((case, *case_pool)) & set((control, *control_pool)))
        if both:
            raise InputError(
                f"config {key}.pool ({name}): level(s) {name_first(both)} are on both sides",
                hint="a level can count as case or as control, not both",
            )
        result.append(Comparison(name, case, control, case_pool, control_pool))
    return result


# --- cohorts' levels -----------------------------------------------------------------------------


class _SpecLike(Protocol):
    cohort: str
    role: str
    case_values: tuple[str, ...]
    control_values: tuple[str, ...]


def _normalise(value: Any) -> str:
    """As io.study.normalise_value: strip whitespace, case-fold, nothing else."""
    return str(value).strip().casefold()


def parse_condition_levels(text: str, where: str = "condition_levels") -> dict[str, str]:
    """``"Raw value=level;Other raw=level"`` -> {raw: level} (several raws may share a level)."""
    mapping: dict[str, str] = {}
    for item in str(text).split(LEVEL_SEPARATOR):
        if not item.strip():
            continue
        raw, sep, level = item.rpartition(LEVEL_ASSIGN)
        if not sep or not raw.strip() or not level.strip():
            raise InputError(
                f"{where}: item {item.strip()!r} is not `raw value=level`",
                hint="write e.g. `Healthy control=healthy;Mild asthma=mild`",
            )
        mapping[raw.strip()] = level.strip()
    return mapping


def level_map(
    spec: _SpecLike, case_label: str, control_label: str, condition_levels: Any = None
) -> dict[str, str]:
    """Normalised raw phenotype value -> study level, for one cohort.

    From ``condition_levels`` (the sheet cell; text, mapping or (raw, level) pairs), else the
    spec's own ``condition_levels`` when it has one; otherwise ``case_values`` -> ``case_label``
    and ``control_values`` -> ``control_label`` (the cohort sheet without level mapping).
    """
    given = condition_levels or getattr(spec, "condition_levels", None)
    if given:
        if isinstance(given, str):
            pairs: Iterable[tuple[str, str]] = parse_condition_levels(
                given, f"cohort {spec.cohort}: condition_levels"
            ).items()
        elif isinstance(given, Mapping):
            pairs = given.items()
        else:
            pairs = [(str(raw), str(level)) for raw, level in given]
        return {_normalise(raw): str(level) for raw, level in pairs}
    return {
        **{_normalise(v): control_label for v in spec.control_values},
        **{_normalise(v): case_label for v in spec.case_values},
    }


def cohort_levels(mapping: Mapping[str, str], raw_values: Iterable[Any] | None = None) -> list[str]:
    """The study levels a cohort has samples of, in mapping order.

    ``mapping``: normalised raw condition value -> level (``CohortSpec.level_map`` or
    :func:`level_map`); ``raw_values``: the cohort's raw condition values (one per sample, as read
    from its phenotype table before any job); None when they are not available yet: then every
    mapped level counts.
    """
    levels = list(dict.fromkeys(mapping.values()))
    if raw_values is None:
        return levels
    present = {mapping[v] for v in map(_normalise, raw_values) if v in mapping}
    return [level for level in levels if level in present]


def sheet_levels(spec: Any, case_label: str, control_label: str) -> list[str]:
    """A cohort's condition levels in the order its sheet row writes them (the reference first).

    ``condition_levels`` in written order; without it (``case_values``/``control_values``)
    ``[control_label, case_label]``: the control is the reference, as before issue 16.
    """
    text = getattr(spec, "condition_levels", None)
    if text:
        return list(dict.fromkeys(parse_condition_levels(text).values()))
    return [control_label, case_label]


def study_levels(orders: Iterable[Sequence[str]]) -> list[str]:
    """The study's level order: every cohort's :func:`sheet_levels`, merged in sheet order
    (first appearance wins), so that one level is the reference of every cohort that has it."""
    return list(dict.fromkeys(level for order in orders for level in order))


def model_level_order(levels: Sequence[str], comparison: Comparison) -> list[str]:
    """The study level order as a comparison's model sees it: pooled levels recoded to their
    side (:meth:`Comparison.recode`), duplicates dropped (``levels`` of
    :func:`markerflow.stages.de.cohort_de` and :func:`markerflow.model.design.model_levels`).

    E.g. ``[control, asthma, healthy, mild, severe]`` with ``asthma = mild + severe`` and
    ``control = healthy`` -> ``[control, asthma]``.
    """
    recode = comparison.recode()
    return list(dict.fromkeys(recode.get(level, level) for level in levels))


@dataclass(frozen=True)
class ComparisonPlan:
    """Per comparison, the cohorts that serve it (sheet order) and the skipped ones with reasons."""

    comparisons: tuple[Comparison, ...]
    cohorts: Mapping[str, tuple[str, ...]]
    skipped: tuple[tuple[str, str, str, str], ...]  # (comparison, cohort, role, reason)

    def skipped_table(self, comparison: str | None = None) -> pd.DataFrame:
        """The skipped cohorts (columns comparison, cohort, role, reason)."""
        rows = [r for r in self.skipped if comparison is None or r[0] == comparison]
        return pd.DataFrame(rows, columns=["comparison", "cohort", "role", "reason"])

    def messages(self) -> list[str]:
        """One line per skipped cohort, for the log printed when the workflow starts."""
        return [
            f"comparison {c}: cohort {cohort} skipped ({reason})"
            for c, cohort, _, reason in self.skipped
        ]


def plan_comparisons(
    comparisons: Sequence[Comparison],
    levels: Mapping[str, Sequence[str]],
    roles: Mapping[str, str],
) -> ComparisonPlan:
    """Which cohorts serve which comparison; InputError for a comparison nothing can serve.

    ``levels``: cohort -> the study levels it has samples of (:func:`cohort_levels`), sheet order;
    ``roles``: cohort -> ``discovery`` | ``validation``. Errors name ``comparisons[i]``: a case or
    control side none of whose levels any cohort maps, and a comparison no discovery cohort has
    both sides of.
    """
    all_levels = list(dict.fromkeys(lv for cohort_lv in levels.values() for lv in cohort_lv))
    cohorts: dict[str, tuple[str, ...]] = {}
    skipped: list[tuple[str, str, str, str]] = []
    for i, comp in enumerate(comparisons):  # first every name, then what the cohorts hold
        for side, side_levels in (("case", comp.case_levels), ("control", comp.control_levels)):
            if not set(side_levels) & set(all_levels):
                raise InputError(
                    f"config comparisons[{i}].{side} ({comp.name}): level(s) "
                    f"{name_first(side_levels)} are mapped by no cohort with samples "
                    f"(levels present: {name_first(all_levels) or 'none'})",
                    hint="correct the level name, or map it in the cohort sheet "
                    "(`condition_levels`, or `case_values`/`control_values` with "
                    "study.case_label/control_label)",
                )
    for i, comp in enumerate(comparisons):
        serving = []
        for cohort, cohort_lv in levels.items():
            missing = [
                f"{side} {'/'.join(side_levels)}"
                for side, side_levels in (
                    ("case", comp.case_levels),
                    ("control", comp.control_levels),
                )
                if not set(side_levels) & set(cohort_lv)
            ]
            if missing:
                reason = f"no sample of the {' or the '.join(missing)} level" + (
                    f"; levels present: {', '.join(cohort_lv)}" if cohort_lv else "; no level"
                )
                skipped.append((comp.name, cohort, roles.get(cohort, ""), reason))
            else:
                serving.append(cohort)
        if not any(roles.get(c) == "discovery" for c in serving):
            raise InputError(
                f"config comparisons[{i}] ({comp.name}): no discovery cohort has samples of both "
                f"{'/'.join(comp.case_levels)} and {'/'.join(comp.control_levels)}",
                hint="add a discovery cohort with both levels, or drop the comparison",
            )
        cohorts[comp.name] = tuple(serving)
    return ComparisonPlan(tuple(comparisons), cohorts, tuple(skipped))


# --- samples -------------------------------------------------------------------------------------


def model_samples(samples: pd.DataFrame, comparison: Comparison) -> pd.DataFrame:
    """A cohort's sample sheet as the comparison's model sees it: pooled levels recoded.

    Every sample is kept (the model is fitted on all levels of the cohort); only ``condition``
    values listed in a pool become their side's level.
    """
    recode = comparison.recode()
    out = samples.copy()
    out["condition"] = [recode.get(str(v), v) for v in out["condition"]]
    return out


def comparison_samples(samples: pd.DataFrame, comparison: Comparison) -> pd.DataFrame:
    """The samples of the comparison's two sides (pooled levels recoded), in sheet order.

    The table later stages (merge, meta, candidates, signature, validation) read for the
    comparison: ``condition`` is ``comparison.case`` or ``comparison.control`` on every row.
    """
    out = model_samples(samples, comparison)
    keep = out["condition"].isin([comparison.case, comparison.control]).to_numpy()
    return out.loc[keep]


# --- designs, before any job ---------------------------------------------------------------------


def check_plan_designs(
    plan: ComparisonPlan,
    specs: Mapping[str, Any],
    phenotypes: Mapping[str, pd.DataFrame | None],
    levels: Sequence[str],
    case_label: str,
    control_label: str,
) -> None:
    """Every (comparison, serving cohort) design checked before any job runs.

    :func:`markerflow.model.design.check_cohort_design` on the cohort's raw phenotypes
    (``phenotypes[cohort]``; None = not available yet, e.g. a GEO download: checked when the de
    job builds its design) mapped onto the study levels and recoded for the comparison's pools
    (:meth:`Comparison.recode`), with the comparison's level order (:func:`model_level_order` of
    the study order ``levels``): the design the de rule fits. An unknown formula column, a level
    with no sample (e.g. after excluding samples with a missing covariate), a rank-deficient
    design and a subject on both sides of a between-subject comparison are
    errors (:class:`InputError`), prefixed with the comparison's name.
    """
    from markerflow.model.design import check_cohort_design

    for comparison in plan.comparisons:
        order = model_level_order(levels, comparison)
        for cohort in plan.cohorts[comparison.name]:
            pheno = phenotypes.get(cohort)
            if pheno is None:
                continue
            spec = specs[cohort]
            try:
                check_cohort_design(
                    pheno,
                    spec,
                    comparison,
                    list(spec.covariates),
                    case_label=case_label,
                    control_label=control_label,
                    recode=comparison.recode(),
                    order=order,
                )
            except InputError as error:
                raise InputError(f"comparison {comparison.name}: {error}") from None
