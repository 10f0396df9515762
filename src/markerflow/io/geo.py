"""GEO files: series matrices, platform (GPL) annotation tables, GEO2R's log2 rule.

- Series matrix (``GSExxx_series_matrix.txt.gz``, NCBI's format read by GEOquery's
  ``getGEO(GSEMatrix=TRUE)``): ``!Series_*`` header lines, one ``!Sample_*`` line per field with one
  tab-separated, double-quoted value per sample, then the expression table between
  ``!series_matrix_table_begin`` and ``!series_matrix_table_end`` (first row ``"ID_REF"`` + GSM
  IDs). The table is parsed with :func:`pandas.read_csv` (C engine); the header in Python.
- ``!Sample_characteristics_ch1`` cells are ``key: value``; several such lines may hold different
  keys, and GEO does not keep one key per line when samples differ, so keys are parsed per cell (as
  GEOquery's ``pData`` ``characteristics_ch1.N`` / ``<key>:ch1`` columns). Keys become lowercase
  snake-case column names (``disease state`` -> ``disease_state``); the original spellings are kept
  in :attr:`SeriesMatrix.characteristic_keys` (and ``samples.attrs["characteristic_keys"]``). A cell without
  ``key:`` goes to ``characteristics_<line number>``.
- Platform tables: the shipped two-column TSVs (``probe_id``, ``symbol``), GEO ``.annot`` files
  (``Gene symbol``), and GPL SOFT tables (``Gene Symbol``, ``GENE_SYMBOL``, ``Symbol``,
  ``gene_assignment`` whose second `` // `` field is the symbol), with a per-platform column rule.
- Scale: GEO2R's rule (NCBI GEO2R R script, "log2 transform" step): with
  ``qx = quantile(ex, c(0, .25, .5, .75, .99, 1), na.rm=TRUE)`` (R type 7), values are log2-
  transformed when ``qx[5] > 100 || (qx[6] - qx[1] > 50 && qx[2] > 0)``; values <= 0 become NaN.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from markerflow.errors import InputError, name_first
from markerflow.io.tables import reading, utf8_error_line

log = logging.getLogger(__name__)

TABLE_BEGIN = "!series_matrix_table_begin"
TABLE_END = "!series_matrix_table_end"
PLATFORM_TABLE_BEGIN = "!platform_table_begin"
PLATFORM_TABLE_END = "!platform_table_end"
#: Strings read as missing values (table and sample fields).
NA_VALUES = ["", "null", "NULL", "Null", "NA", "na", "NaN", "nan", "N/A", "#N/A"]
MISSING_SYMBOLS = {"", "---", "NA", "nan", "NaN", "null"}

#: Sample fields renamed to short column names (others: ``!Sample_x`` -> ``x``).
SAMPLE_FIELDS = {
    "!Sample_title": "title",
    "!Sample_geo_accession": "geo_accession",
    "!Sample_source_name_ch1": "source_name",
    "!Sample_platform_id": "platform_id",
}
#: Multi-line free-text sample fields not kept as columns (protocols, processing, contacts).
SKIPPED_SAMPLE_FIELDS = re.compile(
    r"^!Sample_(.*_protocol.*|data_processing|contact_.*|hyb_protocol|scan_protocol|"
    r"label_protocol.*|growth_protocol.*|treatment_protocol.*|extract_protocol.*)$"
)

#: Symbol column per platform, in order of preference (case-insensitive), for GPL SOFT tables;
#: GEO ``.annot`` files always have ``Gene symbol`` (tried first for every platform).
_AFFY_IVT = "GPL570 GPL96 GPL97 GPL571 GPL8300 GPL80 GPL201 GPL3921 GPL13667 GPL15207 GPL1352"
_AFFY_ST = "GPL6244 GPL5175 GPL5188 GPL11532 GPL17586 GPL23126"
_AGILENT = "GPL6480 GPL13497 GPL17077 GPL4133 GPL6848 GPL1708 GPL14550"
_ILLUMINA = "GPL6947 GPL10558 GPL6102 GPL6104 GPL6883 GPL6884 GPL14951 GPL6106"
PLATFORM_SYMBOL_COLUMNS: dict[str, tuple[str, ...]] = {
    # Affymetrix 3' IVT arrays: "Gene Symbol"
    **dict.fromkeys(_AFFY_IVT.split(), ("Gene Symbol",)),
    # Affymetrix gene/exon ST arrays: "gene_assignment" ('NM_x // SYMBOL // title // ...')
    **dict.fromkeys(_AFFY_ST.split(), ("gene_assignment",)),
    # Agilent: "GENE_SYMBOL"
    **dict.fromkeys(_AGILENT.split(), ("GENE_SYMBOL",)),
    # Illumina BeadChips: "Symbol", then "ILMN_Gene"
    **dict.fromkeys(_ILLUMINA.split(), ("Symbol", "ILMN_Gene")),
}
#: Tried after the platform's own columns.
GENERIC_SYMBOL_COLUMNS = (
    "symbol",
    "Gene symbol",
    "GENE_SYMBOL",
    "gene_symbol",
    "GeneSymbol",
    "Symbol",
    "ILMN_Gene",
    "gene_assignment",
)
GENERIC_ID_COLUMNS = ("probe_id", "ID", "ID_REF", "probe", "ProbeID")


@dataclass
class SeriesMatrix:
    """A parsed GEO series matrix."""

    expression: pd.DataFrame  # features x samples, float64, index `feature_id`, columns GSM IDs
    samples: pd.DataFrame  # one row per GSM, index `sample`
    series: dict[str, str | list[str]]  # `!Series_x` -> value (list when the field repeats)
    characteristic_keys: dict[str, str] = field(default_factory=dict)  # column -> original key


# --------------------------------------------------------------------------------------- reading


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _read_bytes(path: Path, what: str) -> bytes:
    """Whole (decompressed) file content; errors name the file."""
    with reading(path, what):
        if _is_gzip(path):
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            f"is not UTF-8 text (invalid byte on line {utf8_error_line(data)})",
            path=path,
            hint="re-save the file as UTF-8",
        ) from None


def _iter_header_lines(path: Path, stop: str):
    """Yield lines (without newline) until a line starting with ``stop`` (streamed; cheap)."""
    with reading(path, "series matrix file"):
        opener = gzip.open if _is_gzip(path) else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            for line in handle:
                if line.startswith(stop):
                    return
                yield line.rstrip("\r\n")


def _split_fields(line: str) -> list[str]:
    """Tab-separated, optionally double-quoted fields (GEO quoting: "" inside quotes)."""
    return next(csv.reader([line], delimiter="\t", quotechar='"'))


def normalise_key(key: str) -> str:
    """Characteristic key -> column name: lowercase, runs of non-alphanumerics -> ``_``."""
    name = re.sub(r"[^0-9a-z]+", "_", key.strip().lower()).strip("_")
    return name or "characteristic"


def _missing(value: str) -> bool:
    return value.strip() in NA_VALUES


@dataclass
class _Header:
    series: dict[str, str | list[str]]
    samples: pd.DataFrame
    characteristics: dict[str, str]


def _parse_header(lines, path: Path) -> _Header:
    series: dict[str, str | list[str]] = {}
    sample_lines: list[tuple[str, list[str]]] = []
    seen_any = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.startswith("!Series_"):
            seen_any = True
            fields = _split_fields(line)
            key = fields[0][len("!Series_") :]
            value = "\t".join(fields[1:])
            if key in series:
                previous = series[key]
                series[key] = (
                    [*previous, value] if isinstance(previous, list) else [previous, value]
                )
            else:
                series[key] = value
        elif line.startswith("!Sample_"):
            seen_any = True
            sample_lines.append((line.split("\t", 1)[0], _split_fields(line)[1:]))
        elif not seen_any and not line.startswith(("!", "#", "^")):
            raise InputError(
                f"is not a GEO series matrix (line {number} starts with {line[:40]!r}, expected "
                "!Series_ / !Sample_ header lines)",
                path=path,
                hint="give a GSExxx_series_matrix.txt(.gz) file, or use source `matrix` with a "
                "plain matrix + sample sheet",
            )
    if not sample_lines:
        raise InputError(
            "is not a GEO series matrix (no !Sample_ lines)",
            path=path,
            hint="give a GSExxx_series_matrix.txt(.gz) file, or use source `matrix`",
        )
    _reject_two_channel(sample_lines, path)
    samples, characteristics = _sample_table(sample_lines, path)
    return _Header(series=series, samples=samples, characteristics=characteristics)


def _reject_two_channel(sample_lines: list[tuple[str, list[str]]], path: Path) -> None:
    for key, values in sample_lines:
        two = key == "!Sample_channel_count" and any(v.strip() not in ("", "1") for v in values)
        if two or key.endswith("_ch2"):
            raise InputError(
                f"is a two-channel array series ({key} present): two-colour log-ratios are not "
                "supported",
                path=path,
                hint="use single-channel data, or compute per-sample values yourself and give them "
                "as source `matrix` with a sample sheet",
            )


def _sample_table(
    sample_lines: list[tuple[str, list[str]]], path: Path
) -> tuple[pd.DataFrame, dict[str, str]]:
    n = max(len(values) for _, values in sample_lines)
    columns: dict[str, list[object]] = {}
    characteristics: dict[str, str] = {}
    char_values: dict[str, list[object]] = {}
    char_line = 0
    for key, values in sample_lines:
        if len(values) != n:
            raise InputError(
                f"header line {key} has {len(values)} values but other lines have {n} (one per "
                "sample expected)",
                path=path,
            )
        if key == "!Sample_characteristics_ch1":
            char_line += 1
            for i, cell in enumerate(values):
                cell = cell.strip()
                if _missing(cell):
                    continue
                if ":" in cell:
                    raw_key, value = (part.strip() for part in cell.split(":", 1))
                else:
                    raw_key, value = "", cell
                name = normalise_key(raw_key) if raw_key else f"characteristics_{char_line}"
                if name in SAMPLE_FIELDS.values():
                    name = f"{name}_characteristic"
                characteristics.setdefault(name, raw_key or name)
                column = char_values.setdefault(name, [np.nan] * n)
                if _missing(value):
                    continue
                if isinstance(column[i], str):  # same key twice for one sample
                    column[i] = f"{column[i]}; {value}"
                else:
                    column[i] = value
            continue
        if SKIPPED_SAMPLE_FIELDS.match(key):
            continue
        name = SAMPLE_FIELDS.get(key) or key[len("!Sample_") :].lower().removesuffix("_ch1")
        base, k = name, 2
        while name in columns:  # repeated single fields: description, description_2, ...
            name, k = f"{base}_{k}", k + 1
        columns[name] = [np.nan if _missing(v) else v.strip() for v in values]
    for name, char_column in char_values.items():
        target, k = name, 2
        while target in columns:
            target, k = f"{name}_{k}", k + 1
        if target != name:
            characteristics[target] = characteristics.pop(name)
        columns[target] = list(char_column)
    if "geo_accession" not in columns:
        raise InputError(
            "series matrix has no !Sample_geo_accession line",
            path=path,
            hint="the file must list the GSM accession of every sample",
        )
    samples = pd.DataFrame(columns)
    ids = samples["geo_accession"].astype("string")
    if ids.isna().any():
        raise InputError("empty !Sample_geo_accession value", path=path)
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise InputError(f"duplicate sample accessions: {name_first(dup)}", path=path)
    samples.index = pd.Index(ids.astype(str).tolist(), name="sample")
    samples.attrs["characteristic_keys"] = dict(characteristics)
    return samples, characteristics


def read_series_matrix_header(path: str | Path) -> pd.DataFrame:
    """The sample table of a series matrix, reading only the lines before the expression table.

    Same columns as :attr:`SeriesMatrix.samples`; used at DAG-build time to check phenotype values.
    """
    path = Path(path)
    return _parse_header(_iter_header_lines(path, TABLE_BEGIN), path).samples


def read_series_matrix(path: str | Path) -> SeriesMatrix:
    """Parse a GEO series matrix (plain or gzipped) into expression, samples and series fields.

    Values ``null``, ``NA`` and empty cells become NaN. Errors (:class:`InputError`) name the file
    and the row/sample: not a series matrix, no table (RNA-seq series keep their data in
    supplementary files), two-channel arrays, ragged rows, duplicate IDs, non-numeric values.
    """
    path = Path(path)
    data = _read_bytes(path, "series matrix file")
    data = data.removeprefix(b"\xef\xbb\xbf")
    begin = data.find(("\n" + TABLE_BEGIN).encode())
    header_text = _decode(data if begin < 0 else data[:begin], path)
    header = _parse_header(header_text.splitlines(), path)
    if begin < 0:
        _no_table(header, path, "has no !series_matrix_table_begin line")
    start = data.find(b"\n", begin + 1) + 1
    end = data.find(("\n" + TABLE_END).encode(), start - 1)
    if end < 0:
        raise InputError(
            "the expression table has no !series_matrix_table_end line (file truncated?)",
            path=path,
            hint="download the file again",
        )
    table_bytes = data[start : end + 1]  # the table stays bytes: pandas decodes it
    del data
    table_line0 = header_text.count("\n") + 3  # 1-based file line of the table's header row
    expression = _parse_table(table_bytes, path, table_line0)
    if expression.shape[0] == 0:
        _no_table(header, path, "has an empty expression table")
    samples = header.samples
    missing = [s for s in expression.columns if s not in samples.index]
    if missing:
        raise InputError(
            f"table column(s) {name_first(missing)} are not among the !Sample_geo_accession values",
            path=path,
        )
    absent = [s for s in samples.index if s not in expression.columns]
    if absent:
        raise InputError(
            f"sample(s) {name_first(absent)} of the header have no column in the table",
            path=path,
        )
    samples = samples.loc[list(expression.columns)]
    samples.attrs["characteristic_keys"] = dict(header.characteristics)
    return SeriesMatrix(expression, samples, header.series, header.characteristics)


def _no_table(header: _Header, path: Path, what: str) -> None:
    supplementary = header.series.get("supplementary_file", [])
    files = [supplementary] if isinstance(supplementary, str) else list(supplementary)
    types = {str(v).lower() for v in header.samples.get("type", pd.Series(dtype=object)).dropna()}
    rnaseq = "sra" in types or any("rna-seq" in str(v).lower() for v in header.series.values())
    raise InputError(
        f"{what}: it holds sample metadata but no expression values"
        + (" (an RNA-seq series: GEO keeps its data in supplementary files" if rnaseq else " (")
        + (f"; supplementary: {', '.join(files[:3])})" if files else ")"),
        path=path,
        hint="download the processed count matrix from the series' supplementary files and use "
        "source `matrix` (data_type counts) with a sample sheet",
    )


def _line_field_counts(data: bytes) -> np.ndarray:
    """Number of tab-separated fields per line (vectorised over the bytes)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    if len(newlines) == 0 or newlines[-1] != len(arr) - 1:
        newlines = np.append(newlines, len(arr))
    tabs = np.flatnonzero(arr == 9)
    upto = np.searchsorted(tabs, newlines)
    per_line = np.diff(np.concatenate([[0], upto]))
    starts = np.concatenate([[0], newlines[:-1] + 1])
    empty = starts >= newlines  # blank lines
    return np.where(empty, 0, per_line + 1)


def _parse_table(data: bytes, path: Path, first_line: int) -> pd.DataFrame:
    counts = _line_field_counts(data)
    nonblank = np.flatnonzero(counts > 0)
    if len(nonblank) == 0:
        raise InputError("the expression table has no header row", path=path)
    width = counts[nonblank[0]]
    bad = nonblank[counts[nonblank] != width]
    if len(bad):
        raise InputError(
            f"ragged expression table: line {first_line + bad[0]} has {counts[bad[0]]} fields, the "
            f"header has {width} ({len(bad)} such line(s))",
            path=path,
            hint="the file is damaged; download it again",
        )
    first = data[: data.find(b"\n")] if b"\n" in data else data
    header = _split_fields(_decode(first, path).rstrip("\r"))
    id_name = header[0] or "ID_REF"
    # pandas refuses repeated names with a bare ValueError: name them first
    names = pd.Index([id_name, *header[1:]])
    repeated = names[names.duplicated()].unique().tolist()
    if repeated:
        raise InputError(
            f"duplicate sample columns in the expression table's header (line {first_line}): "
            f"{name_first(repeated)}",
            path=path,
            hint="each sample must have one column; the file is damaged or not a series matrix",
        )
    with reading(path, "expression table"):
        table = pd.read_csv(
            io.BytesIO(data),
            sep="\t",
            quotechar='"',
            header=0,
            names=[id_name, *header[1:]],
            dtype={id_name: str},
            na_values=NA_VALUES,
            keep_default_na=False,
            skip_blank_lines=True,
            engine="c",
            encoding="utf-8",
            low_memory=False,
            float_precision="round_trip",  # exact decimal -> float64, as R's read.table
        )
    ids = table.pop(id_name)
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise InputError(f"empty feature ID on table row {row + 1}", path=path)
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise InputError(
            f"duplicate feature IDs in the table (first: {name_first(dup)})",
            path=path,
            hint="each row must have a unique ID_REF",
        )
    for column in table.columns:
        if table[column].dtype.kind not in "fiub":
            values = table[column]
            numeric = pd.to_numeric(values, errors="coerce")
            bad_rows = np.flatnonzero((numeric.isna() & values.notna()).to_numpy())
            if len(bad_rows):
                row = int(bad_rows[0])
                raise InputError(
                    f"non-numeric value {values.iloc[row]!r} in sample {column}, row "
                    f"{ids.iloc[row]!r} ({len(bad_rows)} such value(s) in that sample)",
                    path=path,
                    hint="series-matrix values must be numbers; null/NA/empty mean missing",
                )
            table[column] = numeric
    table = table.astype(np.float64)
    infinite = np.argwhere(np.isinf(table.to_numpy()))
    if len(infinite):
        row, col = infinite[0]
        raise InputError(
            f"infinite value {table.iat[row, col]} at probe {ids.iloc[row]!r}, sample "
            f"{table.columns[col]!r} ({len(infinite)} such value(s))",
            path=path,
            hint="series-matrix values must be finite numbers; use null/NA for missing values",
        )
    table.index = pd.Index(ids.str.strip().tolist(), name="feature_id")
    table.columns = [str(c).strip() for c in table.columns]
    return table


# ------------------------------------------------------------------------------ platform tables


_PLATFORM_LINE = re.compile(r"^\^PLATFORM\s*=\s*(\S+)[ \t]*$", re.MULTILINE)


def _platform_block(text: str, platform: str | None, path: Path) -> str:
    """The ``^PLATFORM`` block of ``platform`` when ``text`` holds several (else ``text``).

    Minimal split of a SOFT file into its platform blocks (each runs from its ``^PLATFORM = GPLx``
    line to the next one); only blocks that carry a ``!platform_table_begin`` count.
    """
    starts = [(m.start(), m.group(1).upper()) for m in _PLATFORM_LINE.finditer(text)]
    if len(starts) < 2:
        return text
    blocks: dict[str, str] = {}
    for i, (start, gpl) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        block = text[start:end]
        if PLATFORM_TABLE_BEGIN in block and gpl not in blocks:
            blocks[gpl] = block
    if len(blocks) < 2 and (platform is None or platform.upper() in blocks):
        return next(iter(blocks.values())) if blocks else text
    listed = ", ".join(blocks)
    if platform is None:
        raise InputError(
            f"annotation file holds {len(blocks)} platform tables ({listed}); which one matches "
            "the cohort is not known",
            path=path,
            hint="set the cohort sheet's `platform` column to the cohort's GPL (the series "
            "matrix's !Series_platform_id), or give a table of that platform alone",
        )
    if platform.upper() not in blocks:
        raise InputError(
            f"annotation file holds platform tables {listed}, but not one of the cohort's "
            f"platform {platform}",
            path=path,
            hint="give the annotation table of the cohort's platform",
        )
    return blocks[platform.upper()]


def _platform_id(header_lines: list[str], path: Path) -> str | None:
    for line in header_lines:
        match = re.match(r"^(?:!Annotation_platform|\^PLATFORM)\s*=\s*(GPL\d+)", line)
        if match:
            return match.group(1)
    match = re.search(r"(GPL\d+)", path.name)
    return match.group(1) if match else None


def _pick_column(columns: list[str], candidates: tuple[str, ...] | list[str]) -> str | None:
    lower = {c.lower(): c for c in columns}
    for candidate in candidates:
        if candidate.lower() in lower:
            return lower[candidate.lower()]
    return None


def symbol_from_gene_assignment(values: pd.Series) -> pd.Series:
    """Affymetrix ``gene_assignment`` -> symbol(s).

    A cell is ``///``-separated assignments ``NM_x // SYMBOL // title // cytoband // EntrezID``;
    the 2nd field of each is a symbol. Distinct symbols are kept in order and joined by ``' /// '``
    (one gene -> that symbol; several genes -> a multi-mapping probe, dropped by
    :func:`markerflow.stages.genes.collapse_probes` by default); ``---`` -> missing.
    """
    parts = values.astype("string").str.split("///", regex=False).explode()
    symbols = parts.str.split("//", n=2, regex=False).str.get(1).astype("string").str.strip()
    symbols = symbols[symbols.notna() & ~symbols.isin(list(MISSING_SYMBOLS))]
    frame = pd.DataFrame({"row": symbols.index, "symbol": symbols.to_numpy()}).drop_duplicates()
    joined = frame.groupby("row", sort=False)["symbol"].agg(" /// ".join)
    return joined.reindex(range(len(values))).set_axis(values.index)


def read_platform_table(
    path: str | Path,
    id_column: str | None = None,
    symbol_column: str | None = None,
    platform: str | None = None,
) -> pd.Series:
    """Probe ID -> gene symbol from a platform table (plain or gzipped).

    Accepts a two-column TSV (``probe_id``, ``symbol``), a GEO ``.annot`` file or a GPL SOFT file
    (the table between ``!platform_table_begin`` and ``!platform_table_end``). A SOFT file with
    several ``^PLATFORM`` blocks (a series' family file) is split into its blocks and the one of
    ``platform`` (the cohort's GPL) is read; without ``platform``, or when it is not among them,
    an InputError lists the platforms (using the first silently gave GPL96 genes for GPL97 data,
    issue 19). The symbol column is ``symbol_column`` if given, else the platform's column
    (:data:`PLATFORM_SYMBOL_COLUMNS`), else the first of :data:`GENERIC_SYMBOL_COLUMNS` present.
    Empty, ``---`` and NA symbols are missing (NaN). Returns a Series indexed by ``probe_id``
    named ``symbol``.
    """
    path = Path(path)
    text = _decode(_read_bytes(path, "platform table"), path)
    text = _platform_block(text, platform, path)
    begin = text.find(PLATFORM_TABLE_BEGIN)
    if begin >= 0 and (begin == 0 or text[begin - 1] == "\n"):
        header_lines = text[:begin].splitlines()
        start = text.find("\n", begin) + 1
        end = text.find("\n" + PLATFORM_TABLE_END, start - 1)
        if end < 0:
            raise InputError(
                "platform table has no !platform_table_end line (file truncated?)", path=path
            )
        body = text[start : end + 1]
    else:
        header_lines = [
            line for line in text.splitlines()[:200] if line.startswith(("!", "^", "#"))
        ]
        body = "\n".join(line for line in text.splitlines() if not line.startswith(("!", "^", "#")))
    del text
    with reading(path, "platform table"):
        table = pd.read_csv(
            io.StringIO(body),
            sep="\t",
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_MINIMAL,
            low_memory=False,
            index_col=False,
        )
    return platform_symbols(table, _platform_id(header_lines, path), path, id_column, symbol_column)


def platform_symbols(
    table: pd.DataFrame,
    platform: str | None,
    path: str | Path,
    id_column: str | None = None,
    symbol_column: str | None = None,
) -> pd.Series:
    """Probe ID -> symbol from a platform table already read as strings (rules as
    :func:`read_platform_table`; used for the platform tables of SOFT family files too)."""
    path = Path(path)
    columns = [str(c).strip() for c in table.columns]
    repeated_columns = sorted({c for c in columns if columns.count(c) > 1})
    if repeated_columns:
        raise InputError(
            f"platform table has repeated column name(s): {name_first(repeated_columns)}",
            path=path,
            hint="give each column of the table a distinct name",
        )
    table.columns = columns
    if id_column is None:
        id_column = _pick_column(columns, GENERIC_ID_COLUMNS) or columns[0]
    elif id_column not in columns:
        raise InputError(
            f"platform table has no ID column {id_column!r} (columns: {', '.join(columns[:20])})",
            path=path,
        )
    if symbol_column is None:
        candidates = ("Gene symbol", *PLATFORM_SYMBOL_COLUMNS.get(platform or "", ()))
        symbol_column = _pick_column(columns, [*candidates, *GENERIC_SYMBOL_COLUMNS])
        if symbol_column is None:
            raise InputError(
                f"platform table{f' of {platform}' if platform else ''} has no gene-symbol column "
                f"(columns: {', '.join(columns[:20])})",
                path=path,
                hint="name the column holding symbols (e.g. `Gene Symbol`) for this platform, or "
                "give a two-column TSV probe_id<TAB>symbol",
            )
    elif symbol_column not in columns:
        raise InputError(
            f"platform table has no symbol column {symbol_column!r} "
            f"(columns: {', '.join(columns[:20])})",
            path=path,
        )
    ids = table[id_column].str.strip()
    symbols = table[symbol_column]
    if symbol_column.lower() == "gene_assignment":
        symbols = symbol_from_gene_assignment(symbols.reset_index(drop=True))
    symbols = symbols.astype(object).where(symbols.notna(), "")
    symbols = pd.Series([str(s).strip() for s in symbols], dtype=object)
    symbols = symbols.mask(symbols.isin(MISSING_SYMBOLS))
    keep = ids.notna() & (ids != "")
    ids, symbols = ids[keep], symbols[keep.to_numpy()]
    pairs = pd.DataFrame({"id": ids.to_numpy(), "symbol": symbols.to_numpy()})
    repeated = pairs[pairs["id"].duplicated(keep=False)]
    if len(repeated):
        conflicting = repeated.groupby("id")["symbol"].nunique(dropna=False)
        conflicting = conflicting[conflicting > 1]
        if len(conflicting):
            probe = conflicting.index[0]
            found = sorted(map(str, repeated.loc[repeated["id"] == probe, "symbol"].unique()))
            raise InputError(
                f"probe ID {probe!r} appears with different symbols ({', '.join(found)}); "
                f"{len(conflicting)} such probe(s)",
                path=path,
                hint="keep one row per probe in the annotation table",
            )
        log.warning(
            "%s: %d repeated identical probe rows merged", path, int(ids.duplicated().sum())
        )
        first = ~pairs["id"].duplicated().to_numpy()
        ids, symbols = ids[first], symbols[first]
    log.info(
        "%s: platform %s, probe column %r, symbol column %r: %d probes, %d with a symbol",
        path,
        platform or "?",
        id_column,
        symbol_column,
        len(ids),
        int(symbols.notna().sum()),
    )
    return pd.Series(
        symbols.to_numpy(), index=pd.Index(ids.tolist(), name="probe_id"), name="symbol"
    )


# ----------------------------------------------------------------------------------- log2 scale


#: The quantiles of GEO2R's rule (``qx``), probabilities in R's order.
GEO2R_QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.99, 1.0)


def raw_quantiles(values: np.ndarray) -> np.ndarray:
    """GEO2R's ``qx = quantile(ex, c(0, .25, .5, .75, .99, 1), na.rm=TRUE)`` of (array) values.

    R's default type 7 = numpy's ``linear``; infinite values are ignored like missing ones; an
    empty array when no value is finite. The values are taken in memory order and the one copy
    of the finite values is partitioned in place: the same order statistics, so the same
    quantiles as ``np.quantile(values[np.isfinite(values)], ...)``, without two further copies
    of the matrix (issue 20).
    """
    x = np.asarray(values, dtype=np.float64).ravel(order="K")
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.empty(0)
    return np.quantile(x, GEO2R_QUANTILES, overwrite_input=True)


def log2_rule(quantiles: np.ndarray) -> bool:
    """GEO2R's ``LogC = qx[5] > 100 || (qx[6] - qx[1] > 50 && qx[2] > 0)`` on
    :func:`raw_quantiles` (False when there are none)."""
    if len(quantiles) == 0:
        return False
    q0, q25, _q50, _q75, q99, q100 = quantiles
    return bool(q99 > 100 or (q100 - q0 > 50 and q25 > 0))


def needs_log2(values: np.ndarray) -> bool:
    """GEO2R's rule: should these (array) values be log2-transformed?

    :func:`log2_rule` of :func:`raw_quantiles`: ``qx = quantile(ex, c(0, .25, .5, .75, .99, 1),
    na.rm=TRUE)`` (R's default type 7 = numpy's ``linear``); ``LogC = qx[5] > 100 || (qx[6] -
    qx[1] > 50 && qx[2] > 0)``. Infinite values are ignored like missing ones; an all-missing
    matrix returns False.
    """
    return log2_rule(raw_quantiles(values))


def apply_log2(matrix: pd.DataFrame | np.ndarray) -> tuple[pd.DataFrame | np.ndarray, bool]:
    """GEO2R: if :func:`needs_log2`, set values <= 0 to NaN and take log2; else return unchanged.

    Returns ``(matrix, transformed)``; a DataFrame keeps its index and columns (float64).
    """
    values = np.asarray(matrix, dtype=np.float64)
    if not needs_log2(values):
        return matrix, False
    with np.errstate(invalid="ignore", divide="ignore"):
        logged = np.where(values > 0, np.log2(np.where(values > 0, values, 1.0)), np.nan)
    if isinstance(matrix, pd.DataFrame):
        return pd.DataFrame(logged, index=matrix.index, columns=matrix.columns), True
    return logged, True
