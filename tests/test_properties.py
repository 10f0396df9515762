"""Property-based tests (hypothesis) for the parsers and the invariants of the statistics."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic import series_matrix_text, write_text

from markerflow.engines.combat import combat
from markerflow.io import geo
from markerflow.io.matrices import read_feature_matrix
from markerflow.model.effectsize import hedges_g
from markerflow.rcompat.padjust import p_adjust_bh
from markerflow.stages.de import array_de
from markerflow.stages.genes import collapse_probes

FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def de_data(seed: int, n_genes: int, n_case: int, n_control: int):
    rng = np.random.default_rng(seed)
    n = n_case + n_control
    values = rng.normal(7.0, 1.0, size=(n_genes, n)) * rng.uniform(0.2, 2.0, size=(n_genes, 1))
    values[:, :n_case] += rng.normal(0, 1.0, size=(n_genes, 1))  # some true effects
    ids = [f"S{i}" for i in range(n)]
    expression = pd.DataFrame(values, index=[f"G{i}" for i in range(n_genes)], columns=ids)
    samples = pd.DataFrame(
        {
            "sample": ids,
            "cohort": "C",
            "condition": ["case"] * n_case + ["control"] * n_control,
            "batch": "1",
        }
    )
    return expression, samples


group = st.integers(min_value=2, max_value=6)
STAT_COLUMNS = ["log2fc", "stat", "pvalue", "padj", "se", "hedges_g", "hedges_g_se"]


@FAST
@given(
    seed=seeds,
    n_genes=st.integers(5, 60),
    n_case=group,
    n_control=group,
    trend=st.booleans(),
    robust=st.booleans(),
)
def test_limma_invariant_to_sample_order_within_groups(
    seed, n_genes, n_case, n_control, trend, robust
):
    expression, samples = de_data(seed, n_genes, n_case, n_control)
    rng = np.random.default_rng(seed + 1)
    order = np.concatenate([rng.permutation(n_case), n_case + rng.permutation(n_control)])
    order = rng.permutation(order)  # columns in any order; the sheet follows the matrix
    shuffled_samples = samples.iloc[order].reset_index(drop=True)
    a = array_de(expression, samples, "case", "control", trend=trend, robust=robust)
    b = array_de(
        expression.iloc[:, order], shuffled_samples, "case", "control", trend=trend, robust=robust
    )
    pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=1e-12)


@FAST
@given(
    seed=seeds,
    n_genes=st.integers(5, 60),
    n_case=group,
    n_control=group,
    shift=st.floats(-50, 50, allow_nan=False),
)
def test_adding_a_constant_leaves_logfc_and_tests_unchanged(
    seed, n_genes, n_case, n_control, shift
):
    expression, samples = de_data(seed, n_genes, n_case, n_control)
    a = array_de(expression, samples, "case", "control")
    b = array_de(expression + shift, samples, "case", "control")
    pd.testing.assert_frame_equal(a[STAT_COLUMNS], b[STAT_COLUMNS], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(b["ave_expr"], a["ave_expr"] + shift, rtol=1e-12, atol=1e-9)


@FAST
@given(seed=seeds, n_genes=st.integers(2, 40), n_case=group, n_control=group)
def test_swapping_case_and_control_flips_signs(seed, n_genes, n_case, n_control):
    expression, samples = de_data(seed, n_genes, n_case, n_control)
    a = array_de(expression, samples, "case", "control")
    b = array_de(expression, samples, "control", "case")
    np.testing.assert_allclose(b["log2fc"], -a["log2fc"], atol=1e-10)
    np.testing.assert_allclose(b["stat"], -a["stat"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b["pvalue"], a["pvalue"], rtol=1e-8)
    g, _ = hedges_g(expression.to_numpy(), (samples["condition"] == "control").to_numpy())
    np.testing.assert_allclose(g, -a["hedges_g"], rtol=1e-12)


@FAST
@given(p=st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=200))
def test_bh_adjusted_p_monotone_bounded(p):
    p = np.asarray(p, dtype=float)
    adj = p_adjust_bh(p)
    ok = ~np.isnan(p)
    assert np.array_equal(np.isnan(adj), ~ok)
    pv, av = p[ok], adj[ok]
    order = np.argsort(pv, kind="stable")
    assert np.all(np.diff(av[order]) >= 0)  # monotone in p
    assert np.all(av >= pv) and np.all(av <= 1)
    if pv.size:  # the largest p is never adjusted upwards
        assert av[order][-1] == pv[order][-1]


@FAST
@given(
    seed=seeds,
    n_genes=st.integers(2, 50),
    n_samples=st.integers(2, 10),
    parametric=st.booleans(),
    mean_only=st.booleans(),
)
def test_combat_single_batch_is_identity(seed, n_genes, n_samples, parametric, mean_only):
    data = np.random.default_rng(seed).normal(6, 2, size=(n_genes, n_samples))
    out = combat(data, ["b1"] * n_samples, parametric=parametric, mean_only=mean_only)
    np.testing.assert_array_equal(out, data)
    assert out is not data


@FAST
@given(
    seed=seeds,
    n_probes=st.integers(1, 80),
    n_genes=st.integers(1, 15),
    method=st.sampled_from(["maxmean", "maxvar", "mean", "median"]),
)
def test_probe_collapsing_invariant_to_row_order(seed, n_probes, n_genes, method):
    rng = np.random.default_rng(seed)
    values = rng.normal(8, 2, size=(n_probes, 5))
    probes = [f"p{i}" for i in range(n_probes)]
    expression = pd.DataFrame(
        values, index=pd.Index(probes, name="feature_id"), columns=[f"S{i}" for i in range(5)]
    )
    symbols = pd.Series(
        rng.choice([f"GENE{j}" for j in range(n_genes)] + ["", "A /// B"], size=n_probes),
        index=probes,
    )
    if not symbols.isin([f"GENE{j}" for j in range(n_genes)]).any():
        symbols.iloc[0] = "GENE0"
    a, report_a = collapse_probes(expression, symbols, method)
    perm = rng.permutation(n_probes)
    b, report_b = collapse_probes(
        expression.iloc[perm], symbols.iloc[rng.permutation(n_probes)], method
    )
    pd.testing.assert_frame_equal(a, b, rtol=1e-12, atol=0)
    assert report_a == report_b


cell_text = st.text(
    alphabet=string.ascii_letters + string.digits + " -_.,;/()+", min_size=1, max_size=20
).filter(lambda s: s == s.strip() and s not in geo.NA_VALUES)  # NA tokens read as missing
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@FAST
@given(data=st.data(), n_probes=st.integers(1, 15), n_samples=st.integers(1, 8))
def test_series_matrix_round_trip(tmp_path_factory, data, n_probes, n_samples):
    values = np.array(
        data.draw(
            st.lists(
                st.lists(
                    st.one_of(finite, st.just(float("nan"))), min_size=n_samples, max_size=n_samples
                ),
                min_size=n_probes,
                max_size=n_probes,
            )
        ),
        dtype=float,
    )
    if np.isnan(values).all():
        values[0, 0] = 1.0
    sample_ids = [
        f"GSM{i}"
        for i in data.draw(
            st.lists(st.integers(1, 10**7), unique=True, min_size=n_samples, max_size=n_samples)
        )
    ]
    probe_ids = data.draw(
        st.lists(
            st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True),
            unique=True,
            min_size=n_probes,
            max_size=n_probes,
        )
    )
    disease = data.draw(st.lists(cell_text, min_size=n_samples, max_size=n_samples))
    expression = pd.DataFrame(values, index=probe_ids, columns=sample_ids)
    text = series_matrix_text(
        expression, {"disease state": disease, "age": disease[::-1]}, float_format="%r"
    )
    gz = data.draw(st.booleans())
    path = write_text(
        tmp_path_factory.mktemp("sm") / ("GSE1_series_matrix.txt" + ".gz" * gz), text, gz=gz
    )
    series = geo.read_series_matrix(path)
    assert list(series.expression.index) == probe_ids
    assert list(series.expression.columns) == sample_ids
    np.testing.assert_array_equal(series.expression.to_numpy(), values)  # exact, NaN in place
    assert list(series.samples["disease_state"]) == disease
    assert list(series.samples["age"]) == disease[::-1]
    assert series.characteristic_keys["disease_state"] == "disease state"
    header = geo.read_series_matrix_header(path)
    pd.testing.assert_frame_equal(header, series.samples)


@FAST
@given(data=st.data(), n_genes=st.integers(1, 20), n_samples=st.integers(1, 6))
def test_count_matrix_round_trip(tmp_path_factory, data, n_genes, n_samples):
    values = np.array(
        data.draw(
            st.lists(
                st.integers(0, 2**40), min_size=n_genes * n_samples, max_size=n_genes * n_samples
            )
        ),
        dtype=np.int64,
    ).reshape(n_genes, n_samples)
    genes = [f"ENSG{i:011d}" for i in range(n_genes)]
    samples = [f"sample_{i}" for i in range(n_samples)]
    frame = pd.DataFrame(values, index=pd.Index(genes, name="gene_id"), columns=samples)
    path = tmp_path_factory.mktemp("cm") / "counts.tsv.gz"
    frame.to_csv(path, sep="\t")
    read = read_feature_matrix(path, integer=True)
    got, annotation = read.matrix, read.annotation
    np.testing.assert_array_equal(got.to_numpy(), values)
    assert list(got.index) == genes and list(got.columns) == samples
    assert annotation.shape[1] == 0


@FAST
@given(seed=seeds, n_genes=st.integers(1, 30), n_case=group, n_control=group)
def test_hedges_g_invariant_to_shift_and_scale(seed, n_genes, n_case, n_control):
    expression, samples = de_data(seed, n_genes, n_case, n_control)
    is_case = (samples["condition"] == "case").to_numpy()
    g, se = hedges_g(expression.to_numpy(), is_case)
    g2, se2 = hedges_g(3.0 * expression.to_numpy() - 11.0, is_case)
    np.testing.assert_allclose(g2, g, rtol=1e-9)
    np.testing.assert_allclose(se2, se, rtol=1e-9)
