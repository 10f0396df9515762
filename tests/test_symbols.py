"""Symbol hygiene (issue 17, item 7): aliases -> current symbols as limma's alias2SymbolTable,
Excel-mangled names repaired or dropped, renamed genes merged across the real TB cohorts, and the
Ensembl -> symbol tie rule by numeric Entrez ID."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerflow.io.symbols import (
    DEFAULT_ALIAS_TABLE,
    excel_readings,
    harmonise_symbols,
    read_alias_table,
)
from markerflow.stages.genes import map_cohort_genes, map_to_symbols

FIXTURE = Path(__file__).parent / "fixtures" / "symbols" / "alias2SymbolTable_tb.tsv.gz"
TB_COHORTS = ("GSE101705", "GSE107991", "GSE107992", "GSE19435", "GSE19439", "GSE34608", "GSE42825")


@pytest.fixture(scope="module")
def aliases(project_dir):
    return read_alias_table(project_dir / DEFAULT_ALIAS_TABLE)


@pytest.fixture(scope="module")
def limma_reference() -> pd.DataFrame:
    return pd.read_csv(FIXTURE, sep="\t", dtype=str, keep_default_na=False)


def test_alias_table_records_its_source(aliases):
    assert aliases.source == "org.Hs.eg.db 3.16.0, NCBI Gene 2022-Sep12"


def test_equals_limma_alias2symboltable_on_every_tb_name(aliases, limma_reference):
    """All 49,930 row names of the seven TB cohorts (+ hand-picked cases): every name limma maps
    gets limma's symbol (4,214 renamed, ambiguous aliases included: first gene); every name limma
    does not know is kept unchanged unless it is an Excel-mangled name."""
    names = limma_reference["name"]
    ours, report = harmonise_symbols(names, aliases, min_known_share=0.0)
    mapped = limma_reference["limma_symbol"] != ""
    assert mapped.sum() > 26_000
    np.testing.assert_array_equal(ours[mapped].to_numpy(), limma_reference["limma_symbol"][mapped])
    unknown = ~mapped & (names.map(excel_readings).str.len() == 0)
    np.testing.assert_array_equal(ours[unknown].to_numpy(), names[unknown].to_numpy())
    assert report.symbols_renamed == int((mapped & (limma_reference.limma_symbol != names)).sum())


@pytest.mark.parametrize(
    ("mangled", "expected"),
    [
        ("7-Sep", "SEPTIN7"),  # SEPT7
        ("Sep-07", "SEPTIN7"),
        ("5-Mar", "MARCHF5"),  # MARCH5 (MARC5 names no gene)
        ("42803", "MARCHF9"),  # 9 Mar 2017 -> MARCH9
        ("37135", "SEPTIN1"),  # 1 Sep 2001: SEPT1 whether the day or the year is the number
        ("1-Mar", None),  # MARCH1 -> MARCHF1 or MARC1 -> MTARC1
        ("1-Dec", None),  # DEC1: BHLHE40 or DELEC1
        ("37500", None),  # 1 Sep 2002: SEPT1 or SEPT2
        ("42248", None),  # 1 Sep 2015: SEPT1 or SEPT15 (no gene)
        ("36951", None),  # 1 Mar 2001: MARCH1/MARC1
    ],
)
def test_excel_mangled_names_repaired_only_when_unambiguous(aliases, mangled, expected):
    out, report = harmonise_symbols(pd.Series(["GAPDH", "ACTB", mangled]), aliases)
    assert (None if pd.isna(out.iloc[2]) else out.iloc[2]) == expected
    assert (report.excel_repaired, report.excel_dropped) == ((1, 0) if expected else (0, 1))


def test_numeric_probe_ids_are_not_read_as_dates(aliases):
    """Agilent-style numeric probe IDs: too few known symbols, nothing is changed."""
    ids = pd.Series([str(i) for i in range(42800, 42900)])
    out, report = harmonise_symbols(ids, aliases)
    assert out.tolist() == ids.tolist()
    assert "not symbols" in report.skipped_reason


@pytest.fixture(scope="module")
def tb_genes(shared_dir, project_dir):
    """Two real TB cohorts through the genes stage, with and without harmonisation."""
    out = {}
    for cohort in ("GSE101705", "GSE107991"):
        matrix = pd.read_csv(
            shared_dir / "data" / "tb" / cohort / f"{cohort}_expr_assay_curated.tsv.gz",
            sep="\t",
            index_col=0,
            dtype={0: str},
            keep_default_na=False,
            na_values=["NA"],
        ).iloc[:, :6]
        samples = pd.DataFrame({"sample": matrix.columns, "condition": "x"})
        for harmonise in (False, True):
            table = project_dir / DEFAULT_ALIAS_TABLE if harmonise else None
            genes, report, _, _ = map_cohort_genes(
                matrix, samples, "array", None, log2_mode="auto", symbol_table=table
            )
            out[cohort, harmonise] = (set(genes.index), report.set_index("metric")["value"])
    return out


@pytest.mark.parametrize(
    ("old", "new"),
    [("LPHN1", "ADGRL1"), ("C19orf10", "MYDGF"), ("SUV420H1", "KMT5B"), ("HIST1H2BK", "H2BC12")],
)
def test_renamed_genes_become_one_gene_across_tb_cohorts(tb_genes, old, new):
    """GSE101705 (older annotation) and GSE107991 name three genes differently; after
    harmonisation both cohorts have the current symbol. HIST1H2BK (every shipped TB cohort) is
    H2BC12 in newer data."""
    old_101705, old_107991 = tb_genes["GSE101705", False][0], tb_genes["GSE107991", False][0]
    new_101705, new_107991 = tb_genes["GSE101705", True][0], tb_genes["GSE107991", True][0]
    if new != "H2BC12":
        assert old in old_101705 and new in old_107991 and new not in old_101705
    assert new in new_101705 and new in new_107991
    assert old not in new_101705 | new_107991


def test_harmonisation_is_counted_in_the_mapping_report(tb_genes):
    report = tb_genes["GSE101705", True][1]
    assert int(report["symbols_renamed"]) > 100
    assert int(report["excel_repaired"]) + int(report["excel_dropped"]) > 0
    assert report["symbol_table"] == "org.Hs.eg.db 3.16.0, NCBI Gene 2022-Sep12"
    assert "symbols_renamed" not in tb_genes["GSE101705", False][1]


@pytest.mark.parametrize(
    ("ensembl", "symbol"), [("ENSG00000099977", "DDT"), ("ENSG00000160200", "CBS")]
)
def test_ensembl_ties_take_the_lowest_entrez_id_as_a_number(project_dir, ensembl, symbol):
    """ENSG00000099977 is DDT (Entrez 1652) and DDTL (100037417); ENSG00000160200 is CBS (875)
    and LOC102724560: both protein-coding, so the lowest Entrez ID decides - as a number."""
    table = pd.read_csv(
        project_dir / "resources/annotation/hs_gene_ids.tsv.gz", sep="\t", dtype=str
    )
    counts = pd.DataFrame({"s1": [5], "s2": [7]}, index=[ensembl + ".12"])
    mapped, report = map_to_symbols(counts, table)
    assert mapped.index.tolist() == [symbol]
    assert report["n_ambiguous"] == 1
