import numpy as np
import pandas as pd
import pytest

from markerflow.errors import InputError
from markerflow.stages.genes import collapse_probes, filter_low_counts, map_to_symbols


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


# ---------------------------------------------------------------- count IDs, low-count filter


def test_map_to_symbols_versions_sum_and_unmapped():
    table = pd.DataFrame(
        {
            "entrez": [7157, 1, 2, 3],
            "symbol": ["TP53", "A1BG", "DUP", "DUP"],
            "ensembl": ["ENSG00000141510", "ENSG00000121410", "ENSG00000000001", "ENSG00000000002"],
            "genename": "",
            "gene_type": "protein-coding",
        }
    )
    counts = pd.DataFrame(
        {"s1": [1, 2, 3, 4, 5], "s2": [10, 20, 30, 40, 50]},
        index=[
            "ENSG00000141510.17",
            "ENSG00000121410",
            "ENSG00000000001.3",
            "ENSG00000000002.1",
            "ENSG99999999999.1",
        ],
    )
    out, rep = map_to_symbols(counts, table)
    assert rep["id_type"] == "ensembl" and rep["n_unmapped"] == 1 and rep["n_collapsed"] == 1
    assert rep["unmapped_examples"] == ["ENSG99999999999.1"]
    assert out.index.name == "gene"
    assert out.loc["DUP"].tolist() == [7, 70] and out.loc["TP53"].tolist() == [1, 10]
    sym, rep2 = map_to_symbols(out, table, id_type="symbol")
    assert rep2["n_known_symbols"] == 3 and sym.shape == out.shape
    with pytest.raises(InputError, match="none of the"):
        map_to_symbols(counts.iloc[[4]], table)


def test_map_with_shipped_table(project_dir):
    table = pd.read_csv(project_dir / "resources" / "annotation" / "hs_gene_ids.tsv.gz", sep="\t")
    counts = pd.DataFrame({"s1": [5, 6]}, index=["ENSG00000188976.11", "ENSG00000187961"])
    out, rep = map_to_symbols(counts, table)
    assert list(out.index) == ["KLHL17", "NOC2L"] and rep["n_unmapped"] == 0


def test_filter_low_counts_smallest_group():
    counts = pd.DataFrame(
        [[10, 10, 0, 0, 0], [10, 10, 10, 0, 0], [9, 50, 50, 50, 50]],
        index=["lo", "keep", "borderline"],
        columns=list("abcde"),
    )
    cond = pd.Series(["x", "x", "y", "y", "y"], index=list("abcde"))
    out, rep = filter_low_counts(counts, cond)
    assert rep["min_samples"] == 2 and list(out.index) == ["lo", "keep", "borderline"]
    out3, rep3 = filter_low_counts(counts, cond, min_samples=3)
    assert list(out3.index) == ["keep", "borderline"] and rep3["n_after"] == 2
