"""write_tsv's shortcut (markerflow.io.tables._plain_tsv) writes exactly the bytes pandas' to_csv
writes with the same arguments, and hands everything it does not reproduce to pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from markerflow.io import tables
from markerflow.io.tables import FLOAT_FORMAT, write_tsv


def _pandas_bytes(df: pd.DataFrame) -> bytes:
    text = df.to_csv(sep="\t", index=False, na_rep="NA", float_format=FLOAT_FORMAT,
                     lineterminator="\n")  # fmt: skip
    return text.encode("utf-8")


def _frame(seed: int, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=10.0 ** rng.integers(-300, 300, size=rows), size=rows)
    special = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, 1e-310, 5e-324, 2.0**53, 0.1]
    x[: len(special)] = special[:rows]
    return pd.DataFrame(
        {
            "gene": [f"G{i}é" if i % 3 else "" for i in range(rows)],
            "log2fc": x,
            "pvalue": rng.uniform(size=rows),
            "n": rng.integers(-(2**62), 2**62, size=rows),
            "small": rng.integers(0, 255, size=rows).astype(np.uint8),
            "significant": rng.uniform(size=rows) < 0.5,
            "note": ["NA" if i % 5 == 0 else "ok, fine" for i in range(rows)],
        }
    )


@pytest.mark.parametrize("seed,rows", [(0, 1), (1, 2), (2, 17), (3, 5000)])
def test_shortcut_writes_pandas_bytes(tmp_path, seed, rows):
    df = _frame(seed, rows)
    assert tables._plain_tsv(df) is not None  # the shortcut is taken
    write_tsv(df, tmp_path / "t.tsv")
    assert (tmp_path / "t.tsv").read_bytes() == _pandas_bytes(df)


@pytest.mark.parametrize(
    "change",
    [
        lambda df: df.assign(gene=["a\tb"] + ["x"] * (len(df) - 1)),  # quoted cell
        lambda df: df.assign(note=['say "hi"'] + ["x"] * (len(df) - 1)),
        lambda df: df.assign(note=["line\nbreak"] + ["x"] * (len(df) - 1)),
        lambda df: df.assign(note=[None] + ["x"] * (len(df) - 1)),  # missing text
        lambda df: df.assign(note=[1.5] + ["x"] * (len(df) - 1)),  # mixed object column
        lambda df: df.assign(log2fc=df["log2fc"].astype(np.float32)),
        lambda df: df.assign(n=df["n"].astype("Int64")),
        lambda df: df.assign(note=df["note"].astype("category")),
        lambda df: df[["gene"]],  # one column: csv quotes a lone empty cell
        lambda df: df.iloc[:0],
        lambda df: df.set_axis([*df.columns[:-1], "log2fc"], axis=1),  # duplicate name
        lambda df: df.rename(columns={"note": 'no"te'}),
    ],
)
def test_other_frames_go_to_pandas_and_keep_its_bytes(tmp_path, change):
    df = change(_frame(5, 12))
    assert tables._plain_tsv(df) is None
    write_tsv(df, tmp_path / "t.tsv")
    assert (tmp_path / "t.tsv").read_bytes() == _pandas_bytes(df)


def test_missing_identifiers_are_empty_cells_on_either_path(tmp_path):
    df = pd.DataFrame({"gene": ["A", None], "pvalue": [0.5, np.nan]})
    write_tsv(df, tmp_path / "t.tsv")
    assert (tmp_path / "t.tsv").read_text() == "gene\tpvalue\nA\t0.5\n\tNA\n"
