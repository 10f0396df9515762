"""Native result tables (issue 18 item 1, issue 17 item 7): feature IDs, p-value order, limma /
DESeq2 / clusterProfiler columns, Storey's q-value as clusterProfiler calls it, the workbook."""

from __future__ import annotations

import hashlib
import math
import zipfile
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest

from markerflow.contracts import DESEQ2_COLUMNS, LIMMA_COLUMNS, native_kind
from markerflow.errors import AnalysisError, InputError
from markerflow.io.tables import read_de_table, write_tsv
from markerflow.io.xlsx import _cells, _text, column_letter, sheet_name, write_xlsx
from markerflow.rcompat.qvalue import clusterprofiler_qvalue, pi0_single_lambda, qvalue
from markerflow.stages.de import with_feature_ids
from markerflow.stages.enrichment import CLUSTERPROFILER_COLUMNS, ora_clusterprofiler, ora_up_down
from markerflow.stages.genes import collapse_probes_with_ids, count_feature_ids
from markerflow.stages.tables import native_de_table, sort_by_pvalue, workbook_sheets

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _de(method: str = "limma") -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "gene": ["A", "B", "C", "D", "E"],
            "log2fc": [0.5, -1.0, 2.0, 0.1, np.nan],
            "ave_expr": [5.0, 6.0, 7.0, 8.0, 9.0],
            "stat": [1.0, -3.0, 3.0, 0.2, np.nan],
            "pvalue": [0.3, 0.01, 0.01, 0.9, np.nan],
            "padj": [0.5, 0.03, 0.03, 0.9, np.nan],
            "se": [0.5, 0.33, 0.66, 0.5, np.nan],
            "B": [-4.0, 1.0, 1.1, -6.0, np.nan],
            "baseMean": [10.0, 20.0, 30.0, 40.0, 0.0],
            "method": method,
        }
    )
    features = pd.DataFrame({"gene": list("EDCBA"), "feature_id": ["p5", "p4", "p3", "p2", "p1"]})
    return with_feature_ids(table, features, "C1")


def test_sort_by_pvalue_ties_by_gene_missing_last():
    table = _de().iloc[::-1]
    out = sort_by_pvalue(table)
    assert out["gene"].tolist() == ["B", "C", "A", "D", "E"]
    assert out.index.tolist() == list(range(5))


def test_feature_ids_follow_genes_and_missing_gene_is_an_error():
    table = _de()
    assert table["feature_id"].tolist() == ["p1", "p2", "p3", "p4", "p5"]
    with pytest.raises(AnalysisError, match="no row in the genes stage"):
        with_feature_ids(
            table.assign(gene=["A", "B", "C", "D", "Z"]), table[["gene", "feature_id"]]
        )


def test_native_tables_have_r_columns_in_r_order_and_the_same_numbers():
    de = _de()
    limma_table = native_de_table(de, "limma")
    assert list(limma_table.columns) == ["ID", "Symbol", "logFC", "AveExpr", "t", "P.Value",
                                         "adj.P.Val", "B"]  # fmt: skip
    assert limma_table["Symbol"].tolist() == ["B", "C", "A", "D", "E"]
    assert limma_table["ID"].tolist() == ["p2", "p3", "p1", "p4", "p5"]
    by_gene = de.set_index("gene")
    for name, source in LIMMA_COLUMNS.items():
        np.testing.assert_array_equal(
            limma_table[name].to_numpy(), by_gene.loc[limma_table["Symbol"], source].to_numpy()
        )
    deseq = native_de_table(de, "deseq2")
    assert list(deseq.columns) == ["ID", "Symbol", "baseMean", "log2FoldChange", "lfcSE", "stat",
                                   "pvalue", "padj"]  # fmt: skip
    for name, source in DESEQ2_COLUMNS.items():
        np.testing.assert_array_equal(
            deseq[name].to_numpy(), by_gene.loc[deseq["Symbol"], source].to_numpy()
        )
    with pytest.raises(InputError, match="lacks column"):
        native_de_table(de.drop(columns="B"), "limma")
    assert native_kind("array", "deseq2") == "limma"
    assert native_kind("counts", "voom") == "limma"
    assert native_kind("counts", "deseq2") == "deseq2"


def test_read_de_table_restores_gene_order(tmp_path):
    de = _de()
    write_tsv(sort_by_pvalue(de), tmp_path / "de.tsv")
    back = read_de_table(tmp_path / "de.tsv")
    pd.testing.assert_frame_equal(back, de, check_dtype=False)


def test_collapse_keeps_the_winning_probe_or_every_probe():
    values = pd.DataFrame(
        {"s1": [1.0, 5.0, 3.0, 2.0], "s2": [1.0, 5.0, 3.0, 2.0]}, index=["p1", "p2", "p3", "p4"]
    )
    annotation = pd.Series({"p1": "A", "p2": "A", "p3": "B", "p4": "A"})
    _, _, ids = collapse_probes_with_ids(values, annotation, "maxmean")
    assert ids.to_dict() == {"A": "p2", "B": "p3"}
    _, _, ids = collapse_probes_with_ids(values, annotation, "mean")
    assert ids.to_dict() == {"A": "p1;p2;p4", "B": "p3"}


def test_count_ids_summed_into_one_symbol_are_all_kept():
    table = pd.DataFrame(
        {
            "entrez": ["1", "2", "3"],
            "symbol": ["X", "X", "Y"],
            "ensembl": ["ENSG00000000001", "ENSG00000000002", "ENSG00000000003"],
            "gene_type": ["protein-coding"] * 3,
        }
    )
    counts = pd.DataFrame(
        {"s": [1, 2, 3, 4]},
        index=["ENSG00000000002.1", "ENSG00000000001", "ENSG00000000003", "ENSG00000000009"],
    )
    ids = count_feature_ids(counts.index, table)
    assert ids.to_dict() == {"X": "ENSG00000000002.1;ENSG00000000001", "Y": "ENSG00000000003"}


def test_qvalue_as_clusterprofiler_calls_it():
    p = np.array([0.01, 0.02, 0.5, 0.9, np.nan, 0.04, 0.3])
    # pi0 = mean(p >= 0.05) / (1 - 0.05) over the 6 p-values
    pi0 = (3 / 6) / 0.95
    assert pi0_single_lambda(p) == pytest.approx(pi0, rel=1e-15)
    finite = p[~np.isnan(p)]
    order = np.argsort(-finite)
    ranks = np.arange(6, 0, -1)
    expected = np.empty(6)
    expected[order] = pi0 * np.minimum(1, np.minimum.accumulate(finite[order] * 6 / ranks))
    q = qvalue(p)
    assert np.isnan(q[4])
    np.testing.assert_allclose(q[~np.isnan(p)], expected, rtol=1e-15)
    # hand values: the largest p gives pi0 * 0.9, the two smallest share 0.02 * 6 / 5
    assert q[3] == pytest.approx(pi0 * 0.9)
    # p * m / i in decreasing p order: 0.9, 0.6, 0.45, 0.08, 0.06, 0.06 (already non-increasing)
    assert q[0] == q[1] == pytest.approx(pi0 * 0.06)
    assert q[5] == pytest.approx(pi0 * 0.08)
    # where qvalue stops, clusterProfiler writes NA for every term
    assert np.isnan(clusterprofiler_qvalue(np.array([0.01, 0.02]))).all()  # pi0 = 0
    assert np.isnan(clusterprofiler_qvalue(np.array([0.5]))).all()  # one p-value
    assert pi0_single_lambda(np.array([0.5, 1.0, 1.0])) == 1.0  # capped


def test_ora_clusterprofiler_columns_and_ratios():
    genes = [f"G{i}" for i in range(40)]
    de = pd.DataFrame(
        {
            "gene": genes,
            "log2fc": [1.0] * 10 + [-1.0] * 5 + [0.1] * 25,
            "padj": [0.001] * 15 + [0.9] * 25,
        }
    )
    from markerflow.io.gmt import GeneSet

    sets = {
        "S1": GeneSet("S1", "set one", "set one", tuple(genes[:12])),
        "S2": GeneSet("S2", "set two", "set two", tuple(genes[10:30])),
        "S3": GeneSet("S3", "set three", "set three", tuple(genes[20:40])),
    }
    ora = ora_up_down(de, sets, min_size=5)
    table = ora_clusterprofiler(ora)
    assert list(table.columns) == CLUSTERPROFILER_COLUMNS
    up = table[table["Cluster"] == "up"].set_index("ID")
    assert up.loc["S1", "GeneRatio"] == "10/10"
    assert up.loc["S1", "BgRatio"] == "12/40"
    assert up.loc["S1", "Count"] == 10
    assert up.loc["S1", "geneID"] == "/".join(sorted(genes[:10]))
    np.testing.assert_array_equal(table["p.adjust"].to_numpy(), ora["padj"].to_numpy())
    np.testing.assert_array_equal(table["pvalue"].to_numpy(), ora["pvalue"].to_numpy())
    down = table[table["Cluster"] == "down"].set_index("ID")
    assert down.loc["S2", "GeneRatio"] == "5/5"
    for _, part in table.groupby("Cluster"):
        np.testing.assert_array_equal(
            part["qvalue"].to_numpy(), clusterprofiler_qvalue(part["pvalue"].to_numpy())
        )


def _sheet_rows(data: bytes) -> list[list[str | None]]:
    root = ElementTree.fromstring(data)
    rows = []
    for row in root.iterfind(".//m:sheetData/m:row", NS):
        cells: list[str | None] = []
        for c in row.iterfind("m:c", NS):
            v = c.find("m:v", NS)
            t = c.find("m:is/m:t", NS)
            cells.append(v.text if v is not None else (t.text if t is not None else None))
        rows.append(cells)
    return rows


def test_workbook_is_deterministic_frozen_and_exact(tmp_path):
    root = tmp_path / "results"
    de = sort_by_pvalue(_de())
    write_tsv(native_de_table(de, "limma"), root / "cmp" / "de" / "C1" / "de.limma.tsv")
    write_tsv(pd.DataFrame({"gene": ["A"], "fdr": [0.1 / 3]}), root / "cmp" / "meta" / "meta.tsv")
    files = [root / "cmp" / "de" / "C1" / "de.limma.tsv", root / "cmp" / "meta" / "meta.tsv"]
    sheets = workbook_sheets(files, root)
    assert [name for name, _ in sheets] == ["Contents", "01 C1 de.limma", "02 meta"]
    assert sheets[0][1]["file"].tolist() == ["cmp/de/C1/de.limma.tsv", "cmp/meta/meta.tsv"]
    write_xlsx(sheets, tmp_path / "a.xlsx")
    write_xlsx(sheets, tmp_path / "b.xlsx")
    digest = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("a.xlsx", "b.xlsx")]
    assert digest[0] == digest[1]
    with zipfile.ZipFile(tmp_path / "a.xlsx") as archive:
        assert archive.testzip() is None
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        sheet = archive.read("xl/worksheets/sheet2.xml")
        workbook = archive.read("xl/workbook.xml").decode()
    assert b'<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>' in sheet
    assert 'name="01 C1 de.limma"' in workbook
    rows = _sheet_rows(sheet)
    assert rows[0] == ["ID", "Symbol", "logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B"]
    assert float(rows[1][3]) == de["ave_expr"].iloc[0]  # floats round-trip exactly
    assert rows[-1][:2] == ["p5", "E"] and float(rows[-1][2]) == 9  # logFC NaN: no cell
    meta_rows = _sheet_rows(zipfile.ZipFile(tmp_path / "a.xlsx").read("xl/worksheets/sheet3.xml"))
    assert float(meta_rows[1][1]) == 0.1 / 3


def test_sheet_names_and_columns():
    assert sheet_name("a/b:c*d?e[f]g\\h" + "x" * 40) == ("a_b_c_d_e_f_g_h" + "x" * 40)[:31]
    assert [column_letter(j) for j in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]
    with pytest.raises(InputError, match="repeated"):
        write_xlsx([("x", pd.DataFrame()), ("X", pd.DataFrame())], "/nonexistent/never.xlsx")


def _cells_one_by_one(column: pd.Series, letter: str) -> list[str]:
    """The cell rules of markerflow.io.xlsx's docstring, one cell at a time (the writer before
    it formatted whole columns)."""
    out = []
    for r, v in enumerate(column.tolist(), start=2):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append("")
        elif isinstance(v, bool | np.bool_):
            out.append(f'<c r="{letter}{r}" t="b"><v>{int(v)}</v></c>')
        elif isinstance(v, int | np.integer):
            out.append(f'<c r="{letter}{r}"><v>{int(v)}</v></c>')
        elif isinstance(v, float | np.floating) and math.isfinite(v):
            out.append(f'<c r="{letter}{r}"><v>{float(v)!r}</v></c>')
        elif isinstance(v, float | np.floating):
            out.append(f'<c r="{letter}{r}" t="inlineStr">{_text("Inf" if v > 0 else "-Inf")}</c>')
        else:
            out.append(f'<c r="{letter}{r}" t="inlineStr">{_text(str(v))}</c>')
    return out


def test_workbook_cells_by_column_equal_the_cell_by_cell_rules():
    rng = np.random.default_rng(7)
    n = 500
    floats = rng.standard_normal(n) * 10.0 ** rng.integers(-320, 300, n)
    floats[rng.choice(n, 40, replace=False)] = np.nan
    floats[:6] = [np.inf, -np.inf, -0.0, 5e-324, 2.0**53, 0.1]
    genes = np.array([f"G{i % 37}" for i in range(n)], dtype=object)
    genes[:4] = [" padded", "a<b&c", "ctrl\x01char", "x" * 40_000]
    table = pd.DataFrame({
        "gene": genes,
        "value": floats,
        "single": floats.astype(np.float32),
        "count": rng.integers(-(2**62), 2**62, n),
        "flag": rng.random(n) < 0.5,
        "mixed": pd.Series([1, 2.5, "t", None, True, np.nan, np.float64(3.0), -np.inf] * 62
                           + [1, 2, "u", 4], dtype=object),
    })  # fmt: skip
    for j, name in enumerate(table.columns):
        letter = column_letter(j)
        assert _cells(table[name], letter) == _cells_one_by_one(table[name], letter), name
