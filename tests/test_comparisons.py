"""Comparisons (issue 16): config parsing and checks, cohort eligibility, sample recoding."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import pytest

from markerflow.errors import InputError
from markerflow.io.study import normalise_value
from markerflow.model.comparisons import (
    Comparison,
    _normalise,
    check_plan_designs,
    cohort_levels,
    comparison_samples,
    comparisons_from_config,
    level_map,
    model_level_order,
    model_samples,
    parse_condition_levels,
    plan_comparisons,
    sheet_levels,
    study_levels,
)

STUDY = {"study": {"name": "s", "case_label": "asthma", "control_label": "control"}}


@dataclass(frozen=True)
class Spec:
    cohort: str
    role: str = "discovery"
    case_values: tuple[str, ...] = ("Asthma",)
    control_values: tuple[str, ...] = ("Control",)
    condition_levels: str | None = None


def test_absent_comparisons_give_one_case_vs_control():
    assert comparisons_from_config(STUDY) == [Comparison("asthma_vs_control", "asthma", "control")]


def test_comparisons_with_a_pool():
    config = {
        **STUDY,
        "comparisons": [
            {"name": "asthma_vs_control", "case": "asthma", "control": "control",
             "pool": {"asthma": ["mild", "severe"], "control": ["healthy"]}},
            {"name": "severe_vs_mild", "case": "severe", "control": "mild"},
        ],
    }  # fmt: skip
    first, second = comparisons_from_config(config)
    assert first.case_levels == ("asthma", "mild", "severe")
    assert first.control_levels == ("control", "healthy")
    assert first.recode() == {"asthma": "asthma", "mild": "asthma", "severe": "asthma",
                              "control": "control", "healthy": "control"}  # fmt: skip
    assert second.recode() == {"severe": "severe", "mild": "mild"}
    assert Comparison.from_params(first.as_params()) == first


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        ([{"name": "a", "case": "x", "control": "x"}], "comparisons[0]"),
        ([{"name": "a", "case": "x", "control": "y"}, {"name": "a", "case": "y", "control": "x"}],
         "comparisons[1].name"),
        ([{"name": "a/b", "case": "x", "control": "y"}], "comparisons[0].name"),
        ([{"name": "qc", "case": "x", "control": "y"}], "comparisons[0].name"),
        ([{"name": "a", "case": "x", "control": "y", "pool": {"z": ["w"]}}], "comparisons[0].pool"),
        ([{"name": "a", "case": "x", "control": "y", "pool": {"x": ["y"]}}], "comparisons[0].pool"),
        ([{"name": "a", "case": "", "control": "y"}], "comparisons[0].case"),
    ],
)  # fmt: skip
def test_bad_comparisons_name_the_key(entries, named):
    with pytest.raises(InputError, match=named.replace("[", r"\[").replace("]", r"\]")):
        comparisons_from_config({**STUDY, "comparisons": entries})


def test_normalisation_is_that_of_the_study_check():
    for value in ("  Mild Asthma ", "HEALTHY control", "ß"):
        assert _normalise(value) == normalise_value(value)


def test_level_map_back_compat_and_condition_levels():
    assert level_map(Spec("A"), "asthma", "control") == {"asthma": "asthma", "control": "control"}
    spec = Spec(
        "B", condition_levels="Healthy control=healthy;Mild asthma=mild;Severe asthma=severe"
    )
    assert level_map(spec, "asthma", "control") == {
        "healthy control": "healthy", "mild asthma": "mild", "severe asthma": "severe"}  # fmt: skip
    with pytest.raises(InputError, match="raw value=level"):
        parse_condition_levels("Healthy control;Mild=mild")


def test_levels_present_come_from_the_phenotypes():
    spec = Spec(
        "B", condition_levels="Healthy control=healthy;Mild asthma=mild;Severe asthma=severe"
    )
    mapping = level_map(spec, "asthma", "control")
    assert cohort_levels(mapping) == ["healthy", "mild", "severe"]
    raw = ["Healthy control", "mild ASTHMA", "other"]
    assert cohort_levels(mapping, raw) == ["healthy", "mild"]
    sheet_cell = level_map(Spec("C"), "asthma", "control", "Asthma=asthma;Control=healthy")
    assert sheet_cell == {"asthma": "asthma", "control": "healthy"}


def _example_comparisons():
    return comparisons_from_config({**STUDY, "comparisons": [
        {"name": "asthma_vs_control", "case": "asthma", "control": "control",
         "pool": {"asthma": ["mild", "severe"], "control": ["healthy"]}},
        {"name": "severe_vs_healthy", "case": "severe", "control": "healthy"},
        {"name": "severe_vs_mild", "case": "severe", "control": "mild"},
    ]})  # fmt: skip


def test_plan_skips_a_cohort_lacking_a_level_with_the_reason():
    levels = {
        "A": ["asthma", "control"],
        "B": ["healthy", "mild", "severe"],
        "V": ["asthma", "control"],
    }
    roles = {"A": "discovery", "B": "discovery", "V": "validation"}
    plan = plan_comparisons(_example_comparisons(), levels, roles)
    assert plan.cohorts == {"asthma_vs_control": ("A", "B", "V"), "severe_vs_healthy": ("B",),
                            "severe_vs_mild": ("B",)}  # fmt: skip
    table = plan.skipped_table("severe_vs_healthy")
    assert list(table["cohort"]) == ["A", "V"]
    assert "no sample of the case severe or the control healthy level" in table["reason"].iloc[0]
    assert "levels present: asthma, control" in table["reason"].iloc[0]
    assert len(plan.skipped_table()) == 4
    assert plan.messages()[0].startswith("comparison severe_vs_healthy: cohort A skipped (")


def test_plan_errors_name_the_comparison():
    levels = {"A": ["asthma", "control"], "V": ["healthy", "severe"]}
    roles = {"A": "discovery", "V": "validation"}
    with pytest.raises(InputError, match=r"comparisons\[2\]\.control \(severe_vs_mild\)"):
        plan_comparisons(_example_comparisons(), levels, roles)
    one = [Comparison("severe_vs_healthy", "severe", "healthy")]
    with pytest.raises(InputError, match=r"comparisons\[0\] \(severe_vs_healthy\): no discovery"):
        plan_comparisons(one, levels, roles)


def test_samples_recoded_and_subset():
    samples = pd.DataFrame({"sample": list("abcde"), "cohort": "B",
                            "condition": ["healthy", "mild", "severe", "mild", "healthy"]})  # fmt: skip
    pooled, severe_vs_mild = _example_comparisons()[0], _example_comparisons()[2]
    assert list(model_samples(samples, pooled)["condition"]) == [
        "control", "asthma", "asthma", "asthma", "control"]  # fmt: skip
    assert list(model_samples(samples, severe_vs_mild)["condition"]) == list(samples["condition"])
    kept = comparison_samples(samples, severe_vs_mild)
    assert list(kept["sample"]) == ["b", "c", "d"]
    assert samples["condition"].iloc[0] == "healthy"  # input untouched


# --- study level order and the pre-job design check ----------------------------------------------

THREE = "Healthy control=healthy;Mild asthma=mild;Severe asthma=severe"
POOLED = Comparison("asthma_vs_control", "asthma", "control", ("mild", "severe"), ("healthy",))


def test_study_level_order_puts_the_control_first_and_recodes_pools():
    orders = [sheet_levels(Spec("A"), "asthma", "control"),
              sheet_levels(Spec("B", condition_levels=THREE), "asthma", "control")]  # fmt: skip
    assert orders == [["control", "asthma"], ["healthy", "mild", "severe"]]
    levels = study_levels(orders)
    assert levels == ["control", "asthma", "healthy", "mild", "severe"]
    assert model_level_order(levels, POOLED) == ["control", "asthma"]
    severe_vs_mild = Comparison("severe_vs_mild", "severe", "mild")
    assert model_level_order(levels, severe_vs_mild) == levels  # GSE27011: healthy reference


@dataclass(frozen=True)
class DesignSpec(Spec):
    data_type: str = "array"
    condition_column: str = "status"
    batch_column: str | None = None
    subject_column: str | None = None
    design: str | None = None
    covariates: tuple[str, ...] = ()

    def level_map(self, case_label="case", control_label="control"):
        return level_map(self, case_label, control_label)


def _three_levels(**extra):
    raw = ["Healthy control", "Mild asthma", "Severe asthma"] * 4
    pheno = pd.DataFrame({"status": raw, "age": [float(i) for i in range(12)]},
                         index=[f"s{i}" for i in range(12)])  # fmt: skip
    return pheno.assign(**extra)


def test_plan_designs_recode_pools_and_name_the_comparison():
    specs = {"B": DesignSpec("B", condition_levels=THREE, design="~ age + condition")}
    comparisons = [POOLED, Comparison("severe_vs_mild", "severe", "mild")]
    plan = plan_comparisons(comparisons, {"B": ["healthy", "mild", "severe"]}, {"B": "discovery"})
    levels = ["control", "asthma", "healthy", "mild", "severe"]
    check_plan_designs(plan, specs, {"B": _three_levels()}, levels, "asthma", "control")
    check_plan_designs(plan, specs, {"B": None}, levels, "asthma", "control")  # not downloaded
    # age missing in every severe sample: the pooled asthma side keeps its mild samples, but
    # severe_vs_mild has no severe sample in the model
    age = [None if i % 3 == 2 else float(i) for i in range(12)]
    with pytest.raises(InputError, match=re.escape(
        "comparison severe_vs_mild: cohort B: condition level(s) 'severe' have no sample"
    )) as info:  # fmt: skip
        check_plan_designs(plan, specs, {"B": _three_levels(age=age)}, levels, "asthma", "control")
    assert "after excluding samples with missing covariates" in str(info.value)
