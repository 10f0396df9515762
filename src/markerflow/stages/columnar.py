"""Per-cohort columnar summary: what every later stage reads of a cohort besides a few rows.

Issue 20 ("Scale"): a leave-one-cohort-out (LOCO) fold used to read, for each of its training
cohorts, the whole DE table (TSV, parsed) and the whole normalised matrix, only to take the DE
columns, each gene's mean expression, which genes are complete, ComBat's per-cell moments of
every gene and the matrix minimum. None of that depends on the other cohorts, so the DE job
(rule ``de``, which has just written the three files) computes it **once per (comparison,
cohort)** and writes it next to them, and the fold, ``meta`` and ``candidates`` read it instead.

Layout (DESIGN: two Parquet files in ``results/<comparison>/de/<cohort>/``, snappy, no statistics,
no timestamps; the options of :func:`markerflow.io.tables.write_matrix`):

``de.parquet``
    The DE table exactly as :func:`markerflow.io.tables.read_de_table` returns it from ``de.tsv``
    (rows in gene order, every column, the dtypes the TSV reader infers, float64 bit-exact: the TSV
    writes 17 significant digits). ``de.tsv`` stays the user-facing table; this is its columnar
    twin for the stages (no text parsing).
``genes.parquet``
    One row per row of ``normalized.parquet``, in its order: ``gene``; ``mean_expression``
    (:func:`markerflow.stages.candidates.cohort_mean_expression` of the comparison's two sides,
    the ``expression`` evidence); ``complete`` (no missing value in any sample: ComBat's merge
    keeps only genes complete in every cohort); then for each ComBat cell ``k`` of the cohort
    (merged batch label x condition, numbered in order of first appearance among the matrix
    columns) the columns ``mean_k``, ``m2_k`` (centred sum of squares), ``lo_k``, ``hi_k`` of
    :func:`markerflow.engines.combat_blocks.cell_stats`. The merged batch label is the one
    :func:`markerflow.stages.merge.plan_merge` gives the cohort (``cohort``, or ``cohort:batch``
    with several batches). Schema metadata ``markerflow.summary`` (JSON): ``cohort``,
    ``samples`` (the matrix columns), ``cells`` (``batch``, ``condition``, ``n`` per cell),
    ``minimum`` (the matrix's minimum, ``null`` if all missing) and ``minimum_gene`` (the gene
    whose row holds it, the first such row: MetaIntegrator's score shifts the whole matrix by
    ``|min| + 1`` when ``min < 0``, :func:`markerflow.stages.signature.signature_rows`).

Method: the summary is computed from the files as the readers see them (``read_de_table``,
``read_matrix``, ``read_tsv``), with the readers' own functions, so each number equals what a
stage computed from the whole files before (bit-identical: tests/test_columnar.py). Cell
statistics are per gene row (a row's moments do not depend on the other rows), so a fold's cells
restricted to its common genes are the rows of these columns. No deviation from the stages'
methods; only where the numbers are computed moves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from markerflow.engines.combat_blocks import CellStats, cell_stats
from markerflow.errors import InputError
from markerflow.io.tables import write_parquet_table
from markerflow.stages.candidates import cohort_mean_expression
from markerflow.stages.cohorts import load_cohort
from markerflow.stages.merge import plan_merge

#: Schema metadata key of ``genes.parquet``.
META_KEY = b"markerflow.summary"
CELL_FIELDS = ("mean", "m2", "lo", "hi")


@dataclass(frozen=True)
class CohortSummary:
    """One cohort's columnar summary (module docstring)."""

    cohort: str
    de: pd.DataFrame  #: as :func:`markerflow.io.tables.read_de_table` returns ``de.tsv``
    genes: pd.Index  #: rows of the normalised matrix, file order
    samples: tuple[str, ...]  #: columns of the normalised matrix, file order
    mean_expression: pd.Series  #: index ``genes``
    complete: np.ndarray  #: bool per gene: no missing value in any sample
    cells: tuple[tuple[str, str], ...]  #: (merged batch label, condition) per cell
    stats: CellStats  #: cells x genes (``n`` per cell)
    minimum: float  #: matrix minimum (NaN: no value)
    minimum_gene: str | None  #: gene of the first row holding it

    def cell_rows(self, genes: pd.Index) -> CellStats:
        """The cell statistics of ``genes`` (all in :attr:`genes`), cells x len(genes)."""
        at = self.genes.get_indexer(genes)
        if (at < 0).any():
            raise InputError(f"cohort {self.cohort}: summary lacks gene(s) "
                             f"{list(genes[at < 0][:5])}")  # fmt: skip
        s = self.stats
        return CellStats(s.n.copy(), s.mean[:, at], s.m2[:, at], s.lo[:, at], s.hi[:, at])

    def rows_needed(self, genes: Sequence[str]) -> list[str]:
        """``genes`` this cohort measures plus its minimum's row (what the signature reads)."""
        wanted = pd.Index(list(dict.fromkeys(map(str, genes))), dtype=object)
        out = wanted[wanted.isin(self.genes)].tolist()
        if self.minimum_gene is not None and self.minimum_gene not in set(out):
            out.append(self.minimum_gene)
        return out


def merged_cells(genes: pd.Index, columns: Sequence[str], samples: pd.DataFrame,
                 cohort: str) -> tuple[list[tuple[str, str]], np.ndarray]:  # fmt: skip
    """The cohort's ComBat cells (merged batch label, condition) in order of first appearance
    among the matrix columns, and each column's cell: the labels
    :func:`markerflow.stages.merge.plan_merge` gives this cohort in any merge."""
    _, sheet = plan_merge({cohort: (genes, list(columns))}, {cohort: samples})
    key = pd.Series(list(zip(sheet["batch"].astype(str), sheet["condition"].astype(str),
                             strict=True)))  # fmt: skip
    cell, cells = pd.factorize(key)
    return [tuple(c) for c in cells], np.asarray(cell, dtype=np.int64)


def matrix_cells(
    matrix: pd.DataFrame, samples: pd.DataFrame, cohort: str
) -> tuple[pd.Index, list[str], list[tuple[str, str]], CellStats, np.ndarray]:
    """The matrix's genes and columns, its ComBat cells (:func:`merged_cells`), their
    statistics of every gene (:func:`markerflow.engines.combat_blocks.cell_stats`) and each
    gene's completeness (no NaN)."""
    columns = [str(c) for c in matrix.columns]
    genes = pd.Index(matrix.index.astype(str), name="gene")
    cells, cell = merged_cells(genes, columns, samples, cohort)
    # the layout the fold's ComBat always used on a matrix read back (a row take: C order), so
    # each row's moments are computed exactly as there
    x = matrix.to_numpy(dtype=np.float64)[np.arange(len(genes))]
    return genes, columns, cells, cell_stats(x, cell, len(cells)), ~np.isnan(x).any(axis=1)


def summarise_cohort(
    de: pd.DataFrame,
    matrix: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    cohort: str,
    case_label: str,
    control_label: str,
) -> CohortSummary:
    """The summary of one cohort from its DE table, normalised matrix and sample sheet, each as
    read back from the DE job's files (:func:`summarise_files`)."""
    genes, columns, cells, st, complete = matrix_cells(matrix, samples, cohort)
    two_sides = load_cohort(matrix, samples, case_label, control_label, name=cohort)
    means = cohort_mean_expression(two_sides)
    # the minimum the signature score sees: over the compared samples, first row holding it
    values = two_sides.expression.to_numpy(dtype=np.float64)
    minimum, minimum_gene = float("nan"), None
    if values.size and not np.isnan(values).all():
        at = int(np.nanargmin(values))
        minimum, minimum_gene = float(values.flat[at]), str(genes[at // values.shape[1]])
    return CohortSummary(cohort, de, genes, tuple(columns),
                         pd.Series(means.to_numpy(dtype=np.float64), index=genes),
                         complete, tuple(cells), st, minimum, minimum_gene)  # fmt: skip


def summarise_files(de: str | Path, matrix: str | Path, samples: str | Path, *, cohort: str,
                    case_label: str, control_label: str) -> CohortSummary:  # fmt: skip
    """:func:`summarise_cohort` of the DE job's written ``de.tsv``, ``normalized.parquet`` and
    ``samples.tsv``, read as every later stage reads them."""
    from markerflow.io.tables import read_de_table, read_matrix, read_tsv

    return summarise_cohort(read_de_table(de), read_matrix(matrix),
                            read_tsv(samples, dtype={"sample": str, "batch": str}),
                            cohort=cohort, case_label=case_label,
                            control_label=control_label)  # fmt: skip


def write_summary(summary: CohortSummary, de_path: str | Path, genes_path: str | Path) -> None:
    """Write ``de.parquet`` and ``genes.parquet`` (module docstring), atomically, reproducibly."""
    write_parquet_table(pa.Table.from_pandas(summary.de, preserve_index=False), de_path)
    s = summary.stats
    cols: dict[str, Any] = {"gene": pa.array(list(map(str, summary.genes)), pa.string()),
                            "mean_expression": summary.mean_expression.to_numpy(np.float64),
                            "complete": pa.array(summary.complete, pa.bool_())}  # fmt: skip
    for k in range(len(summary.cells)):
        for f in CELL_FIELDS:
            cols[f"{f}_{k}"] = np.ascontiguousarray(getattr(s, f)[k])
    meta = {"cohort": summary.cohort, "samples": list(summary.samples),
            "cells": [{"batch": b, "condition": c, "n": int(n)}
                      for (b, c), n in zip(summary.cells, s.n, strict=True)],
            "minimum": None if np.isnan(summary.minimum) else summary.minimum,
            "minimum_gene": summary.minimum_gene}  # fmt: skip
    table = pa.table(cols).replace_schema_metadata({META_KEY: json.dumps(meta, sort_keys=True)})
    write_parquet_table(table, genes_path)


def read_de_summary(path: str | Path) -> pd.DataFrame:
    """``de.parquet``: the DE table as :func:`markerflow.io.tables.read_de_table` gives it."""
    if not Path(path).exists():
        raise InputError("columnar DE table does not exist", path=path,
                         hint="re-run the de rule (it writes de.parquet next to de.tsv)")  # fmt: skip
    return pq.read_table(path).to_pandas()


def read_summary(genes_path: str | Path, de_path: str | Path | None = None) -> CohortSummary:
    """Read a summary written by :func:`write_summary` (``de_path`` None: no DE table, an empty
    frame); InputError naming the file if it is not one."""
    if not Path(genes_path).exists():
        raise InputError("per-gene cohort summary does not exist", path=genes_path,
                         hint="re-run the de rule (it writes genes.parquet)")  # fmt: skip
    table = pq.read_table(genes_path)
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise InputError("not a markerflow cohort summary (no markerflow.summary metadata)",
                         path=genes_path, hint="re-run the de rule")  # fmt: skip
    meta = json.loads(raw)
    cells = [(str(c["batch"]), str(c["condition"])) for c in meta["cells"]]
    genes = pd.Index(table.column("gene").to_pylist(), name="gene", dtype=object)

    def col(name: str) -> np.ndarray:
        return table.column(name).to_numpy()

    n = np.array([float(c["n"]) for c in meta["cells"]])
    st = CellStats(n, *(np.vstack([col(f"{f}_{k}") for k in range(len(cells))])
                        if cells else np.empty((0, len(genes))) for f in CELL_FIELDS))  # fmt: skip
    minimum = meta["minimum"]
    return CohortSummary(
        str(meta["cohort"]),
        pd.DataFrame() if de_path is None else read_de_summary(de_path),
        genes,
        tuple(meta["samples"]),
        pd.Series(col("mean_expression"), index=genes),
        col("complete").astype(bool),
        tuple(cells),
        st,
        float("nan") if minimum is None else float(minimum),
        meta["minimum_gene"],
    )


__all__ = ["CohortSummary", "matrix_cells", "merged_cells", "read_de_summary", "read_summary",
           "summarise_cohort", "summarise_files", "write_summary"]  # fmt: skip
