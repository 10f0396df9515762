"""Gene symbol hygiene: current approved symbols through aliases, and Excel-mangled names repaired.

A gene renamed between platforms (``HIST1H2BK`` on an older array, ``H2BC12`` in newer RNA-seq data)
must be one gene in every cohort, or it drops out of the meta-analysis and of a validation cohort's
signature score. :func:`harmonise_symbols` brings every name to the gene's current symbol with the
offline, versioned table ``resources/annotation/hs_symbol_aliases.tsv.gz`` (built from
org.Hs.eg.db's NCBI gene_info by ``resources/scripts/make_symbol_aliases.py``).

The rule is limma's ``alias2SymbolTable`` (limma 3.54, reading ``org.Hs.egSYMBOL`` and
``org.Hs.egALIAS2EG``): a name that is a current symbol is kept; otherwise, a name that is an alias
(previous or alias symbol) of some gene becomes that gene's current symbol; an alias of several genes
takes the first gene in the table's order (lowest Entrez ID; limma warns "Multiple symbols ignored"),
counted here as ``aliases_ambiguous``. Names the table does not know (``LOC`` IDs, probe IDs, symbols
newer than the table) are kept unchanged.

Excel-mangled names (Zeeberg et al. 2004, BMC Bioinformatics 5:80; Ziemann et al. 2016, Genome
Biology 17:177): ``1-Dec``, ``Dec-01`` and 5-digit date serials such as ``36951`` (1 March 2001 in
Excel's 1900 date system) were symbols such as ``DEC1``, ``MARCH1`` or ``SEPT7`` before a
spreadsheet read them as dates. Such a name is repaired when exactly one gene of the table is named
by any reading of it (``<prefix><day>`` with the month's historical gene prefixes: ``SEPT7`` for
``7-Sep``, ``MARCH5``/``MARC5`` for ``5-Mar``) - ``7-Sep`` becomes ``SEPTIN7`` - and dropped when no gene or several are
(``1-Mar`` was ``MARCH1`` or ``MARC1``, today ``MARCHF1`` or ``MTARC1``). Deviation from limma, which
has no such repair. Serials are read only where the names are symbols (see ``min_known_share``):
Agilent and other platforms use numeric probe IDs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from markerflow.errors import InputError
from markerflow.io.gmt import GeneSet
from markerflow.io.tables import reading

#: the bundled table (org.Hs.eg.db 3.16.0, NCBI Gene 2022-Sep12; see its .version.tsv)
DEFAULT_ALIAS_TABLE = Path("resources/annotation/hs_symbol_aliases.tsv.gz")

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
#: the gene-name prefixes behind each month (Ziemann et al. 2016): SEPT1-14 (septins), MARCH1-11 and
#: MARC1-2, DEC1; other months stand for themselves (``FEB1``). The bare three letters are not read as
#: SEP/MAR: ``SEP1`` and ``MAR5`` are unrelated aliases (XRN1, RTL5) and would make every name ambiguous.
_MONTH_PREFIXES = {"MAR": ("MARCH", "MARC"), "SEP": ("SEPT",), "DEC": ("DEC",)}
_MONTH = "(" + "|".join(_MONTHS) + ")[A-Z]*"
_MONTH_NAMED = (
    "(?:"
    + "|".join(sorted({p for m in _MONTHS for p in _MONTH_PREFIXES.get(m, (m,))}))
    + r")\d{1,2}"
)
_DAY_MONTH = re.compile(rf"^(\d{{1,2}})-{_MONTH}$", re.IGNORECASE)
_MONTH_DAY = re.compile(rf"^{_MONTH}-(\d{{1,2}})$", re.IGNORECASE)
_SERIAL = re.compile(r"^\d{5}$")
_EXCEL_EPOCH = dt.date(1899, 12, 30)  # Excel's 1900 system, with its phantom 29 Feb 1900


@dataclass(frozen=True)
class AliasTable:
    """Current symbols and the alias -> current symbol look-up (first gene in table order)."""

    current: frozenset[str]
    alias_to_symbol: dict[str, str]  #: aliases that are not current symbols -> limma's choice
    alias_genes: dict[str, frozenset[str]]  #: ``<month prefix><number>`` names -> current symbols
    ambiguous: frozenset[str]  #: aliases (not current symbols) of several genes
    source: str = ""


def _read_text_table(path: str | Path) -> pd.DataFrame:
    # every cell is text: aliases such as "NA" or "NULL" are names, not missing values
    with reading(path):
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def read_alias_table(path: str | Path = DEFAULT_ALIAS_TABLE) -> AliasTable:
    """Read an alias table (columns ``alias``, ``entrez``, ``symbol``; first gene per alias wins)."""
    table = _read_text_table(path)
    missing = [c for c in ("alias", "entrez", "symbol") if c not in table.columns]
    if missing:
        raise InputError(
            f"symbol alias table lacks column(s) {', '.join(missing)}",
            path=path,
            hint="rebuild it with resources/scripts/make_symbol_aliases.py",
        )
    table = table[(table["alias"] != "") & (table["symbol"] != "")]
    # limma's first match: the table is sorted by alias then Entrez ID (numerically) - re-sort to be sure
    order = np.lexsort((pd.to_numeric(table["entrez"], errors="coerce").to_numpy(), table["alias"]))
    table = table.iloc[order]
    current = frozenset(table["symbol"])
    others = table[~table["alias"].isin(current)]
    first = others.drop_duplicates("alias", keep="first")
    # only the names an Excel-mangled name can stand for (<prefix><number>) are needed as sets
    month_named = table[table["alias"].str.fullmatch(_MONTH_NAMED)]
    genes = month_named.groupby("alias", sort=False)["symbol"].agg(frozenset)
    n_genes = others.groupby("alias", sort=False)["entrez"].nunique()
    version_file = Path(str(path).removesuffix(".tsv.gz") + ".version.tsv")
    source = ""
    if version_file.exists():
        meta = _read_text_table(version_file)
        values = dict(zip(meta["key"], meta["value"], strict=False))
        source = (
            f"org.Hs.eg.db {values.get('package_version', '?')}, "
            f"NCBI Gene {values.get('entrez_gene_date', '?')}"
        )
    return AliasTable(
        current=current,
        alias_to_symbol=dict(zip(first["alias"], first["symbol"], strict=True)),
        alias_genes=genes.to_dict(),
        ambiguous=frozenset(n_genes.index[n_genes.to_numpy() > 1]),
        source=source,
    )


@dataclass
class HarmoniseReport:
    """What :func:`harmonise_symbols` changed (written into the genes stage's mapping report)."""

    symbols_in: int = 0
    symbols_current: int = 0
    symbols_renamed: int = 0
    aliases_ambiguous: int = 0
    symbols_unknown: int = 0
    excel_repaired: int = 0
    excel_dropped: int = 0
    renamed_examples: list[str] = field(default_factory=list)
    excel_examples: list[str] = field(default_factory=list)
    skipped_reason: str = ""

    def as_dict(self, prefix: str = "symbols_") -> dict[str, object]:
        """Metric -> value, for the mapping report."""
        out: dict[str, object] = {}
        for key, value in self.__dict__.items():
            name = key if key.startswith(("symbols_", "excel_")) else prefix + key
            out[name] = "; ".join(value) if isinstance(value, list) else value
        return out


def excel_readings(name: str) -> list[tuple[int, str]]:
    """The (number, month) readings of an Excel-mangled name, or [] if it is not one.

    ``1-Dec`` and ``Dec-01`` read as (1, "DEC"). A date serial is the date a spreadsheet stored:
    ``36951`` is 1 March 2001. A serial on the 1st of a month has two readings, because Excel parses
    ``SEPT2`` as 2 September (the day is the gene's number) but ``Sep-02`` as September 2002 (the
    year is): 37500 (1 Sep 2002) reads as SEPT1 or SEPT2.
    """
    match = _DAY_MONTH.match(name)
    if match:
        return [(int(match.group(1)), match.group(2).upper())]
    match = _MONTH_DAY.match(name)
    if match:
        return [(int(match.group(2)), match.group(1).upper())]
    if _SERIAL.match(name):
        date = _EXCEL_EPOCH + dt.timedelta(days=int(name))
        month = _MONTHS[date.month - 1]
        readings = [(date.day, month)]
        if date.day == 1 and 1 < date.year % 100 <= 31:
            readings.append((date.year % 100, month))
        return readings
    return []


def repair_excel_name(name: str, table: AliasTable) -> str | None:
    """The one current symbol an Excel-mangled name stands for, or None (no gene, or several).

    Every reading must name the same single gene: ``5-Mar`` (MARCH5 -> MARCHF5; MARC5 is no gene)
    is repaired, ``1-Mar`` (MARCHF1 or MTARC1) and the serial of 1 Sep 2015 (SEPT1, or SEPT15 which
    names no gene) are not.
    """
    genes: set[frozenset[str]] = set()
    for number, month in excel_readings(name):
        named: frozenset[str] = frozenset()
        for prefix in _MONTH_PREFIXES.get(month, (month,)):
            named |= table.alias_genes.get(f"{prefix}{number}", frozenset())
        genes.add(named)
    if len(genes) != 1:
        return None
    (only,) = genes
    return next(iter(only)) if len(only) == 1 else None


def harmonise_symbols(
    names: pd.Series, table: AliasTable, *, min_known_share: float = 0.5
) -> tuple[pd.Series, HarmoniseReport]:
    """Current symbols for ``names`` (same index); dropped Excel-mangled names become missing.

    Missing names stay missing. When fewer than ``min_known_share`` of the names are known to the
    table (current or alias) the names are probably not symbols (probe IDs): nothing is changed
    and the report says why.
    """
    text = names.astype("string")
    present = text.notna()
    values = text[present].astype(str)
    report = HarmoniseReport(symbols_in=int(present.sum()))
    is_current = values.isin(table.current)
    is_alias = ~is_current & values.isin(table.alias_to_symbol.keys())
    known = float((is_current | is_alias).mean()) if len(values) else 0.0
    if len(values) and known < min_known_share:
        report.skipped_reason = (
            f"only {known:.1%} of the names are known symbols (< {min_known_share:.0%}): "
            "not symbols, left unchanged"
        )
        return text, report
    renamed = values[is_alias].map(table.alias_to_symbol)
    rest = values[~is_current & ~is_alias]
    mangled = rest.map(lambda n: bool(excel_readings(n)))
    repaired = rest[mangled].map(lambda n: repair_excel_name(n, table))
    out = text.copy()
    out.loc[renamed.index] = renamed
    out.loc[repaired.index] = repaired.astype("string")  # None -> missing (dropped)
    report.symbols_current = int(is_current.sum())
    report.symbols_renamed = int((renamed != values[is_alias]).sum())
    report.aliases_ambiguous = int(values[is_alias].isin(table.ambiguous).sum())
    report.symbols_unknown = int((~mangled).sum())
    report.excel_repaired = int(repaired.notna().sum())
    report.excel_dropped = int(repaired.isna().sum())
    report.renamed_examples = [
        f"{a}->{b}" for a, b in zip(values[is_alias][:5], renamed[:5], strict=True)
    ]
    report.excel_examples = [
        f"{a}->{b if isinstance(b, str) else 'dropped'}"
        for a, b in zip(rest[mangled][:5], repaired[:5], strict=True)
    ]
    return out, report


def harmonise_gene_sets(
    sets: Mapping[str, GeneSet], table: AliasTable
) -> tuple[dict[str, GeneSet], int]:
    """Gene-set members brought to current symbols by the same rule as the expression data, so an
    enrichment library written with older names (KEGG 2021: ``DDX58``, now ``RIGI``) matches the
    harmonised genes. Excel-mangled members are dropped when they cannot be repaired; a set keeps
    each gene once. Returns the sets and the number of distinct member names renamed."""
    members = pd.Series(sorted({gene for gene_set in sets.values() for gene in gene_set.genes}))
    harmonised, report = harmonise_symbols(members, table, min_known_share=0.0)
    lookup = dict(
        zip(members, harmonised.astype(object).where(harmonised.notna(), None), strict=True)
    )
    out = {
        key: replace(
            gene_set,
            genes=tuple(
                dict.fromkeys(g for g in (lookup[m] for m in gene_set.genes) if g is not None)
            ),
        )
        for key, gene_set in sets.items()
    }
    return out, report.symbols_renamed + report.excel_repaired
