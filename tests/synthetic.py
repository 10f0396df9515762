"""Small synthetic input files for the bad-input and property tests (no real data needed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd


def expression_frame(n_genes: int = 30, n_case: int = 4, n_control: int = 4, seed: int = 1):
    """A log2-scale features x samples matrix and its phenotype table (GSM-like sample IDs)."""
    rng = np.random.default_rng(seed)
    samples = [f"GSM{100 + i}" for i in range(n_case + n_control)]
    values = rng.normal(8.0, 1.0, size=(n_genes, len(samples)))
    expression = pd.DataFrame(
        values,
        index=pd.Index([f"P{i}" for i in range(n_genes)], name="feature_id"),
        columns=samples,
    )
    pheno = pd.DataFrame(
        {"status": ["asthma"] * n_case + ["healthy"] * n_control}, index=pd.Index(samples)
    )
    return expression, pheno


def series_matrix_text(
    expression: pd.DataFrame,
    characteristics: dict[str, list[str]],
    *,
    title: str = "synthetic series",
    float_format: str = "%.17g",
) -> str:
    """A GEO series-matrix file (header + table) for ``expression`` (features x samples)."""
    ids = list(expression.columns)

    def line(tag, values):
        return tag + "\t" + "\t".join(f'"{v}"' for v in values) + "\n"

    text = f'!Series_title\t"{title}"\n!Series_geo_accession\t"GSE1"\n'
    text += line("!Sample_title", [f"sample {s}" for s in ids])
    text += line("!Sample_geo_accession", ids)
    text += line("!Sample_channel_count", ["1"] * len(ids))
    for key, values in characteristics.items():
        text += line("!Sample_characteristics_ch1", [f"{key}: {v}" for v in values])
    text += "!series_matrix_table_begin\n"
    text += '"ID_REF"\t' + "\t".join(f'"{s}"' for s in ids) + "\n"
    for probe, row in expression.iterrows():
        cells = ["null" if pd.isna(v) else float_format % v for v in row]
        text += f'"{probe}"\t' + "\t".join(cells) + "\n"
    text += "!series_matrix_table_end\n"
    return text


def write_text(path: Path, text: str | bytes, gz: bool = False) -> Path:
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def truncated_gzip(path: Path, text: str) -> Path:
    """A gzip file cut in the middle of its deflate stream (a broken download)."""
    data = gzip.compress(text.encode("utf-8"), mtime=0)
    return write_text(path, data[: max(20, len(data) // 2)])
