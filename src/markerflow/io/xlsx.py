"""A minimal, deterministic Office Open XML workbook writer (``.xlsx``), standard library only.

Written for ``results/tables.xlsx`` (issue 18): one sheet per table, the header row bold and
frozen. Same tables in, same bytes out: no timestamps (zip entries dated 1980-01-01, no
``docProps/core.xml``), inline strings (no shared-string table whose order could vary), fixed
compression level (deflate level 1: on the 20-cohort benchmark's workbook, 228 MB of XML, it
takes 1.2 s where level 6 took 4.1 s, for a file 18 % larger, issue 20). Format: ECMA-376
Part 1 (SpreadsheetML), the subset Excel, LibreOffice and openpyxl read:
``[Content_Types].xml``, the package and workbook relationships, ``workbook.xml``, ``styles.xml``
and one ``worksheets/sheetN.xml`` per sheet.

Cells: finite numbers as numbers (Python's shortest round-trip ``repr``, so a float64 reads back
exactly), booleans as booleans, missing values as empty cells, ``inf`` as the text ``Inf`` /
``-Inf`` (SpreadsheetML has no infinity), everything else as text (XML-escaped; characters XML 1.0
forbids removed; cut at Excel's 32,767 characters per cell).
"""

from __future__ import annotations

import functools
import math
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from markerflow.errors import InputError
from markerflow.io.tables import atomic_path

#: Excel's limits: characters in a sheet name, in a cell; rows and columns of a sheet.
MAX_SHEET_NAME = 31
MAX_CELL_TEXT = 32767
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
#: Characters Excel does not allow in a sheet name.
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
#: Characters XML 1.0 does not allow (C0 controls other than tab, newline, carriage return).
_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DATE = (1980, 1, 1, 0, 0, 0)
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def sheet_name(text: str) -> str:
    """``text`` as a valid sheet name: forbidden characters -> ``_``, at most 31 characters."""
    name = _BAD_SHEET_CHARS.sub("_", text).strip("'") or "sheet"
    return name[:MAX_SHEET_NAME]


def column_letter(j: int) -> str:
    """0-based column index -> Excel letters (0 -> A, 25 -> Z, 26 -> AA)."""
    letters = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        letters = chr(65 + r) + letters
    return letters


@functools.lru_cache(maxsize=1 << 17)
def _text(value: str) -> str:
    """The inline-string content of a text cell (cached: gene symbols and feature IDs repeat
    across the workbook's sheets)."""
    value = _BAD_XML_CHARS.sub("", value)[:MAX_CELL_TEXT]
    space = ' xml:space="preserve"' if value != value.strip() else ""
    return f"<is><t{space}>{escape(value)}</t></is>"


def _float_cells(values: np.ndarray, letter: str) -> list[str]:
    """The cells of a float64 column: finite values as numbers (``repr``), NaN as an empty
    string, ±inf as the text ``Inf``/``-Inf``."""
    number = f'<c r="{letter}{{}}"><v>{{}}</v></c>'.format
    out = list(map(number, range(2, len(values) + 2), map(repr, values.tolist())))
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        v = float(values[i])
        inf = _text("Inf" if v > 0 else "-Inf")
        out[i] = "" if math.isnan(v) else f'<c r="{letter}{i + 2}" t="inlineStr">{inf}</c>'
    return out


def _cells(column: pd.Series, letter: str) -> list[str]:
    """The ``<c>`` elements of one column (rows 2..n+1); an empty string for a missing value.

    A column is formatted at once (``map`` over its Python values, texts cached); only an object
    column that is not all text goes cell by cell. About 3x faster than formatting every cell
    in a loop (issue 20: the workbook of 20 cohorts, 16 s CPU, was the longest job of the run's
    serial tail); tests/test_tables.py pins the bytes against that loop.
    """
    values = column.to_numpy()
    rows = range(2, len(values) + 2)
    if column.dtype == bool:
        boolean = f'<c r="{letter}{{}}" t="b"><v>{{:d}}</v></c>'.format
        return list(map(boolean, rows, map(int, values.tolist())))
    if pd.api.types.is_integer_dtype(column.dtype) and column.dtype != object:
        integer = f'<c r="{letter}{{}}"><v>{{}}</v></c>'.format
        return list(map(integer, rows, map(int, values.tolist())))
    if pd.api.types.is_float_dtype(column.dtype):
        return _float_cells(values.astype(np.float64), letter)
    items = values.tolist()
    if all(type(v) is str for v in items):
        text = f'<c r="{letter}{{}}" t="inlineStr">{{}}</c>'.format
        return list(map(text, rows, map(_text, items)))
    out = []
    for r, v in zip(rows, items, strict=True):
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            out.append("")
        elif isinstance(v, (bool, np.bool_)):
            out.append(f'<c r="{letter}{r}" t="b"><v>{int(v)}</v></c>')
        elif isinstance(v, (int, np.integer)):
            out.append(f'<c r="{letter}{r}"><v>{int(v)}</v></c>')
        elif isinstance(v, (float, np.floating)) and math.isfinite(v):
            out.append(f'<c r="{letter}{r}"><v>{float(v)!r}</v></c>')
        elif isinstance(v, (float, np.floating)):  # ±inf, as in a float column (was "inf")
            out.append(f'<c r="{letter}{r}" t="inlineStr">{_text("Inf" if v > 0 else "-Inf")}</c>')
        else:
            out.append(f'<c r="{letter}{r}" t="inlineStr">{_text(str(v))}</c>')
    return out


def _sheet_xml(table: pd.DataFrame) -> str:
    letters = [column_letter(j) for j in range(table.shape[1])]
    header = "".join(
        f'<c r="{x}1" t="inlineStr" s="1">{_text(str(c))}</c>'
        for x, c in zip(letters, table.columns, strict=True)
    )
    columns = [_cells(table.iloc[:, j], x) for j, x in enumerate(letters)]
    body = [f'<row r="1">{header}</row>']
    for i, cells in enumerate(zip(*columns, strict=True), start=2):
        body.append(f'<row r="{i}">{"".join(cells)}</row>')
    pane = (
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
    )
    return (
        f'{_HEAD}<worksheet xmlns="{_NS}"><sheetViews><sheetView workbookViewId="0">{pane}'
        f"</sheetView></sheetViews><sheetData>{''.join(body)}</sheetData></worksheet>"
    )


_STYLES = (
    f'{_HEAD}<styleSheet xmlns="{_NS}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def write_xlsx(sheets: Sequence[tuple[str, pd.DataFrame]], path: str | Path) -> None:
    """Write ``(name, table)`` pairs as one workbook, a sheet each in the given order, atomically.

    Names must be unique (case-insensitive, as Excel compares them) and valid
    (:func:`sheet_name`); a table larger than a sheet allows is an :class:`InputError`.
    """
    if not sheets:
        raise InputError("a workbook needs at least one sheet", path=path)
    seen: set[str] = set()
    for name, table in sheets:
        if name != sheet_name(name) or name.lower() in seen:
            raise InputError(f"invalid or repeated sheet name {name!r}", path=path)
        seen.add(name.lower())
        if table.shape[0] + 1 > MAX_ROWS or table.shape[1] > MAX_COLUMNS:
            raise InputError(
                f"table for sheet {name!r} has {table.shape[0]} rows x {table.shape[1]} columns, "
                f"more than a sheet holds ({MAX_ROWS - 1} x {MAX_COLUMNS})",
                path=path,
            )
    n = len(sheets)
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, n + 1)
    )
    parts = {
        "[Content_Types].xml": (
            f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            f"{overrides}</Types>"
        ),
        "_rels/.rels": (
            f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'{_HEAD}<workbook xmlns="{_NS}" xmlns:r="{_REL_NS}"><sheets>'
            + "".join(
                f'<sheet name="{escape(name, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
                for i, (name, _) in enumerate(sheets, start=1)
            )
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" '
                f'Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, n + 1)
            )
            + f'<Relationship Id="rId{n + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": _STYLES,
    }
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for name, text in parts.items():
            _add(archive, name, text)
        for i, (_, table) in enumerate(sheets, start=1):
            _add(archive, f"xl/worksheets/sheet{i}.xml", _sheet_xml(table))


def _add(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    archive.writestr(info, text.encode("utf-8"), compresslevel=1)
