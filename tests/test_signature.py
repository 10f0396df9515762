"""DeLong CI against pROC, the MetaIntegrator score by hand, forward search by brute force, plots.

pROC values: tests/fixtures/signature/delong_proc.R (pROC 1.18.0, R 4.2.2), written out below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from markerflow.engines.roc import auc_rows, delong_auc, roc_curve
from markerflow.plots.figure import save_figure
from markerflow.plots.meta import forest_plot
from markerflow.plots.signature import roc_plot, signature_heatmap
from markerflow.stages.cohorts import Cohort
from markerflow.stages.meta import meta_analysis
from markerflow.stages.signature import forward_search, heatmap_matrix, metaintegrator_score

FIX = Path(__file__).parent / "fixtures" / "signature"


def test_delong_matches_proc_with_ties():
    controls = [0.1, 0.4, 0.35, 0.8, 0.2, 0.5, 0.5, 0.05, 0.3]
    cases = [0.9, 0.5, 0.7, 0.65, 0.35, 0.95, 0.6]
    res = delong_auc(np.array(controls + cases), np.repeat([False, True], [9, 7]))
    # pROC: auc, var(method="delong"), ci.auc(method="delong") (upper end clipped to 1)
    assert res.auc == pytest.approx(0.84920634920634919, abs=1e-12)
    assert res.var == pytest.approx(0.010093852355757119, abs=1e-12)
    assert res.ci_low == pytest.approx(0.65229236248420874, abs=1e-12)
    assert res.ci_high == 1.0


def test_delong_matches_proc_normal():
    data = pd.read_csv(FIX / "delong_normal.tsv", sep="\t")
    res = delong_auc(data["x"].to_numpy(), data["y"].to_numpy() == 1)
    assert res.auc == pytest.approx(0.80300000000000005, abs=1e-12)
    assert res.var == pytest.approx(0.0031477115384615385, abs=1e-12)
    assert res.ci_low == pytest.approx(0.69303725969937013, abs=1e-10)
    assert res.ci_high == pytest.approx(0.91296274030062974, abs=1e-10)


def test_auc_rows_matches_sklearn():
    rng = np.random.default_rng(0)
    y = rng.random(37) < 0.4
    s = np.round(rng.normal(size=(5, 37)), 1)  # ties
    np.testing.assert_allclose(auc_rows(s, y), [roc_auc_score(y, r) for r in s], rtol=1e-12)


def test_metaintegrator_score_by_hand():
    expr = pd.DataFrame(
        [
            [2.0, 4.0, 8.0, 1.0],
            [1.0, np.nan, 4.0, 2.0],
            [3.0, 3.0, 1.0, 5.0],
            [-1.0, 0.0, 2.0, 2.0],
        ],
        index=pd.Index(["A", "B", "C", "D"], name="gene"),
    )
    score, missing = metaintegrator_score(expr, ["A", "B", "X"], ["C"])
    shifted = expr.to_numpy() + 2.0  # min is -1 -> shift by |min| + 1
    shifted[1, 1] = 1.0  # NaN -> 1
    pos = np.sqrt(shifted[0] * shifted[1])
    raw = pos - shifted[2]
    expected = (raw - raw.mean()) / raw.std(ddof=1)
    np.testing.assert_allclose(score, expected, rtol=1e-12)
    assert missing == ["X"]
    # positive data are used as is: geometric mean of the (log2) values themselves
    pos_only = expr.drop(index="D").fillna(1.0)
    s2, _ = metaintegrator_score(pos_only, ["A"], [])
    a = pos_only.loc["A"].to_numpy()
    np.testing.assert_allclose(s2, (a - a.mean()) / a.std(ddof=1), rtol=1e-12)


def _toy(seed=0):
    rng = np.random.default_rng(seed)
    cohorts = {}
    for k, n in enumerate((20, 26)):
        y = np.arange(n) % 2 == 0
        x = rng.normal(8, 1, (8, n))
        x[0] += 1.5 * y
        x[1] += 0.8 * y
        x[2] -= 1.0 * y
        x[3] -= 0.4 * y
        cohorts[f"c{k}"] = Cohort(pd.DataFrame(x, index=[f"g{i}" for i in range(8)]), y)
    return cohorts


def _weighted_auc(cohorts, up, down):
    tot, w = 0.0, 0
    for c in cohorts.values():
        s, _ = metaintegrator_score(c.expression, up, down)
        tot += len(c.is_case) * roc_auc_score(c.is_case, s)
        w += len(c.is_case)
    return tot / w


def test_forward_search_matches_brute_force():
    cohorts = _toy()
    up, down = ["g0", "g1", "g4"], ["g2", "g3", "g5"]
    sig = forward_search(cohorts, up, down, max_genes=4, threshold=-1.0)
    chosen_up, chosen_down = [], []
    for row in sig.itertuples():
        best, best_gene = -1.0, None
        for g in up + down:
            if g in chosen_up + chosen_down:
                continue
            u = chosen_up + [g] * (g in up)
            d = chosen_down + [g] * (g in down)
            val = _weighted_auc(cohorts, u, d)
            if val > best + 1e-12:
                best, best_gene = val, g
        assert row.gene == best_gene
        assert row.discovery_auc == pytest.approx(best, abs=1e-12)
        (chosen_up if best_gene in up else chosen_down).append(best_gene)
    assert len(sig) == 4
    stop = forward_search(cohorts, up, down, max_genes=6, threshold=0.0)
    assert np.all(np.diff(stop["discovery_auc"]) > 0)


def test_plots(tmp_path):
    cohorts = _toy()
    sig = forward_search(cohorts, ["g0", "g1"], ["g2", "g3"], max_genes=3)
    curves, rows = {}, []
    for name, c in cohorts.items():
        s, _ = metaintegrator_score(c.expression, ["g0"], ["g2"])
        r = delong_auc(s, c.is_case)
        curves[name] = (s, c.is_case)
        rows.append({"cohort": name, "role": "discovery", "auc": r.auc, "ci_low": r.ci_low,
                     "ci_high": r.ci_high})  # fmt: skip
    save_figure(roc_plot(curves, pd.DataFrame(rows)), tmp_path / "roc.png")
    heat = heatmap_matrix(cohorts, sig)
    assert heat.values.shape == (len(sig), sum(c.expression.shape[1] for c in cohorts.values()))
    assert sum(n for _, n in heat.groups) == heat.values.shape[1]
    save_figure(signature_heatmap(heat), tmp_path / "heat.png")
    de = {}
    for name, c in cohorts.items():
        from markerflow.model.effectsize import hedges_g

        g, se = hedges_g(c.expression.to_numpy(), c.is_case)
        de[name] = pd.DataFrame({"gene": c.expression.index, "log2fc": g, "pvalue": 0.5,
                                 "hedges_g": g, "hedges_g_se": se})  # fmt: skip
    save_figure(forest_plot(meta_analysis(de), top=5), tmp_path / "forest.png")
    for f in ("roc.png", "heat.png", "forest.png"):
        assert (tmp_path / f).stat().st_size > 5000


def test_roc_curve_steps_and_auc():
    scores = np.array([0.9, 0.8, 0.8, 0.3, 0.1])
    is_case = np.array([True, False, True, True, False])
    fpr, tpr = roc_curve(scores, is_case)
    np.testing.assert_array_equal(fpr, [0, 0, 0.5, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 1 / 3, 2 / 3, 1, 1])
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_stage_modules_do_not_import_matplotlib():
    """A stage job that draws nothing must not pay for loading matplotlib."""
    import os
    import subprocess
    import sys

    stages = ["qc", "de", "merge", "meta", "enrichment", "candidates", "signature", "cohorts"]
    code = "import sys\n" + "".join(f"import markerflow.stages.{s}\n" for s in stages)
    code += "print(any(m.split('.')[0] == 'matplotlib' for m in sys.modules))"
    import markerflow

    src = str(Path(markerflow.__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": src})  # fmt: skip
    assert out.stdout.strip() == "False"
