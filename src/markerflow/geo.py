"""GEO series-matrix and platform (GPL) tables.

A series matrix (``GSExxx_series_matrix.txt.gz``) holds ``!Series_*`` lines, ``!Sample_*`` lines
(one value per sample, tab-separated, quoted) and the expression table between
``!series_matrix_table_begin`` and ``!series_matrix_table_end``. Sample characteristics come as
several ``!Sample_characteristics_ch1`` lines of ``key: value`` cells (GEOquery's ``pData`` splits
them the same way).
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from markerflow.errors import InputError

log = logging.getLogger(__name__)

TABLE_BEGIN = "!series_matrix_table_begin"
TABLE_END = "!series_matrix_table_end"
MISSING_VALUES = ["null", "NULL", "NA", "NaN", "nan", "", "N/A", "-"]


@dataclass
class SeriesMatrix:
    expression: pd.DataFrame  # features x samples, index `feature_id`
    samples: pd.DataFrame  # index `sample` (GSM)
    series: dict[str, str] = field(default_factory=dict)
    characteristic_keys: dict[str, str] = field(default_factory=dict)  # column -> original key


def _open_text(path: Path):
    with open(path, "rb") as raw:
        magic = raw.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _column_name(key: str) -> str:
    name = re.sub(r"[^0-9a-zA-Z]+", "_", key.strip().lower()).strip("_")
    return name or "characteristic"


def _read_header(path: Path) -> tuple[list[list[str]], bool]:
    """The ``!`` lines before the table (split into cells) and whether a table follows."""
    rows: list[list[str]] = []
    try:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if line.startswith(TABLE_BEGIN):
                    return rows, True
                if not line.strip():
                    continue
                if not line.startswith("!"):
                    raise InputError(
                        f"line {number} is outside the header and the table", path=path
                    )
                rows.append(next(csv.reader([line.rstrip("\r\n")], delimiter="\t")))
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(
            f"corrupt or truncated gzip file ({exc})",
            path=path,
            hint="delete the file and download it again",
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"is not UTF-8 text (byte {exc.start})", path=path) from None
    return rows, False


def _samples_from_header(rows: list[list[str]], path: Path) -> tuple[pd.DataFrame, dict, dict]:
    series: dict[str, str] = {}
    fields: dict[str, list[str]] = {}
    characteristic_rows: list[list[str]] = []
    for cells in rows:
        tag = cells[0]
        values = [v.strip() for v in cells[1:]]
        if tag.startswith("!Series_"):
            key = tag.removeprefix("!Series_")
            series[key] = (
                "; ".join(v for v in values if v)
                if key not in series
                else (series[key] + "; " + "; ".join(v for v in values if v))
            )
        elif tag.startswith("!Sample_characteristics_ch"):
            if tag.endswith("ch2"):
                characteristic_rows.append(values)  # handled by the two-channel check below
            else:
                characteristic_rows.append(values)
        elif tag.startswith("!Sample_"):
            key = tag.removeprefix("!Sample_")
            fields.setdefault(key, values)
    if "geo_accession" not in fields:
        raise InputError("has no !Sample_geo_accession line: not a GEO series matrix", path=path)
    ids = fields["geo_accession"]
    n = len(ids)
    repeated = pd.Index(ids)[pd.Index(ids).duplicated()].unique().tolist()
    if repeated:
        raise InputError(
            f"duplicate sample IDs in !Sample_geo_accession: {', '.join(repeated[:5])}", path=path
        )
    channels = set(fields.get("channel_count", ["1"] * n))
    if channels - {"1"} or any(k.endswith("_ch2") for k in fields):
        raise InputError(
            "two-channel arrays (!Sample_channel_count 2 / *_ch2 fields) are not supported",
            path=path,
            hint="use a single-channel series, or supply a processed log-ratio matrix as a plain matrix",
        )
    samples = pd.DataFrame(index=pd.Index(ids, name="sample"))
    for key, values in fields.items():
        if len(values) != n:
            raise InputError(f"!Sample_{key} has {len(values)} values for {n} samples", path=path)
        name = key.removesuffix("_ch1")
        if name not in samples.columns:
            samples[name] = values
    keys: dict[str, str] = {}
    for i, values in enumerate(characteristic_rows, start=1):
        if len(values) != n:
            raise InputError(
                f"a !Sample_characteristics line has {len(values)} values for {n} samples",
                path=path,
            )
        parsed: dict[str, list[str | None]] = {}
        for j, cell in enumerate(values):
            if ":" in cell:
                key, value = cell.split(":", 1)
            else:
                key, value = f"characteristics_{i}", cell
            column = _column_name(key)
            keys.setdefault(column, key.strip())
            parsed.setdefault(column, [None] * n)[j] = value.strip() or None
        for column, column_values in parsed.items():
            if column in samples.columns:
                # The same key on several lines: fill the gaps of the first occurrence.
                samples[column] = samples[column].where(
                    samples[column].notna(), pd.Series(column_values, index=samples.index)
                )
            else:
                samples[column] = column_values
    samples = samples.replace({"": None})
    return samples, series, keys


def read_series_matrix_header(path: str | Path) -> pd.DataFrame:
    """Sample phenotypes of a series matrix, reading only the header (fast, for pre-run checks)."""
    path = Path(path)
    rows, _ = _read_header(path)
    samples, _, _ = _samples_from_header(rows, path)
    return samples


def read_series_matrix(path: str | Path) -> SeriesMatrix:
    """Parse a GEO series-matrix file (plain or gzipped) into expression + sample phenotypes."""
    path = Path(path)
    if not path.exists():
        raise InputError("series matrix file does not exist", path=path)
    rows, has_table = _read_header(path)
    samples, series, keys = _samples_from_header(rows, path)
    if not has_table:
        raise InputError("has no expression table (no !series_matrix_table_begin)", path=path)
    header_lines = len(rows)
    try:
        with _open_text(path) as handle:
            lines = []
            in_table = False
            for line in handle:
                if in_table:
                    if line.startswith(TABLE_END):
                        break
                    lines.append(line)
                elif line.startswith(TABLE_BEGIN):
                    in_table = True
            else:
                if in_table:
                    raise InputError(
                        f"the table has no {TABLE_END} line (truncated file?)", path=path
                    )
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(
            f"corrupt or truncated gzip file ({exc})",
            path=path,
            hint="delete the file and download it again",
        ) from None
    del header_lines
    if len(lines) <= 1:
        raise InputError(
            "the expression table is empty: the series' data are probably in supplementary files "
            "(typical of RNA-seq series)",
            path=path,
            hint="download the supplementary count matrix and use source `matrix` with a sample sheet",
        )
    try:
        table = pd.read_csv(
            io.StringIO("".join(lines)),
            sep="\t",
            quotechar='"',
            index_col=0,
            na_values=MISSING_VALUES,
            keep_default_na=False,
            dtype=str,
        )
    except pd.errors.ParserError as exc:
        raise InputError(f"malformed expression table: {exc}", path=path) from None
    table.index = table.index.astype(str).str.strip()
    table.index.name = "feature_id"
    table.columns = [str(c).strip() for c in table.columns]
    if list(table.columns) != list(samples.index):
        raise InputError("the table's sample columns differ from !Sample_geo_accession", path=path)
    duplicated = table.index[table.index.duplicated()].unique().tolist()
    if duplicated:
        raise InputError(
            f"duplicate probe IDs in the table: {', '.join(duplicated[:5])}", path=path
        )
    numeric = table.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & table.notna()
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise InputError(
            f"non-numeric value {table.iat[row, col]!r} at probe {table.index[row]!r}, sample "
            f"{table.columns[col]!r}",
            path=path,
        )
    infinite = np.isinf(numeric.to_numpy(dtype=np.float64))
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        raise InputError(
            f"infinite value {table.iat[row, col]!r} at probe {table.index[row]!r}, sample "
            f"{table.columns[col]!r} ({int(infinite.sum())} infinite cell(s) in all)",
            path=path,
            hint="use null/NA for missing values; infinite intensities are not valid data",
        )
    # float() per cell parses exactly (pd.to_numeric's fast parser may be off by one ulp)
    expression = table.astype(np.float64)
    return SeriesMatrix(
        expression=expression, samples=samples, series=series, characteristic_keys=keys
    )


#: Probe -> symbol column of GEO platform tables, by platform family (first match wins).
SYMBOL_COLUMNS = (
    "symbol",
    "Gene Symbol",
    "GENE_SYMBOL",
    "Symbol",
    "ILMN_Gene",
    "gene_symbol",
    "gene_assignment",
)


def read_platform_table(
    path: str | Path, id_column: str | None = None, symbol_column: str | None = None
) -> pd.Series:
    """Probe ID -> gene symbol from a two-column table or a GEO GPL/annot table.

    ``gene_assignment`` cells of Affymetrix Gene ST platforms ('NM_x // SYMBOL // ...') give their
    second field; several genes stay joined by ' /// ' so multi-mapping probes can be dropped.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("platform annotation table does not exist", path=path)
    try:
        with _open_text(path) as handle:
            text = handle.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"corrupt or truncated gzip file ({exc})", path=path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"is not UTF-8 text (byte {exc.start})", path=path) from None
    begin = text.find("!platform_table_begin")
    if begin >= 0:
        text = text[text.index("\n", begin) + 1 :]
        end = text.find("!platform_table_end")
        text = text[:end] if end >= 0 else text
    else:
        text = "\n".join(line for line in text.splitlines() if not line.startswith(("#", "!", "^")))
    try:
        table = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError("platform annotation table is empty", path=path) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"is not a valid tab-separated table: {exc}", path=path) from None
    id_col = id_column or next(
        (c for c in ("probe_id", "ID", "ID_REF") if c in table.columns), table.columns[0]
    )
    sym_col = symbol_column or next((c for c in SYMBOL_COLUMNS if c in table.columns), None)
    if sym_col is None or sym_col not in table.columns or id_col not in table.columns:
        raise InputError(
            f"cannot find the probe ID / gene symbol columns (columns: {', '.join(table.columns)})",
            path=path,
            hint="pass a two-column TSV (probe_id, symbol) as the cohort's annotation",
        )
    symbols = table[sym_col].astype(str)
    if sym_col == "gene_assignment":
        symbols = symbols.map(_gene_assignment_symbols)
    result = pd.Series(symbols.str.strip().to_numpy(), index=table[id_col].astype(str).str.strip())
    repeated = result.index.duplicated()
    if repeated.any():
        n_symbols = result.groupby(level=0).nunique()
        conflicting = n_symbols.index[n_symbols > 1]
        if len(conflicting):
            probe = conflicting[0]
            raise InputError(
                f"probe ID {probe!r} appears on several rows with different symbols "
                f"({', '.join(sorted(map(str, result.loc[[probe]].unique())))}); "
                f"{len(conflicting)} conflicting probe(s) in all",
                path=path,
                hint="keep one row per probe ID in the annotation table",
            )
        log.warning("%s: %d repeated identical probe rows merged", path, int(repeated.sum()))
        result = result[~repeated]
    return result.replace({"": None, "---": None})


def _gene_assignment_symbols(cell: str) -> str:
    genes = []
    for part in cell.split("///"):
        fields = [f.strip() for f in part.split("//")]
        if len(fields) > 1 and fields[1] and fields[1] != "---" and fields[1] not in genes:
            genes.append(fields[1])
    return " /// ".join(genes)


def needs_log2(values: np.ndarray) -> bool:
    """GEO2R's rule for values that are not yet on log2 scale.

    R: ``qx <- quantile(ex, c(0, .25, .5, .75, .99, 1), na.rm=TRUE);
    LogC <- (qx[5] > 100) || (qx[6]-qx[1] > 50 && qx[2] > 0)``.
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[~np.isnan(finite)]
    if finite.size == 0:
        return False
    qx = np.quantile(finite, [0.0, 0.25, 0.5, 0.75, 0.99, 1.0])  # R type 7 == numpy linear
    return bool(qx[4] > 100 or (qx[5] - qx[0] > 50 and qx[1] > 0))
