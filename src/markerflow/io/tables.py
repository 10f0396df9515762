"""Reading and writing the data contracts of ../shared/DESIGN.md, atomically.

Every writer goes through a temporary file in the destination directory and ``os.replace``, so an
interrupted job never leaves a half-written table where a later job (or a reviewer) could read it.
Writers are deterministic: fixed float format for TSV, no timestamps in Parquet metadata.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import glob
import gzip
import hashlib
import os
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from markerflow.errors import InputError

#: TSV float format: 17 significant digits round-trips a float64 exactly (same as R's %.17g fixtures).
FLOAT_FORMAT = "%.17g"
#: Cell texts pandas reads as missing by default (``pandas._libs.parsers.STR_NA_VALUES``, pandas 2).
NA_WORDS = frozenset(
    ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
)  # fmt: skip
#: Columns of the workflow's own tables that hold IDs or labels: always text, never re-parsed
#: (a condition "1", a sample "0123", a gene "NA" or a cohort "1e5" stay what they are). A missing
#: value in one of them is written as an empty cell, the only text read back as missing.
ID_COLUMNS = ("sample", "cohort", "condition", "batch", "subject", "gene", "feature_id")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.

    Temporary files of ``path`` left by an earlier writer that was killed (SIGKILL, node failure)
    are removed first: Snakemake runs one job per output, so none of them is still being written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the result the permissions a plain open() would (umask).
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file for writing that replaces ``path`` when closed without error."""
    with atomic_path(path) as tmp:
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": encoding, "newline": ""}
        with open(tmp, mode, **kwargs) as handle:
            yield handle


def write_tsv(df: pd.DataFrame, path: str | Path, *, index: bool = False) -> None:
    """Write a table as TSV (``NA`` for missing, floats with 17 significant digits), atomically.

    In :data:`ID_COLUMNS` a missing value is an empty cell instead (``NA`` there is a label).
    """
    gaps = [c for c in ID_COLUMNS if c in df.columns and df[c].isna().any()]
    if gaps:
        df = df.assign(**{c: df[c].astype(object).where(df[c].notna(), "") for c in gaps})
    text = None if index else _plain_tsv(df)
    with atomic_open(path) as handle:
        if text is not None:
            handle.write(text)
            return
        df.to_csv(
            handle,
            sep="\t",
            index=index,
            na_rep="NA",
            float_format=FLOAT_FORMAT,
            lineterminator="\n",
        )


#: characters that make pandas' csv writer quote a cell (tab separator, quote, line ends)
_QUOTED = ("\t", '"', "\n", "\r")


def _plain_cells(column: pd.Series) -> list[str] | None:
    """The cells ``DataFrame.to_csv`` writes for one column (``%.17g``, ``NA`` for a missing
    float), or None when the column has a dtype or a value this shortcut does not reproduce."""
    kind = column.dtype.kind
    values = column.to_numpy()
    if column.dtype == np.float64:
        cells = [FLOAT_FORMAT % v for v in values.tolist()]
        for i in np.flatnonzero(np.isnan(values)).tolist():
            cells[i] = "NA"
        return cells
    if kind in "iub" and isinstance(column.dtype, np.dtype):
        return [str(v) for v in values.tolist()]
    if column.dtype == object:
        cells = values.tolist()
        if not all(type(v) is str for v in cells):
            return None
        joined = "".join(cells)
        if any(q in joined for q in _QUOTED):
            return None
        return cells
    return None


def _plain_tsv(df: pd.DataFrame) -> str | None:
    """The text ``write_tsv``'s ``to_csv`` call writes, built from the columns' cells at once
    (about 4x faster for the float tables the workflow writes, benchmarks/bench_write_tsv.py:
    pandas formats a float through several Python calls per cell), or None for anything else
    (then pandas writes it): a column that is not float64, integer, bool or plain text, a cell
    that would be quoted, fewer than two columns or no rows. tests/test_write_tsv.py pins byte
    equality with pandas."""
    names = list(df.columns)
    if len(names) < 2 or len(df) == 0 or not all(type(n) is str for n in names):
        return None
    if not df.columns.is_unique or any(q in "".join(names) for q in _QUOTED):
        return None
    cells = []
    for name in names:
        column = _plain_cells(df[name])
        if column is None:
            return None
        cells.append(column)
    return "\t".join(names) + "\n" + "\n".join(map("\t".join, zip(*cells, strict=True))) + "\n"


def utf8_error_line(data: bytes) -> int | None:
    """1-based line of the first byte of ``data`` that is not valid UTF-8 (None if all valid)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data[: exc.start].count(b"\n") + 1
    return None


def _bad_utf8_where(path: Path) -> str:
    """Where a file stops being UTF-8, for the error message (read again: error path only)."""
    try:
        with open(path, "rb") as handle:
            gzipped = handle.read(2) == b"\x1f\x8b"
        data = gzip.decompress(path.read_bytes()) if gzipped else path.read_bytes()
    except (OSError, EOFError, zlib.error):
        return "invalid byte"
    line = utf8_error_line(data)
    return "invalid byte" if line is None else f"invalid byte on line {line}"


@contextlib.contextmanager
def reading(
    path: str | Path,
    what: str = "",
    *,
    sep: str = "\t",
    missing_hint: str | None = None,
) -> Iterator[Path]:
    """Translate the errors of reading a (possibly gzipped) text table into an InputError.

    The one place where pandas/csv/gzip/decoding errors become messages naming the file:
    missing file or directory, not UTF-8 (with the line of the first invalid byte), empty file,
    unparsable table, csv field errors, and corrupt or truncated gzip data. ``what`` names the
    file's role ("sample sheet", "platform table") in the messages where it reads naturally; ``sep``
    names the expected separator in the parse error. Use as ``with reading(path, "sample sheet"):``
    around the ``pd.read_csv`` (or ``open``) call.
    """
    path = Path(path)
    subject = f"{what} " if what else ""
    kind = {"\t": "tab-separated ", ",": "comma-separated "}.get(sep, "")
    try:
        with warnings.catch_warnings():
            # with index_col=False pandas only warns when a row has more fields than the header
            # (and drops them); without it, it silently turns the extra leading fields into an
            # index, shifting every column of the table.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            yield path
    except pd.errors.ParserWarning:
        raise InputError(
            f"{subject}has a row with more fields than the header line (a tab or quote too "
            "many, or two lines run together)",
            path=path,
            hint="make every row have as many fields as the header",
        ) from None
    except FileNotFoundError:
        raise InputError(
            f"{what or 'file'} does not exist",
            path=path,
            hint=missing_hint or "check the path in the config or sheet",
        ) from None
    except IsADirectoryError:
        raise InputError(f"{what or 'path'} is a directory, not a file", path=path) from None
    except UnicodeDecodeError:
        raise InputError(
            f"is not UTF-8 text ({_bad_utf8_where(path)}{', in the ' + what if what else ''})",
            path=path,
            hint="re-save the file as UTF-8",
        ) from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{subject}is empty", path=path) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{subject}is not a valid {kind}table: {exc}", path=path) from None
    except csv.Error as exc:
        raise InputError(
            f"{subject}cannot be read as text: {exc}",
            path=path,
            hint="supply a tab-separated (or .csv) text file, optionally gzipped",
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise InputError(
                f"{what or 'path'} is too long for the file system", path=str(path)[:200] + "…"
            ) from None
        raise InputError(
            f"cannot be read: corrupt or truncated gzip file ({exc})",
            path=path,
            hint="download or copy the file again (and check its checksum)",
        ) from None
    except (EOFError, zlib.error) as exc:
        raise InputError(
            f"cannot be read: corrupt or truncated gzip file ({exc})",
            path=path,
            hint="download or copy the file again (and check its checksum)",
        ) from None


def read_tsv(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Read a TSV written by :func:`write_tsv` (or by a user), with a clear error if unreadable.

    Columns named in :data:`ID_COLUMNS` are read as text, verbatim (only an empty cell is
    missing); every other column as pandas does by default (:data:`NA_WORDS` are missing).
    A ``dtype`` mapping given by the caller adds to (and may override) the ID columns' ``str``.
    """
    kwargs.setdefault("index_col", False)
    with reading(path):
        header = list(pd.read_csv(path, sep="\t", nrows=0).columns)
        ids = [c for c in header if c in ID_COLUMNS]
        dtype = kwargs.pop("dtype", None)
        if dtype is None or isinstance(dtype, dict):
            dtype = {**{c: str for c in ids}, **(dtype or {})}
        na = {c: sorted(NA_WORDS) for c in header if c not in ids}
        table = pd.read_csv(
            path, sep="\t", keep_default_na=False, na_values=na, dtype=dtype, **kwargs
        )
    for c in ids:
        if c in table.columns and table[c].dtype == object:
            table[c] = table[c].mask(table[c] == "")
    return table


def read_de_table(path: str | Path, gene: str = "gene") -> pd.DataFrame:
    """A written DE table (sorted by p-value on disk) in gene order, as the DE stage made it.

    DE tables are written sorted by p-value (issue 18); every stage that reads one gets its rows
    back in the order of the genes stage (genes sorted by symbol, stable), so no downstream result
    depends on the order on disk.
    """
    table = read_tsv(path)
    if gene not in table.columns:
        raise InputError(f"DE table has no {gene!r} column", path=path)
    return table.sort_values(gene, kind="mergesort").reset_index(drop=True)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 digest of a file's bytes (:func:`hashlib.file_digest`, streamed)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


#: Parquet options of every matrix writer (one place: the files' bytes depend on them).
#: Snappy, Parquet's default codec: float64 matrices hardly compress (zstd saved 7 % of a
#: 20,597 x 200 matrix) and a snappy row group decodes about 6x faster (9 against 60 ms), which
#: every reader of the matrices pays (a LOCO fold reads 40 row groups; issue 20).
_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "snappy",
    "write_statistics": False,
    "store_schema": True,
    "use_dictionary": False,
}


def _matrix_table(matrix: pd.DataFrame) -> pa.Table:
    if matrix.index.name is None:
        raise ValueError("expression matrix index must be named ('feature_id' or 'gene')")
    return pa.Table.from_pandas(matrix, preserve_index=True)


def _float_matrix_table(values: np.ndarray, index: pd.Index, schema: pa.Schema) -> pa.Table:
    """The table :func:`_matrix_table` makes of a float64 frame (``values``, rows x samples, and
    its ``index``) whose first block had ``schema``, built from the array's columns directly.

    ``pa.Table.from_pandas`` costs about 4 s per block at 50,000 columns, whatever the block's
    rows (pandas' per-column access and Arrow's per-column metadata; issue 20), and the merge
    writes two files of about 100 blocks each. This is about 0.6 s. NaN becomes null, as
    ``from_pandas`` does it; :class:`MatrixWriter` checks on its first block that both tables
    are equal before it uses this.
    """
    n = values.shape[1]
    arrays = [pa.array(values[:, j], from_pandas=True) for j in range(n)]
    arrays.append(pa.array(index.to_numpy(), type=schema.field(n).type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def _float_values(block: pd.DataFrame) -> np.ndarray | None:
    """The frame's values if every column is float64 (a view for a single-block frame)."""
    if block.shape[1] == 0 or not (block.dtypes == np.float64).all():
        return None
    return block.to_numpy(dtype=np.float64)


def write_parquet_table(table: pa.Table, path: str | Path) -> None:
    """Write an Arrow table as Parquet with the matrix writers' options, atomically (the columnar
    cohort summaries, :mod:`markerflow.stages.columnar`)."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **_PARQUET_OPTIONS)


def write_matrix(matrix: pd.DataFrame, path: str | Path) -> None:
    """Write an expression matrix (features x samples) as Parquet, atomically and reproducibly.

    The index name (``feature_id`` or ``gene``) is kept; pandas metadata is stored so the index
    round-trips, but no creation time or writer version that would change the file's bytes.
    One row group (:class:`MatrixWriter` writes a matrix block by block, blocks grouped into row
    groups of at least :data:`ROW_GROUP_MIN_ROWS` rows).
    """
    table = _matrix_table(matrix)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **_PARQUET_OPTIONS)


#: fewest rows in a row group :class:`MatrixWriter` writes (the last one excepted): a float64
#: column chunk of at least 8 KiB. A Parquet writer keeps about 820 bytes of metadata per column
#: chunk until it closes, and a merged matrix is samples wide, so one row group per 64 MiB merge
#: block (167 genes at 50,000 samples) held 41 MB per row group, 4.3 GB per file (issue 20).
ROW_GROUP_MIN_ROWS = 1024


class MatrixWriter:
    """Write a matrix (features x samples) block by block as Parquet row groups.

    Blocks are appended whole to the current row group until it holds at least ``min_rows``
    rows (:data:`ROW_GROUP_MIN_ROWS`), so a block never spans two row groups and the row groups
    depend only on the block sizes. Same options and metadata as :func:`write_matrix` (a matrix
    written as one block has the same bytes as :func:`write_matrix`'s file); atomic (the file
    appears when the ``with`` block ends without error). Every block must have the same
    columns, dtypes and index name. Memory: the blocks of one row group.
    """

    def __init__(self, path: str | Path, *, min_rows: int = ROW_GROUP_MIN_ROWS) -> None:
        self.path = Path(path)
        self.min_rows = max(1, int(min_rows))
        self._atomic: contextlib.AbstractContextManager[Path] | None = None
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._first: pd.DataFrame | None = None  # the first block's columns and index, no rows
        self._direct = False  # later float64 blocks are converted by _float_matrix_table

    def __enter__(self) -> MatrixWriter:
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        return self

    def write(self, block: pd.DataFrame) -> None:
        """Append ``block`` (its rows follow the previous block's) to the current row group."""
        assert self._tmp is not None, "use MatrixWriter in a with statement"
        # a block that waits for the next ones is copied: Arrow shares a float frame's memory,
        # and the caller may reuse or change its array once write returns
        kept = self._pending_rows + len(block) < self.min_rows
        values = _float_values(block)
        if self._writer is None:
            table = _matrix_table(block.copy(deep=True) if kept else block)
            self._writer = pq.ParquetWriter(self._tmp, table.schema, **_PARQUET_OPTIONS)
            self._first = block.iloc[:0]
            self._direct = values is not None and table.equals(
                _float_matrix_table(values, block.index, table.schema)
            )
        elif self._direct and values is not None and self._like_first(block):
            if kept:
                values = values.copy(order="K")
            table = _float_matrix_table(values, block.index, self._writer.schema)
        else:
            table = _matrix_table(block.copy(deep=True) if kept else block)
            if not table.schema.equals(self._writer.schema):
                raise ValueError(
                    f"{self.path}: a block's columns or dtypes differ from the first's"
                )
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self.min_rows:
            self._flush()

    def _like_first(self, block: pd.DataFrame) -> bool:
        first = self._first
        assert first is not None
        return (
            block.columns.equals(first.columns)
            and block.index.name == first.index.name
            and block.index.dtype == first.index.dtype
        )

    def _flush(self) -> None:
        if self._writer is None or not self._pending:
            return
        group = pa.concat_tables(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending, self._pending_rows = [], 0
        self._writer.write_table(group, row_group_size=max(1, group.num_rows))

    def __exit__(self, *exc: Any) -> None:
        assert self._atomic is not None
        try:
            if self._writer is not None:
                if exc[0] is None:
                    self._flush()
                self._writer.close()
            elif exc[0] is None:
                raise ValueError(f"{self.path}: no matrix block written")
        finally:
            self._pending = []
            self._atomic.__exit__(*exc)


def read_matrix(path: str | Path, rows: Any = None) -> pd.DataFrame:
    """Read an expression matrix written by :func:`write_matrix` or :class:`MatrixWriter`.

    ``rows``: only these features (index values; in file order, absent ones skipped), read row
    group by row group so that memory holds one row group plus the selected rows, never the
    whole matrix. ``None`` reads everything.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("expression matrix does not exist", path=path)
    if rows is None:
        return pq.read_table(path).to_pandas()
    wanted = pd.Index(pd.unique(np.asarray(list(rows), dtype=object)))
    handle = pq.ParquetFile(path)
    name = matrix_index_name(handle, path)
    parts = []
    for group in range(handle.num_row_groups):
        index = handle.read_row_group(group, columns=[name]).column(0).to_pandas()
        take = np.flatnonzero(index.isin(wanted).to_numpy())
        if take.size:
            parts.append(handle.read_row_group(group).take(pa.array(take)))
    if not parts:
        return handle.schema_arrow.empty_table().to_pandas()
    return pa.concat_tables(parts).to_pandas()


def matrix_index_name(handle: pq.ParquetFile, path: str | Path | None = None) -> str:
    """The index column of a Parquet matrix (``gene`` / ``feature_id``) from its pandas metadata."""
    meta = handle.schema_arrow.pandas_metadata or {}
    names = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
    if not names:
        raise InputError(
            "Parquet matrix has no named index column",
            path=path,
            hint="write it with markerflow.io.tables.write_matrix",
        )
    return names[0]


def matrix_layout(path: str | Path) -> tuple[pd.Index, list[str]]:
    """Features (index) and sample columns of a Parquet matrix, reading only the index column."""
    path = Path(path)
    if not path.exists():
        raise InputError("expression matrix does not exist", path=path)
    handle = pq.ParquetFile(path)
    name = matrix_index_name(handle, path)
    index = pd.Index(handle.read(columns=[name]).column(0).to_pandas(), name=name)
    columns = [c for c in handle.schema_arrow.names if c != name]
    return index, columns


def as_float_matrix(df: pd.DataFrame) -> np.ndarray:
    """Return a C-contiguous float64 view of a matrix DataFrame (features x samples)."""
    return np.ascontiguousarray(df.to_numpy(dtype=np.float64))
