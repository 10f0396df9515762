"""Figures a reviewer accepts (issue 18, item 4): one palette per kind, outliers marked and named,
labels that do not overlap, dot plots of significant terms only, numbers on the forest plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.text import Text
from PIL import Image

from markerflow.plots.de import volcano
from markerflow.plots.enrichment import ora_dotplot
from markerflow.plots.figure import (
    CASE_COLOUR,
    CONTROL_COLOUR,
    batch_colours,
    condition_colours,
    count_noun,
    place_labels,
    plt,
    save_figure,
)
from markerflow.plots.meta import forest_plot
from markerflow.plots.qc import pca_scatter
from markerflow.plots.signature import signature_title


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def test_palettes_are_one_per_kind():
    assert condition_colours(["asthma", "control"]) == {
        "asthma": CASE_COLOUR,
        "control": CONTROL_COLOUR,
    }
    # the same levels get the same colours whatever the order; case/control named explicitly
    assert condition_colours(["control", "asthma"]) == condition_colours(["asthma", "control"])
    three = condition_colours(["healthy", "mild", "severe"])
    assert three["healthy"] == CONTROL_COLOUR and len(set(three.values())) == 3
    assert condition_colours(["a", "b"], case="b", control="a") == {
        "a": CONTROL_COLOUR,
        "b": CASE_COLOUR,
    }
    cohorts = batch_colours(["GSE1", "GSE2", "GSE3"])
    assert len(set(cohorts.values())) == 3
    # a cohort keeps its colour whichever other cohorts a figure shows
    assert batch_colours(["GSE2"])["GSE2"] == cohorts["GSE2"]
    assert batch_colours(["GSE3", "GSE2"]) == {"GSE3": cohorts["GSE3"], "GSE2": cohorts["GSE2"]}
    assert not set(cohorts.values()) & {CASE_COLOUR, CONTROL_COLOUR}
    assert count_noun(1, "gene") == "1 gene" and count_noun(3, "gene") == "3 genes"
    assert signature_title(1, "forward_search") == "Frozen signature (1 gene, forward_search)"


def _boxes(fig, ax) -> list:
    """The text boxes of the axes' labels (without their leader lines)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [Text.get_window_extent(t, renderer) for t in ax.texts]


def test_labels_do_not_overlap():
    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.linspace(0, 0.05, 12)  # twelve points almost on top of each other
    y = np.linspace(10, 10.2, 12)
    ax.scatter(np.r_[x, -3, 3], np.r_[y, 0, 12])
    place_labels(ax, x, y, [f"GENE{i}" for i in range(12)])
    boxes = _boxes(fig, ax)
    assert len(boxes) >= 8
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    plt.close(fig)


def test_volcano_labels_do_not_overlap():
    rng = np.random.default_rng(3)
    n = 500
    lfc = rng.normal(0, 0.3, n)
    p = 10 ** -np.abs(rng.normal(0, 1.5, n))
    p[:12] = 1e-8 * (1 + np.arange(12) * 1e-3)  # a tight cluster of the top genes
    lfc[:12] = 1.0 + np.arange(12) * 1e-3
    de = pd.DataFrame({"gene": [f"G{i}" for i in range(n)], "log2fc": lfc, "pvalue": p,
                       "padj": np.minimum(p * n, 1)})  # fmt: skip
    fig = volcano(de, "C")
    boxes = _boxes(fig, fig.axes[0])
    assert len(boxes) >= 8
    assert all(not a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    plt.close(fig)


def test_qc_outliers_are_ringed_and_named():
    samples = pd.DataFrame({"sample": ["s1", "s2", "s3", "odd"], "condition": ["case", "case",
                            "control", "control"], "batch": "1",
                            "outlier": [False, False, False, True]})  # fmt: skip
    scores = np.array([[0.0, 0.0], [1.0, 0.5], [0.5, 1.0], [9.0, 9.0]])
    fig = pca_scatter(scores, np.array([0.6, 0.3]), samples, "C: PCA")
    ax = fig.axes[0]
    assert "odd" in _texts(fig)
    assert "1 outlier flagged" in ax.get_title()
    assert any("outlier (1)" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)


def test_ora_dotplot_draws_significant_terms_only():
    ora = pd.DataFrame({
        "term_name": ["strong", "weak", "null"], "direction": ["up", "up", "down"],
        "overlap": [8, 3, 2], "fold_enrichment": [5.0, 2.0, 1.1],
        "pvalue": [1e-6, 0.2, 0.9], "padj": [1e-4, 0.6, 1.0],
    })  # fmt: skip
    fig = ora_dotplot(ora, "lib - C")
    up, down = fig.axes[0], fig.axes[1]
    assert [t.get_text() for t in up.get_yticklabels()] == ["strong"]
    assert "no term with FDR < 0.05 (1 tested)" in [t.get_text() for t in down.texts]
    legends = [lg for lg in fig.legends if lg.get_title().get_text() == "overlap (genes)"]
    assert legends and len(legends[0].get_texts()) >= 2  # the size legend
    plt.close(fig)


def test_forest_plot_writes_the_pooled_effect_and_interval():
    meta = pd.DataFrame({"gene": ["A"], "pooled_effect": [1.0], "pooled_se": [0.1],
                         "g_X": [1.1], "se_X": [0.2], "g_Y": [0.9], "se_Y": [0.2]})  # fmt: skip
    fig = forest_plot(meta, 5, "Top 1 gene")
    assert "1.00 [0.80, 1.20]" in _texts(fig)
    plt.close(fig)


def test_saved_figures_are_palette_pngs(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    save_figure(fig, tmp_path / "f.png")
    with Image.open(tmp_path / "f.png") as image:
        assert image.mode == "P" and not image.info.get("Software")
