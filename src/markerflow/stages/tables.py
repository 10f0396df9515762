"""Result tables in the forms their readers know (issue 18): the rules ``de_native`` and
``tables_workbook``.

Native DE tables, from the common-schema DE table (:data:`markerflow.contracts.DE_COLUMNS`) of
one cohort and comparison, same numbers, R's column names and order:

- ``de.limma.tsv`` (arrays; counts with ``de.counts.method`` voom / voom_quality_weights /
  limma_trend): limma 3.54 ``topTable`` - ``logFC AveExpr t P.Value adj.P.Val B``;
- ``de.deseq2.tsv`` (counts with DESeq2): DESeq2 1.38 ``results()`` - ``baseMean log2FoldChange
  lfcSE stat pvalue padj``.

Both start with :data:`NATIVE_ID_COLUMNS`: ``ID`` (the original feature ID: probe, Ensembl or
Entrez ID, see :mod:`markerflow.stages.genes`) and ``Symbol`` (the gene symbol, the row of the
common table), as limma prints ``fit$genes`` columns before the statistics. Rows by p-value,
ties by gene (:func:`sort_by_pvalue`). Deviation: R's ``topTable`` sorts
by B (``sort.by = "B"``, the same order as by p-value for one coefficient except ties) and
``results()`` keeps the input order; both are sorted by p-value here.

Workbook: :func:`workbook_sheets` / :func:`write_workbook` - one sheet per table of a study, a
first sheet ``Contents`` naming each sheet's file (:mod:`markerflow.io.xlsx`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import pandas as pd

from markerflow.contracts import NATIVE_COLUMNS
from markerflow.errors import InputError
from markerflow.io.tables import read_tsv
from markerflow.io.xlsx import sheet_name, write_xlsx

log = logging.getLogger(__name__)


def sort_by_pvalue(table: pd.DataFrame, pvalue: str = "pvalue", gene: str = "gene") -> pd.DataFrame:
    """Rows by increasing p-value (missing last), ties by gene (stable: ``mergesort``), index reset.

    The order every written DE table has (issue 18); stages that read one restore the gene order
    first (:func:`markerflow.io.tables.read_de_table`), so no result depends on it.
    """
    order = table.sort_values([pvalue, gene], na_position="last", kind="mergesort")
    return order.reset_index(drop=True)


def native_de_table(de: pd.DataFrame, kind: str, path: str | Path | None = None) -> pd.DataFrame:
    """The common-schema DE table ``de`` as limma's ``topTable`` or DESeq2's ``results()``
    (module docstring); ``de`` must carry ``feature_id`` and the kind's columns."""
    if kind not in NATIVE_COLUMNS:
        raise InputError(f"unknown native table kind {kind!r}; use one of {list(NATIVE_COLUMNS)}")
    columns = NATIVE_COLUMNS[kind]
    missing = [c for c in ["gene", "feature_id", *columns.values()] if c not in de.columns]
    if missing:
        method = str(de["method"].iloc[0]) if "method" in de.columns and len(de) else "?"
        raise InputError(
            f"DE table (method {method}) lacks column(s) {', '.join(missing)} for the {kind} table",
            path=path,
            hint="rerun the de rule of this cohort (its table predates the native tables)",
        )
    ordered = sort_by_pvalue(de)
    out = pd.DataFrame({"ID": ordered["feature_id"], "Symbol": ordered["gene"]})
    for name, source in columns.items():
        out[name] = ordered[source].to_numpy()
    return out


def _label(rel: str) -> str:
    """A short sheet label of a results-relative path ``<comparison>/<stage>/[<sub>/]<file>.tsv``:
    ``[<sub> ]<file>``."""
    parts = PurePosixPath(rel).parts
    stem = PurePosixPath(parts[-1]).name.removesuffix(".tsv")
    inner = list(parts[2:-1]) if len(parts) > 3 else []
    return " ".join([*inner, stem])


def workbook_sheets(
    files: Sequence[str | Path], root: str | Path
) -> list[tuple[str, pd.DataFrame]]:
    """``Contents`` then one ``(sheet name, table)`` per TSV of ``files`` (paths under ``root``,
    the results directory), in the given order.

    Sheet names are ``NN <label>`` (``NN`` the 1-based position, so names are unique; the label
    from the path, cut to Excel's 31 characters); ``Contents`` lists each sheet with its
    comparison, its file relative to ``root`` and its size.
    """
    width = max(2, len(str(len(files))))
    sheets: list[tuple[str, pd.DataFrame]] = []
    contents = []
    for i, path in enumerate(files, start=1):
        rel = Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
        table = read_tsv(path, float_precision="round_trip")  # every digit as written
        name = sheet_name(f"{i:0{width}d} {_label(rel)}")
        sheets.append((name, table))
        parts = PurePosixPath(rel).parts
        contents.append(
            {
                "sheet": name,
                "comparison": parts[0] if len(parts) > 2 else "",
                "file": rel,
                "rows": int(table.shape[0]),
                "columns": int(table.shape[1]),
            }
        )
    index = pd.DataFrame(contents, columns=["sheet", "comparison", "file", "rows", "columns"])
    return [("Contents", index), *sheets]


def write_workbook(files: Sequence[str | Path], root: str | Path, path: str | Path) -> int:
    """Write :func:`workbook_sheets` of ``files`` as one ``.xlsx`` (header rows frozen,
    deterministic bytes); returns the number of table sheets."""
    sheets = workbook_sheets(files, root)
    write_xlsx(sheets, path)
    log.info("workbook %s: %d table sheet(s)", path, len(sheets) - 1)
    return len(sheets) - 1
