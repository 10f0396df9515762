import numpy as np
import pandas as pd
import pytest

from markerflow.errors import InputError
from markerflow.stages.probes import collapse_probes


@pytest.fixture
def toy():
    expression = pd.DataFrame(
        {
            "s1": [1.0, 5.0, 3.0, 9.0, 2.0, 4.0],
            "s2": [2.0, 6.0, 1.0, 9.0, 2.0, 8.0],
            "s3": [3.0, 4.0, 8.0, 9.0, 2.0, 0.0],
        },
        index=pd.Index(["p1", "p2", "p3", "p4", "p5", "p6"], name="feature_id"),
    )
    annotation = pd.Series(
        {"p1": "A", "p2": "A", "p3": "A", "p4": "B /// C", "p5": "---", "p6": "D"}
    )
    return expression, annotation


def test_maxmean_picks_highest_mean_probe(toy):
    expression, annotation = toy
    genes, report = collapse_probes(expression, annotation, "maxmean")
    # A: means p1=2, p2=5, p3=4 -> p2
    assert genes.loc["A"].tolist() == [5.0, 6.0, 4.0]
    assert list(genes.index) == ["A", "D"]
    assert report.probes_multimapping == 1 and report.probes_unannotated == 1
    assert report.genes_from_several_probes == 1


def test_maxvar_mean_median(toy):
    expression, annotation = toy
    maxvar, _ = collapse_probes(expression, annotation, "maxvar")
    assert maxvar.loc["A"].tolist() == [3.0, 1.0, 8.0]  # p3 has the largest variance
    mean, _ = collapse_probes(expression, annotation, "mean")
    assert mean.loc["A"].tolist() == pytest.approx([3.0, 3.0, 5.0])
    median, _ = collapse_probes(expression, annotation, "median")
    assert median.loc["A"].tolist() == [3.0, 2.0, 4.0]


def test_multimapping_kept_when_asked(toy):
    expression, annotation = toy
    genes, _ = collapse_probes(expression, annotation, drop_multimapping=False)
    assert "B" in genes.index and "C" not in genes.index


def test_no_symbol_is_clear_error(toy):
    expression, _ = toy
    with pytest.raises(InputError, match="no probe has a gene symbol"):
        collapse_probes(expression, pd.Series({"x": "A"}))


def test_rows_already_symbols_are_collapsed():
    expression = pd.DataFrame(
        {"a": [1.0, 3.0, 2.0]}, index=pd.Index(["G", "G", "H"], name="feature_id")
    )
    genes, report = collapse_probes(expression, None)
    assert genes.loc["G", "a"] == 3.0 and report.genes_out == 2
    assert np.isfinite(genes.to_numpy()).all()
