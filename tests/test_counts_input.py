"""DESeq2 input checks (sheet vs matrix, confounding, covariates) name the samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from markerflow.errors import InputError
from markerflow.stages import counts as C
from markerflow.stages.ingest import check_sheet_matches


def test_sheet_matrix_mismatch_names_samples():
    counts = pd.DataFrame(np.ones((2, 3), dtype=int), columns=["s1", "s2", "s9"], index=["a", "b"])
    sheet = pd.DataFrame({"sample": ["s1", "s2", "s3"], "condition": ["x", "y", "y"]})
    with pytest.raises(InputError) as err:
        check_sheet_matches(counts, sheet)
    msg = str(err.value)
    assert "in the sheet but not in the count matrix: s3" in msg
    assert "in the count matrix but not in the sheet: s9" in msg
    sheet2 = pd.DataFrame({"sample": ["s2", "s1"]})
    out = check_sheet_matches(counts, sheet2, allow_extra=True)
    assert list(out.columns) == ["s2", "s1"]


def test_confounded_batch_names_samples():
    rng = np.random.default_rng(0)
    counts = pd.DataFrame(
        rng.poisson(50, (50, 6)),
        columns=[f"s{i}" for i in range(6)],
        index=[f"g{i}" for i in range(50)],
    )
    sheet = pd.DataFrame(
        {
            "sample": counts.columns,
            "condition": ["a"] * 3 + ["b"] * 3,
            "batch": ["x"] * 3 + ["y"] * 3,
        }
    )
    with pytest.raises(InputError, match=r"confounded.*batch x: a \(s0, s1, s2\)"):
        C.deseq2(counts, sheet, case="b", control="a", batch=True)


def test_covariate_with_missing_values_is_dropped_with_warning():
    rng = np.random.default_rng(0)
    counts = pd.DataFrame(
        rng.poisson(50, (200, 8)),
        columns=[f"s{i}" for i in range(8)],
        index=[f"g{i}" for i in range(200)],
    )
    sheet = pd.DataFrame(
        {
            "sample": counts.columns,
            "condition": ["a", "b"] * 4,
            "batch": "b1",
            "age": [30, 40, np.nan, 50, 20, 60, 35, 45],
        }
    )
    with pytest.warns(RuntimeWarning, match=r"'age' is missing for 1 sample\(s\): s2"):
        de = C.deseq2(counts, sheet, case="b", control="a", covariates=["age"])
    assert "age" in de.attrs["deseq2"]["dropped_covariates"]
    assert de.attrs["deseq2"]["design"] == ["Intercept", "condition_b_vs_a"]
