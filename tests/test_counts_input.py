"""DESeq2 input checks (sheet vs matrix, confounding, covariates) name the samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from markerflow.errors import InputError
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
