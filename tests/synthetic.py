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


def study_cohorts(
    seed: int,
    names: tuple[str, ...] = ("D1", "D2", "D3", "V1", "V2"),
    *,
    n_genes: int = 2000,
    n_case: int = 20,
    n_control: int = 20,
    n_planted: int = 0,
    effect: float = 1.2,
) -> tuple[dict[str, tuple[pd.DataFrame, pd.DataFrame]], set[str]]:
    """Cohorts of a synthetic study: name -> (log2 matrix genes x samples, sample sheet).

    Pure noise by default; ``n_planted`` genes (half up, half down) are shifted by ``effect``
    within-gene sds in cases of every cohort. Every cohort has its own offset and scale (a batch
    effect). Returns the cohorts and the set of planted genes.
    """
    rng = np.random.default_rng(seed)
    genes = np.array([f"G{i:05d}" for i in range(n_genes)])
    mu = rng.normal(7.0, 1.5, n_genes)
    sd = rng.lognormal(-0.7, 0.3, n_genes)
    planted = rng.choice(n_genes, n_planted, replace=False)
    shift = np.zeros(n_genes)
    shift[planted] = effect * np.where(np.arange(n_planted) % 2 == 0, 1.0, -1.0)
    out = {}
    for name in names:
        is_case = np.repeat([True, False], [n_case, n_control])
        z = rng.standard_normal((n_genes, is_case.size)) + shift[:, None] * is_case[None, :]
        x = (
            rng.normal(0, 1)
            + rng.normal(0, 0.3, n_genes)[:, None]
            + rng.uniform(0.7, 1.3) * (mu[:, None] + sd[:, None] * z)
        )
        ids = [f"{name}_S{i:02d}" for i in range(is_case.size)]
        expr = pd.DataFrame(x, index=pd.Index(genes, name="gene"), columns=ids)
        sheet = pd.DataFrame({"sample": ids, "cohort": name,
                              "condition": np.where(is_case, "case", "control"),
                              "batch": "1"})  # fmt: skip
        out[name] = (expr, sheet)
    return out, set(genes[planted])
