"""stages/performance on synthetic cohorts: the tables, reference signatures side by side, figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from markerflow.plots.figure import save_figure
from markerflow.plots.performance import summary_roc_figure, validation_figure
from markerflow.stages.cohorts import Cohort
from markerflow.stages.performance import CLINICAL_COLUMNS, evaluate


def _cohort(rng, n_case, n_control, shift):
    genes = ["UP1", "UP2", "DN1", "REF1", "N1", "N2"]
    y = np.repeat([True, False], [n_case, n_control])
    x = rng.normal(8, 1, (len(genes), y.size))
    x[0] += shift * y
    x[1] += shift * y
    x[2] -= shift * y
    x[3] += 0.5 * shift * y
    return Cohort(pd.DataFrame(x, index=genes), y)


@pytest.mark.parametrize("method", ["forward_search", "logistic"])
def test_evaluate_tables_and_figures(tmp_path, method):
    rng = np.random.default_rng(11)
    disc = {"D1": _cohort(rng, 20, 20, 1.5), "D2": _cohort(rng, 15, 25, 1.5)}
    val = {"V1": _cohort(rng, 6, 6, 3.0), "V2": _cohort(rng, 30, 30, 1.0)}
    sig = pd.DataFrame({"gene": ["UP1", "UP2", "DN1"], "direction": ["up", "up", "down"],
                        "weight": [1.0, 1.0, -1.0]})  # fmt: skip
    refs = [{"name": "Ref", "up": ["REF1"], "down": []},
            {"name": "Absent", "up": ["XX"], "down": []}]  # fmt: skip
    res = evaluate(sig, method, disc, val, references=refs)
    c = res.clinical.set_index("cohort")
    assert list(res.clinical.columns) == list(CLINICAL_COLUMNS)
    assert c.loc["V1", "ci_method"].startswith("Newcombe")  # 6 per class
    assert c.loc["V2", "ci_method"] == "DeLong" or c.loc["V2", "auc"] in (0, 1)
    assert (c["ci_low"] < c["ci_high"]).all()  # never [1, 1]
    assert np.isfinite(res.threshold) and (c["threshold"] == res.threshold).all()
    assert (
        (c["sensitivity_low"] <= c["sensitivity"]) & (c["sensitivity"] <= c["sensitivity_high"])
    ).all()
    if method == "logistic":
        assert np.isfinite(c.loc["V2", "calibration_slope"])
        assert c.loc["V2", "calibration_slope"] > 0
    else:
        assert c["calibration_slope"].isna().all()
    assert len(res.predictive) == 2 * 5
    r = res.references.set_index(["cohort", "signature"])
    assert r.loc[("V2", "discovered"), "auc"] > r.loc[("V2", "Ref"), "auc"]
    assert 0 <= r.loc[("V2", "Ref"), "delong_p"] <= 1
    assert (
        np.isnan(r.loc[("V2", "Absent"), "auc"])
        and r.loc[("V2", "Absent"), "missing_genes"] == "XX"
    )
    assert res.summary_roc["tpr_mean"].is_monotonic_increasing
    for name in val:
        fig = validation_figure(name, res.curves[name], res.references[res.references["cohort"] == name],
                                c.loc[name].rename(None).to_dict() | {"cohort": name},
                                res.predictive[res.predictive["cohort"] == name],
                                res.calibration.get(name))  # fmt: skip
        save_figure(fig, tmp_path / f"{name}.png")
    save_figure(summary_roc_figure(res.summary_roc, res.clinical), tmp_path / "summary.png")
    assert all((tmp_path / f).stat().st_size > 5000 for f in ("V1.png", "V2.png", "summary.png"))


def _page(tmp_path, cohorts, files):
    from markerflow.report.summary import summary_page

    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    config = {"study": {"name": "demo", "case_label": "case", "control_label": "control"},
              "seed": 3, "signature": {"method": "forward_search", "max_genes": 5}}  # fmt: skip
    return summary_page([str(tmp_path / rel) for rel in files], tmp_path, config, cohorts)


def test_report_in_sample_only_never_says_validation(tmp_path):
    files = {
        "ingest/A/samples.tsv": "sample\tcondition\ns1\tcase\ns2\tcontrol\ns3\tcase\n",
        "case_vs_control/guards/warnings.tsv": "kind\tmessage\nwarning\tin-sample only: one discovery cohort "
        "and no validation cohort; every performance figure is in-sample\n",
        "case_vs_control/signature/performance.tsv": "cohort\trole\tauc\nA\tdiscovery\t1.0\n",
    }
    text = _page(tmp_path, [{"cohort": "A", "role": "discovery"}], files)
    body = text.split("<body>", 1)[1].replace("no validation cohort", "")
    assert "validation" not in body.lower()
    assert "in-sample only" in text
    assert "Checklist for the paper (TRIPOD+AI)" in text
    assert "2 case, 1 control" in text and "not known to the workflow" in text


def test_report_shows_external_performance_and_checklist(tmp_path):
    files = {
        "case_vs_control/guards/warnings.tsv": "kind\tmessage\n",
        "case_vs_control/performance/clinical.tsv": "\t".join(CLINICAL_COLUMNS)
        + "\n"
        + "V\t6\t6\t1.0\t0.64\t1.0\tNewcombe (2006) method 5\t0.1\t1\t0.6\t1\t0.8\t0.5\t0.9"
        + "\t\t\t\t\t\t\t3\tlocked\n",
        "case_vs_control/performance/reference_signatures.tsv": "cohort\tsignature\tauc\tdelong_p\nV\tRef\t0.8\t0.2\n",
    }
    cohorts = [{"cohort": "A", "role": "discovery"}, {"cohort": "V", "role": "validation"}]
    text = _page(tmp_path, cohorts, files)
    assert "External validation: clinical performance" in text
    assert "V: AUC 1.000 [0.640, 1.000] (Newcombe (2006) method 5)" in text
    assert "paired DeLong" in text and "No warning" in text
