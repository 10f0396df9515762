"""Tests for markerflow.io.gmt: GMT parsing (both layouts, .gz, errors) and size filtering."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pytest

from markerflow.errors import InputError
from markerflow.io.gmt import filter_sets, read_gmt

FIXTURES = Path(__file__).parent / "fixtures" / "enrichment"


def test_both_layouts(tmp_path: Path) -> None:
    p = tmp_path / "mixed.gmt"
    p.write_text(
        "GO:1\tcell cycle\tA\tB\tC\n"
        "Cell cycle (KEGG)\t\tB\tD\tD\t\n"  # Enrichr: empty description, trailing tab, dup gene
        "M1\thttp://www.gsea-msigdb.org/M1\t X \tY\r\n"
    )
    sets = read_gmt(p)
    assert list(sets) == ["GO:1", "Cell cycle (KEGG)", "M1"]
    assert sets["GO:1"].name == "cell cycle" and sets["GO:1"].genes == ("A", "B", "C")
    assert sets["Cell cycle (KEGG)"].name == "Cell cycle (KEGG)"
    assert sets["Cell cycle (KEGG)"].genes == ("B", "D")
    assert sets["M1"].name == "M1" and sets["M1"].genes == ("X", "Y")


def test_gzip_equals_plain(tmp_path: Path) -> None:
    gz = tmp_path / "sets.gmt.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "sets.gmt").read_bytes()))
    assert read_gmt(gz) == read_gmt(FIXTURES / "sets.gmt")
    assert len(read_gmt(gz)) == 40


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    p = tmp_path / "dup.gmt"
    p.write_text("S1\td\tA\tB\nS2\td\tC\nS1\tagain\tD\n")
    with pytest.raises(InputError, match=r"'S1' occurs twice, on lines 1 and 3"):
        read_gmt(p)


def test_empty_sets_skipped_and_counted(tmp_path: Path, caplog) -> None:
    p = tmp_path / "empty.gmt"
    p.write_text("S1\td\tA\nS2\td\t\t\nS3\td\n\n# comment\nS4\t\tB\n")
    with caplog.at_level(logging.INFO, logger="markerflow.io.gmt"):
        sets = read_gmt(p)
    assert list(sets) == ["S1", "S4"]
    assert "skipped 2 empty gene set(s)" in caplog.text


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("gene,stat\nA,1.0\n", "comma-separated"),
        ("just some text\n", "without a tab"),
        ("gene\tS1\tS2\tS3\nA\t1.5\t2.0\t3.1\nB\t0.2\t4\t5\n", "mostly numbers"),
        ("", "no gene set"),
        ("\tdesc\tA\tB\n", "empty gene-set ID"),
    ],
)
def test_not_gmt_errors(tmp_path: Path, content: str, match: str) -> None:
    p = tmp_path / "bad.gmt"
    p.write_text(content)
    with pytest.raises(InputError, match=match) as info:
        read_gmt(p)
    assert str(p) in str(info.value)


def test_binary_missing_and_fake_gz(tmp_path: Path) -> None:
    b = tmp_path / "x.gmt"
    b.write_bytes(b"PAR1\x00\x01\x02")
    with pytest.raises(InputError, match="binary"):
        read_gmt(b)
    with pytest.raises(InputError, match="does not exist"):
        read_gmt(tmp_path / "nope.gmt")
    fake = tmp_path / "y.gmt.gz"
    fake.write_text("S1\td\tA\n")
    with pytest.raises(InputError, match="not gzip"):
        read_gmt(fake)
    latin = tmp_path / "latin.gmt"
    latin.write_bytes("S1\tcaf\xe9\tA\n".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8"):
        read_gmt(latin)


def test_filter_sizes_counted_after_intersection(tmp_path: Path) -> None:
    p = tmp_path / "f.gmt"
    p.write_text("BIG\td\tA\tB\tC\tD\tE\tF\nMID\td\tA\tB\tX\tY\tZ\nSMALL\td\tA\tQ\tR\tS\n")
    sets = read_gmt(p)
    bg = {"A", "B", "C", "D", "E", "F", "X"}
    out = filter_sets(sets, bg, min_size=2, max_size=5)
    # BIG has 6 genes in the background (> 5), MID 3 (A, B, X), SMALL 1 (< 2)
    assert list(out) == ["MID"]
    assert out["MID"].genes == ("A", "B", "X")
    assert set(filter_sets(sets, bg, 1, 10)) == {"BIG", "MID", "SMALL"}
    with pytest.raises(InputError, match="max_size"):
        filter_sets(sets, bg, 5, 2)


@pytest.mark.parametrize(
    ("name", "n_sets"),
    [
        ("GO_BP_symbols_10-500.gmt", 6482),
        ("GO_MF_symbols_10-500.gmt", 1246),
        ("GO_CC_symbols_10-500.gmt", 794),
        ("KEGG_2011_symbols_10-500.gmt", 213),
        ("KEGG_2021_Human.gmt", 320),
    ],
)
def test_shipped_libraries(project_dir: Path, name: str, n_sets: int) -> None:
    sets = read_gmt(project_dir / "resources" / "genesets" / name)
    assert len(sets) == n_sets
    if name.startswith("KEGG_2021"):
        s = sets["ABC transporters"]
        assert s.name == "ABC transporters" and s.genes[0] == "ABCA2" and "" not in s.genes
    if name.startswith("GO_BP"):
        assert sets["GO:0000012"].name == "single strand break repair"
