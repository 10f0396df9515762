"""Reading and writing the data contracts of ../shared/DESIGN.md, atomically.

Every writer goes through a temporary file in the destination directory and ``os.replace``, so an
interrupted job never leaves a half-written table where a later job (or a reviewer) could read it.
Writers are deterministic: fixed float format for TSV, no timestamps in Parquet metadata.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from markerflow.errors import InputError

#: TSV float format: 17 significant digits round-trips a float64 exactly (same as R's %.17g fixtures).
FLOAT_FORMAT = "%.17g"


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
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": ""}
        with open(tmp, mode, **kwargs) as handle:
            yield handle


def write_tsv(df: pd.DataFrame, path: str | Path, *, index: bool = False) -> None:
    """Write a table as TSV (``NA`` for missing, floats with 17 significant digits), atomically."""
    with atomic_open(path) as handle:
        df.to_csv(
            handle,
            sep="\t",
            index=index,
            na_rep="NA",
            float_format=FLOAT_FORMAT,
            lineterminator="\n",
        )


def read_tsv(path: str | Path, **kwargs) -> pd.DataFrame:
    """Read a TSV written by :func:`write_tsv` (or by a user), with a clear error if unreadable."""
    path = Path(path)
    if not path.exists():
        raise InputError(
            "file does not exist", path=path, hint="check the path in the config or sheet"
        )
    try:
        return pd.read_csv(path, sep="\t", keep_default_na=True, na_values=["NA"], **kwargs)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"is not UTF-8 text ({exc.reason} at byte {exc.start})",
            path=path,
            hint="re-save the file as UTF-8",
        ) from None
    except pd.errors.EmptyDataError:
        raise InputError("is empty", path=path) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"is not a valid tab-separated table: {exc}", path=path) from None
    except (EOFError, OSError) as exc:
        raise InputError(f"cannot be read (corrupt or truncated gzip?): {exc}", path=path) from None


def write_matrix(matrix: pd.DataFrame, path: str | Path) -> None:
    """Write an expression matrix (features x samples) as Parquet, atomically and reproducibly.

    The index name (``feature_id`` or ``gene``) is kept; pandas metadata is stored so the index
    round-trips, but no creation time or writer version that would change the file's bytes.
    """
    if matrix.index.name is None:
        raise ValueError("expression matrix index must be named ('feature_id' or 'gene')")
    table = pa.Table.from_pandas(matrix, preserve_index=True)
    with atomic_path(path) as tmp:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            write_statistics=False,
            store_schema=True,
            use_dictionary=False,
        )


def read_matrix(path: str | Path) -> pd.DataFrame:
    """Read an expression matrix written by :func:`write_matrix`."""
    path = Path(path)
    if not path.exists():
        raise InputError("expression matrix does not exist", path=path)
    return pq.read_table(path).to_pandas()


def as_float_matrix(df: pd.DataFrame) -> np.ndarray:
    """Return a C-contiguous float64 view of a matrix DataFrame (features x samples)."""
    return np.ascontiguousarray(df.to_numpy(dtype=np.float64))
