"""One design builder and one confounding/estimability check (markerflow.model.design), for
arrays (limma) and counts (DESeq2) alike, and R's rank rule (markerflow.rcompat.qr)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from markerflow.errors import InputError
from markerflow.model.design import build_design, check_confounding, check_estimable
from markerflow.rcompat.qr import estimable_columns
from markerflow.stages import counts as C
from markerflow.stages import de


def _sheet(n=8, **extra):
    sheet = pd.DataFrame(
        {
            "sample": [f"s{i}" for i in range(n)],
            "condition": ["a", "b"] * (n // 2),
            "batch": "1",
        }
    )
    for key, value in extra.items():
        sheet[key] = value
    return sheet


def _arrays(sheet, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        rng.normal(8, 1, (60, len(sheet))),
        index=[f"g{i}" for i in range(60)],
        columns=sheet["sample"],
    )


def _counts(sheet, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        rng.poisson(50, (200, len(sheet))),
        index=[f"g{i}" for i in range(200)],
        columns=sheet["sample"],
    )


def _run(data_type, sheet, covariates=(), batch=None):
    if data_type == "array":
        return de.array_de(_arrays(sheet), sheet, "b", "a", list(covariates), cohort="C1")
    return C.deseq2(
        _counts(sheet), sheet, case="b", control="a", covariates=list(covariates), batch=bool(batch)
    )


# ------------------------------------------------------------------------------- the builder


def test_one_rule_columns_standardised_numeric_treatment_coded_categorical():
    sheet = _sheet(age=[30, 40, 35, 50, 20, 60, 35, 45], sex=list("FMMFFMFM"))
    sheet["batch"] = ["x", "y"] * 2 + ["y", "x"] * 2
    d = build_design(sheet, "b", "a", ["age", "sex"], batch=True)
    assert d.columns == ["Intercept", "batch_y", "age", "sex_M", "condition_b_vs_a"]
    assert d.coefficient == 4 and d.samples == sheet["sample"].tolist()
    age = d.matrix[:, 2]
    assert abs(age.mean()) < 1e-15 and np.isclose(age.std(ddof=1), 1.0)
    assert d.standardised == ["age"] and d.dropped == {}
    np.testing.assert_array_equal(d.matrix[:, 3], (sheet["sex"] == "M").to_numpy(float))
    np.testing.assert_array_equal(d.matrix[:, 4], (sheet["condition"] == "b").to_numpy(float))


def test_standardising_leaves_the_condition_coefficient_unchanged():
    from markerflow.engines import limma

    sheet = _sheet(age=[30, 40, 35, 50, 20, 60, 35, 45])
    d = build_design(sheet, "b", "a", ["age"])
    raw = d.matrix.copy()
    raw[:, 1] = sheet["age"].to_numpy(float)
    y = _arrays(sheet).to_numpy()
    a = limma.lm_fit(y, d.matrix).coefficients[:, -1]
    b = limma.lm_fit(y, raw).coefficients[:, -1]
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_batch_enters_only_with_more_than_one_level_by_default():
    assert build_design(_sheet(), "b", "a").columns == ["Intercept", "condition_b_vs_a"]
    sheet = _sheet()
    sheet["batch"] = list("xxyyxxyy")
    assert "batch_y" in build_design(sheet, "b", "a").columns
    assert "batch_y" not in build_design(sheet, "b", "a", batch=False).columns


@pytest.mark.parametrize(
    ("values", "reason"),
    [([5] * 8, "constant"), (["M"] * 8, "one level")],
)
def test_single_valued_covariate_is_dropped(values, reason):
    with pytest.warns(RuntimeWarning, match="dropped from the model"):
        d = build_design(_sheet(cov=values), "b", "a", ["cov"])
    assert d.dropped == {"cov": reason} and "cov" not in d.columns


def test_unknown_covariate_and_missing_batch_are_input_errors():
    with pytest.raises(InputError, match=r"covariate 'age' is not a column"):
        build_design(_sheet(), "b", "a", ["age"])
    sheet = _sheet()
    sheet["batch"] = ["x", None] * 4
    with pytest.raises(InputError, match=r"missing batch for sample\(s\) s1, s3"):
        build_design(sheet, "b", "a", batch=True)


def test_no_residual_df_is_an_input_error():
    sheet = _sheet(n=4, k1=[1, 2, 4, 3], k2=[0.5, 1, 3, 7])
    with pytest.raises(InputError, match=r"4 coefficients .* for 4 samples"):
        build_design(sheet, "b", "a", ["k1", "k2"])


# ------------------------------------------- the same behaviour for arrays and counts alike


@pytest.mark.parametrize("data_type", ["array", "counts"])
def test_missing_numeric_covariate_excludes_the_sample(data_type, caplog):
    """A sample with a missing covariate value leaves the model (named); the covariate stays."""
    sheet = _sheet(age=[30, 40, np.nan, 50, 20, 60, 35, 45])
    with (
        caplog.at_level(logging.WARNING),
        pytest.warns(RuntimeWarning, match=r"s2 \(missing age\)"),
    ):
        table = _run(data_type, sheet, ["age"])
    assert "1 sample(s) excluded from the model for a missing covariate value: s2" in caplog.text
    assert table["pvalue"].notna().all()
    assert table["n_case"].max() + table["n_control"].max() == 7
    if data_type == "counts":
        assert table.attrs["deseq2"]["design"] == ["Intercept", "age", "condition_b_vs_a"]
        assert table.attrs["deseq2"]["excluded_samples"] == {"s2": "missing age"}


@pytest.mark.parametrize("data_type", ["array", "counts"])
def test_confounded_batch_names_the_samples(data_type):
    sheet = _sheet()
    sheet["condition"] = ["a"] * 4 + ["b"] * 4
    sheet["batch"] = ["x"] * 4 + ["y"] * 4
    with pytest.raises(InputError, match=r"confounded.*batch x: 4 a \(s0, s1, s2, s3\)"):
        _run(data_type, sheet, batch=True)


@pytest.mark.parametrize("data_type", ["array", "counts"])
def test_rank_deficient_covariate_names_the_column(data_type):
    # dose = 2 * weight - 1: perfectly collinear numeric covariates
    weight = np.array([1.0, 3, 2, 5, 4, 7, 6, 9])
    sheet = _sheet(weight=weight, dose=2 * weight - 1)
    with pytest.raises(
        InputError, match=r"not of full rank: 'dose' is a linear combination of weight"
    ):
        _run(data_type, sheet, ["weight", "dose"])


@pytest.mark.parametrize("data_type", ["array", "counts"])
def test_covariate_confounded_with_condition_names_the_samples(data_type):
    sheet = _sheet(site=["p", "q"] * 4)  # site q = condition b exactly
    with pytest.raises(
        InputError,
        match=r"condition is confounded.*'condition_b_vs_a' \(samples s1, s3, s5, s7\) is a "
        r"linear combination of site_q",
    ):
        _run(data_type, sheet, ["site"])


# -------------------------------------------------------------------- the checks on their own


def test_check_confounding_uses_connected_components():
    # batches A-B share 'x', C-D share 'z': two components although no batch is single-condition
    batch = list("AABBCCDD")
    cond = ["x", "y", "x", "y", "z", "w", "z", "w"]
    with pytest.raises(InputError, match=r"\[batch A: .*batch B: .*\] vs \[batch C: .*batch D"):
        check_confounding(batch, cond, samples=[f"s{i}" for i in range(8)], cohort="C1")


def test_check_estimable_accepts_full_rank():
    check_estimable(build_design(_sheet(age=[30, 40, 35, 50, 20, 60, 35, 45]), "b", "a", ["age"]))


def test_estimable_columns_follows_r_dqrdc2():
    """R: lm.fit(cbind(1, x, 2 * x, z)) aliases the third column (the later of two collinear)."""
    rng = np.random.default_rng(0)
    x, z = rng.normal(size=10), rng.normal(size=10)
    design = np.column_stack([np.ones(10), x, 2 * x, z, np.zeros(10)])
    np.testing.assert_array_equal(estimable_columns(design), [0, 1, 3])
    # a column 1e-8 (relative) away from collinear is aliased at tol 1e-7, kept at 1e-9
    near = np.column_stack([np.ones(10), x, x + 1e-8 * z])
    assert estimable_columns(near).tolist() == [0, 1]
    assert estimable_columns(near, tol=1e-9).tolist() == [0, 1, 2]
