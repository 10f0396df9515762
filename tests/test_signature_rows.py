"""Issue 20: the signature job keeps only the rows it needs of each discovery matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from markerflow.stages.cohorts import Cohort
from markerflow.stages.signature import build_signature, signature_rows


def _study(negative: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    genes = [f"G{i:03d}" for i in range(120)]
    cohorts = {}
    for k in range(3):
        is_case = np.repeat([True, False], 12)
        x = rng.normal(6.0, 1.0, (120, 24))
        x[:10] += 1.2 * is_case  # up
        x[10:20] -= 1.2 * is_case  # down
        if negative:  # a matrix not on a positive scale: MetaIntegrator shifts it by its minimum
            x -= 9.0
            x[100 + k, 3] = -40.0  # the minimum sits in a gene outside the candidate pool
        cohorts[f"C{k}"] = Cohort(pd.DataFrame(x, index=genes), is_case)
    effect = np.r_[np.full(10, 1.0), np.full(10, -1.0), rng.normal(0, 0.1, 100)]
    candidates = pd.DataFrame({
        "gene": genes, "rank": np.argsort(np.argsort(-np.abs(effect), kind="stable")) + 1,
        "direction": np.where(effect > 0, "up", "down"),
    })  # fmt: skip
    return candidates, cohorts


@pytest.mark.parametrize("negative", [False, True])
@pytest.mark.parametrize("method", ["forward_search", "logistic"])
def test_signature_from_the_needed_rows_equals_whole_matrices(negative, method):
    candidates, cohorts = _study(negative)
    pool = candidates.sort_values("rank").head(30)["gene"].tolist()
    reduced = {c: Cohort(signature_rows(co.expression, pool), co.is_case)
               for c, co in cohorts.items()}  # fmt: skip
    assert all(len(co.expression) <= 31 for co in reduced.values())
    kwargs = {"method": method, "pool_size": 30, "max_genes": 6, "seed": 2}
    sig, perf, _ = build_signature(candidates, cohorts, **kwargs)
    sig2, perf2, _ = build_signature(candidates, reduced, **kwargs)
    pd.testing.assert_frame_equal(sig2, sig, check_exact=True)
    pd.testing.assert_frame_equal(perf2, perf, check_exact=True)


def test_the_minimum_row_keeps_metaintegrator_scores_exact():
    """Without the minimum's row the shift of a negative-valued matrix, hence the score, changes."""
    from markerflow.stages.signature import signature_score

    candidates, cohorts = _study(True)
    pool = candidates.sort_values("rank").head(30)["gene"].tolist()
    sig, _, _ = build_signature(candidates, cohorts, pool_size=30, max_genes=6)
    for co in cohorts.values():
        whole = signature_score(co.expression, sig, "forward_search")[0]
        kept = signature_score(signature_rows(co.expression, pool), sig, "forward_search")[0]
        naive = signature_score(co.expression.loc[pool], sig, "forward_search")[0]
        np.testing.assert_array_equal(kept, whole)
        assert np.abs(naive - whole).max() > 0.01
