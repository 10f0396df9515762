"""The genes job's QC and gene mapping share one log2 scale (issue 20): the same numbers as each
computing its own, and GEO2R's quantiles computed once are the quantiles computed before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from markerflow.io import geo
from markerflow.stages import qc
from markerflow.stages.genes import map_cohort_genes


def _cohort(seed: int = 3, nonpositive: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(6, 1.5, size=(300, 12))
    if nonpositive:
        values[[4, 17, 250], [0, 5, 11]] = [0.0, -3.0, 0.0]
    values[9, 2] = np.nan
    probes = [f"p{i}" for i in range(300)]
    samples = [f"S{j}" for j in range(12)]
    expression = pd.DataFrame(values, index=pd.Index(probes, name="probe_id"), columns=samples)
    sheet = pd.DataFrame(
        {"sample": samples, "condition": ["case", "control"] * 6, "batch": ["b1"] * 12}
    )
    return expression, sheet


def test_raw_quantiles_equal_numpy_on_the_finite_values() -> None:
    expression, _ = _cohort()
    values = np.asfortranarray(expression.to_numpy())
    values[3, 3] = np.inf
    want = np.quantile(values[np.isfinite(values)], [0, 0.25, 0.5, 0.75, 0.99, 1.0])
    got = geo.raw_quantiles(values)
    assert np.array_equal(got, want)  # bit-equal: the same order statistics
    assert values[3, 3] == np.inf and np.isnan(values[9, 2])  # input untouched
    assert geo.raw_quantiles(np.full((2, 2), np.nan)).size == 0
    assert not geo.needs_log2(np.full((2, 2), np.nan))


@pytest.mark.parametrize("mode", ["auto", "yes", "no"])
@pytest.mark.parametrize("nonpositive", [True, False])
def test_shared_log_scale_gives_the_same_qc_and_genes(mode: str, nonpositive: bool) -> None:
    expression, sheet = _cohort(nonpositive=nonpositive)
    if mode == "no":
        expression = np.log2(expression.clip(lower=1.0))
    alone = qc.cohort_qc(expression, sheet.copy(), "array", mode, 3.0, "C1")
    scaled = qc.array_log_scale(expression, "array", mode, "C1")
    assert scaled is not None and scaled.raw_quantiles is not None
    shared = qc.cohort_qc(expression, sheet.copy(), "array", mode, 3.0, "C1", scaled=scaled)
    for a, b in zip(alone[:2], shared[:2], strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    for a, b in zip(alone[2:], shared[2:], strict=True):
        assert np.array_equal(a, b)
    genes_alone = map_cohort_genes(expression, sheet, "array", None, log2_mode=mode, cohort="C1")
    genes_shared = map_cohort_genes(
        expression, sheet, "array", None, log2_mode=mode, cohort="C1", scaled=scaled
    )
    for a, b in zip(genes_alone, genes_shared, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_a_scaled_matrix_of_other_columns_is_not_reused() -> None:
    expression, sheet = _cohort()
    other = qc.log_scale(expression.iloc[:, ::-1] * 2.0, "auto", "C1")  # other values and order
    assert not qc.reusable(other, expression)
    alone = map_cohort_genes(expression, sheet, "array", None, cohort="C1")
    given = map_cohort_genes(expression, sheet, "array", None, cohort="C1", scaled=other)
    pd.testing.assert_frame_equal(alone[0], given[0], check_exact=True)
    assert qc.array_log_scale(expression, "counts", "auto", "C1") is None


def test_subplots_draws_what_pyplot_draws(tmp_path) -> None:
    """plots.figure.subplots (no pyplot) gives the PNG bytes pyplot.subplots gives."""
    import matplotlib.pyplot as plt

    from markerflow.plots.figure import place_labels, save_figure, subplots

    def draw(make, name: str) -> bytes:
        fig, (ax, bx) = make(1, 2, figsize=(6, 3), layout="constrained", sharey=True)
        ax.scatter([1, 2, 3], [3, 1, 2], label="a")
        place_labels(ax, [1, 2, 3], [3, 1, 2], ["x", "y", "z"])
        bx.imshow(np.arange(12.0).reshape(3, 4), cmap="RdBu_r")
        ax.legend()
        save_figure(fig, tmp_path / name)
        return (tmp_path / name).read_bytes()

    assert draw(subplots, "a.png") == draw(plt.subplots, "b.png")
