"""markerflow.io.sizes: the float64 size of a source matrix, known before any job runs."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerflow.io.sizes import DEFAULT_MB, GZIP_FACTOR, TEXT_FACTOR, matrix_mb


def _frame(rows: int = 300, cols: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, cols)), columns=[f"S{j}" for j in range(cols)])
    frame.insert(0, "ID_REF", [f"p{i}" for i in range(rows)])
    return frame


def test_parquet_is_exact_from_the_footer(tmp_path: Path) -> None:
    path = tmp_path / "m.parquet"
    _frame().to_parquet(path, index=False)
    assert matrix_mb(path) == pytest.approx(300 * 13 * 8 / 1e6)  # the ID column included


def test_text_files_from_their_size_and_the_estimate_errs_high(tmp_path: Path) -> None:
    frame = _frame()
    plain, packed = tmp_path / "m.tsv", tmp_path / "m.tsv.gz"
    frame.to_csv(plain, sep="\t", index=False)
    with gzip.open(packed, "wt") as handle:
        frame.to_csv(handle, sep="\t", index=False)
    assert matrix_mb(plain) == pytest.approx(plain.stat().st_size * TEXT_FACTOR / 1e6)
    assert matrix_mb(packed) == pytest.approx(packed.stat().st_size * GZIP_FACTOR / 1e6)
    values_mb = 300 * 12 * 8 / 1e6
    assert matrix_mb(plain) >= values_mb and matrix_mb(packed) >= values_mb


def test_folder_sums_its_files_and_missing_is_the_default(tmp_path: Path) -> None:
    folder = tmp_path / "quant"
    (folder / "S1").mkdir(parents=True)
    (folder / "S1" / "quant.sf").write_text("x" * 1000)
    (folder / "S2.tsv").write_text("y" * 500)
    assert matrix_mb(folder) == pytest.approx(1500 / 1e6)
    assert matrix_mb(tmp_path / "not_downloaded.txt.gz") == DEFAULT_MB
    assert matrix_mb(None, default_mb=5.0) == 5.0


def test_a_broken_parquet_file_is_sized_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet" * 100)
    assert matrix_mb(path) == pytest.approx(1100 / 1e6)  # ingest reports the bad file
