import numpy as np
import pytest

from markerflow.model.effectsize import hedges_g


def test_hedges_g_hand_worked():
    # case: 5, 7, 9 (mean 7, var 4); control: 1, 2, 3, 6 (mean 3, var 14/3)
    values = np.array([[5.0, 7.0, 9.0, 1.0, 2.0, 3.0, 6.0]])
    is_case = np.array([1, 1, 1, 0, 0, 0, 0], dtype=bool)
    g, se = hedges_g(values, is_case)
    pooled = np.sqrt((2 * 4 + 3 * 14 / 3) / 5)
    d = 4 / pooled
    expected_g = d * (1 - 3 / (4 * 7 - 9))
    expected_se = np.sqrt(7 / 12 + expected_g**2 / (2 * (7 - 3.94)))
    assert g[0] == pytest.approx(expected_g, rel=1e-12)
    assert se[0] == pytest.approx(expected_se, rel=1e-12)


def test_constant_gene_gives_nan_not_inf():
    values = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    g, se = hedges_g(values, np.array([True, True, False, False]))
    assert np.isnan(g[0]) and np.isnan(se[0])
    assert np.isfinite(g[1])
