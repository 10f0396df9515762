"""Broken gene-set (GMT) files end in an InputError naming the file and the line."""

from __future__ import annotations

import pytest
from synthetic import truncated_gzip, write_text

from markerflow.errors import InputError
from markerflow.io.gmt import filter_sets, read_gmt


def test_empty_gmt(tmp_path):
    with pytest.raises(InputError, match=r"sets.gmt: contains no gene set"):
        read_gmt(write_text(tmp_path / "sets.gmt", ""))


def test_gmt_not_utf8(tmp_path):
    path = write_text(tmp_path / "sets.gmt", "S1\tcaf\xe9\tA\tB\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"sets.gmt: is not UTF-8 text \(byte 6\)"):
        read_gmt(path)


def test_gmt_truncated_gzip(tmp_path):
    text = "".join(f"S{i}\t\t" + "\t".join(f"G{j}" for j in range(50)) + "\n" for i in range(500))
    with pytest.raises(InputError, match=r"sets.gmt.gz: is a damaged gzip file"):
        read_gmt(truncated_gzip(tmp_path / "sets.gmt.gz", text))


def test_gmt_duplicate_set_id_names_both_lines(tmp_path):
    path = write_text(tmp_path / "sets.gmt", "S1\t\tA\tB\nS2\t\tC\nS1\t\tD\n")
    with pytest.raises(
        InputError, match=r"sets.gmt: gene-set ID 'S1' occurs twice, on lines 1 and 3"
    ):
        read_gmt(path)


def test_gmt_comma_separated_line(tmp_path):
    with pytest.raises(InputError, match=r"sets.gmt: line 1 is comma-separated"):
        read_gmt(write_text(tmp_path / "sets.gmt", "S1,desc,A,B\n"))


def test_gmt_that_is_an_expression_table(tmp_path):
    path = write_text(tmp_path / "sets.gmt", "g1\t0.5\t1.2\t3.4\t5.6\ng2\t0.1\t2.2\t3.1\t1.0\n")
    with pytest.raises(InputError, match=r"sets.gmt: gene columns are mostly numbers"):
        read_gmt(path)


def test_gmt_empty_set_id(tmp_path):
    with pytest.raises(InputError, match=r"sets.gmt: line 2 has an empty gene-set ID"):
        read_gmt(write_text(tmp_path / "sets.gmt", "S1\t\tA\n\tdesc\tB\n"))


def test_gmt_duplicate_genes_in_a_set_are_merged(tmp_path):
    sets = read_gmt(write_text(tmp_path / "sets.gmt", "S1\t\tA\tB\tA\t\n"))
    assert sets["S1"].genes == ("A", "B")


def test_gmt_huge_field(tmp_path):
    """A 10 MB description cell is read like any other."""
    huge = "d" * (10 * 1024 * 1024)
    sets = read_gmt(write_text(tmp_path / "sets.gmt", f"BIG\t{huge}\tA\tB\n"))
    assert sets["BIG"].genes == ("A", "B") and len(sets["BIG"].description) == len(huge)


def test_min_size_above_max_size_is_named():
    with pytest.raises(InputError, match=r"max_size \(5\) is smaller than min_size \(10\)"):
        filter_sets({}, ["A"], min_size=10, max_size=5)
