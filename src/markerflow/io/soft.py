"""GEO SOFT files: series families (``GSExxx_family.soft.gz``) and curated datasets (``GDSxxx.soft.gz``).

SOFT (Simple Omnibus Format in Text, NCBI GEO's format read by GEOquery's ``getGEO(GSEMatrix=FALSE)``
and ``getGEO("GDSxxx")``) is a sequence of entities, each opened by a ``^TYPE = accession`` line:

- ``^SERIES``, ``^PLATFORM``, ``^SAMPLE`` (family files): ``!Entity_key = value`` attribute lines
  (repeated keys such as ``!Sample_characteristics_ch1`` keep every value, in order), ``#column =
  description`` lines, and a tab-separated table between ``!platform_table_begin`` /
  ``!sample_table_begin`` and the matching ``_end`` line (platform: ``ID`` + annotation columns;
  sample: ``ID_REF``, ``VALUE`` and optional extra columns);
- ``^DATASET`` (GDS): ``!dataset_*`` attributes, ``^SUBSET`` entities (``!subset_description``,
  ``!subset_sample_id`` comma-separated GSMs, ``!subset_type`` e.g. ``disease state``), and one table
  between ``!dataset_table_begin`` / ``!dataset_table_end`` (``ID_REF``, ``IDENTIFIER`` = gene symbol,
  one column per GSM).

A family file with several platforms is split per platform: samples are selected by
``!Sample_platform_id`` and the cohort names the platform (an :class:`InputError` lists them
otherwise). The expression matrix has the platform table's probe order (probes absent from the
platform table follow in first-sample order), values ``VALUE`` as float64 (``null``/empty -> NaN).
Sample phenotypes use the series-matrix conventions of :mod:`markerflow.io.geo` (``title``,
``geo_accession``, ``source_name``, one column per characteristic key), so a SOFT cohort is
configured exactly like a series-matrix cohort. GDS phenotypes: one column per subset type
(``disease state`` -> ``disease_state``) holding the subset description of each sample.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from markerflow.errors import InputError, name_first
from markerflow.io import geo
from markerflow.io.tables import reading

_ENTITY = re.compile(r"^\^(\w+)\s*=\s*(.*?)\s*$")


@dataclass
class SoftEntity:
    """One ``^TYPE = accession`` block: attributes (key -> values in order) and its table."""

    kind: str  # SERIES, PLATFORM, SAMPLE, DATASET, SUBSET, DATABASE
    accession: str
    attributes: dict[str, list[str]] = field(default_factory=dict)
    body: str | None = None  # the table's text (parsed on first use of `table`)
    path: Path | None = None
    _table: pd.DataFrame | None = None

    @property
    def table(self) -> pd.DataFrame | None:
        """The entity's table, all columns as strings (None without one)."""
        if self._table is None and self.body is not None:
            self._table = _read_table(self.body, self.path or Path("?"), self)
        return self._table

    def first(self, key: str) -> str | None:
        """The first value of attribute ``key`` (None if absent)."""
        values = self.attributes.get(key)
        return values[0] if values else None


def _text(path: Path) -> str:
    return geo._decode(geo._read_bytes(path, "SOFT file"), path)


def parse_soft(path: str | Path, *, tables: bool = True) -> list[SoftEntity]:
    """Every entity of a SOFT file in file order; ``tables=False`` skips the (large) tables.

    Tables are kept as text and parsed (pandas C parser, strings) when first used.
    """
    path = Path(path)
    text = _text(path)
    entities: list[SoftEntity] = []
    pos, n = 0, len(text)
    current: SoftEntity | None = None
    line_no = 0
    while pos < n:
        end = text.find("\n", pos)
        end = n if end < 0 else end
        line = text[pos:end].rstrip("\r")
        line_no += 1
        pos = end + 1
        if not line:
            continue
        if line.startswith("^"):
            match = _ENTITY.match(line)
            if not match:
                raise InputError(f"line {line_no}: malformed entity line {line[:60]!r}", path=path)
            current = SoftEntity(match.group(1).upper(), match.group(2))
            entities.append(current)
        elif line.startswith("!") and line.lower().endswith("_table_begin"):
            if current is None:
                raise InputError(f"line {line_no}: table before any ^ entity line", path=path)
            marker = "\n" + line[: -len("begin")] + "end"
            stop = text.find(marker, pos - 1)
            if stop < 0:
                raise InputError(
                    f"line {line_no}: {line} has no matching {marker.strip()} line (file "
                    "truncated?)",
                    path=path,
                    hint="download the file again",
                )
            body = text[pos : stop + 1]
            line_no += body.count("\n") + 1
            pos = text.find("\n", stop + 1) + 1 or n
            owner = current
            if line.lower() == "!dataset_table_begin":  # follows the ^SUBSET blocks of a GDS
                owner = next((e for e in reversed(entities) if e.kind == "DATASET"), current)
            if tables:
                owner.body, owner.path = body, path
        elif line.startswith("!") and current is not None:
            key, _, value = line[1:].partition("=")
            current.attributes.setdefault(key.strip(), []).append(value.strip())
    if not entities:
        raise InputError(
            "is not a GEO SOFT file (no ^SERIES/^PLATFORM/^SAMPLE/^DATASET lines)",
            path=path,
            hint="give a GSExxx_family.soft(.gz) or GDSxxx.soft(.gz) file",
        )
    return entities


def _read_table(body: str, path: Path, entity: SoftEntity) -> pd.DataFrame:
    with reading(path, f"table of {entity.kind.lower()} {entity.accession}"):
        table = pd.read_csv(io.StringIO(body), sep="\t", dtype=str, keep_default_na=False,
                            quoting=3, low_memory=False)  # fmt: skip
    table.columns = [str(c).strip() for c in table.columns]
    return table


def read_soft_platforms(path: str | Path) -> dict[str, pd.DataFrame]:
    """GPL accession -> platform table (strings) of every ``^PLATFORM`` block of a SOFT file.

    The one SOFT reader for annotation given as a (family or GPL) SOFT file with several platform
    tables; feed a table to :func:`markerflow.io.geo.platform_symbols` for probe -> symbol.
    """
    out = {}
    for entity in parse_soft(path):
        if entity.kind == "PLATFORM" and entity.table is not None:
            out[entity.accession] = entity.table
    if not out:
        raise InputError("SOFT file has no platform table (^PLATFORM ... !platform_table_begin)",
                         path=path)  # fmt: skip
    return out


def _choose_platform(platforms: list[str], wanted: str | None, path: Path) -> str:
    if wanted:
        if wanted not in platforms:
            raise InputError(
                f"SOFT file has no samples on platform {wanted} (platforms: "
                f"{', '.join(platforms) or 'none'})",
                path=path,
                hint="fix the `platform` cell of the cohort sheet",
            )
        return wanted
    if len(platforms) != 1:
        raise InputError(
            f"SOFT family file holds samples of {len(platforms)} platforms "
            f"({', '.join(platforms)}); a cohort is one platform",
            path=path,
            hint="set `platform` (one of " + ", ".join(platforms) + ") in the cohort sheet, one "
            "cohort row per platform",
        )
    return platforms[0]


def _sample_lines(samples: list[SoftEntity]) -> list[tuple[str, list[str]]]:
    """Per-sample attributes as series-matrix lines: the k-th value of a key is line k."""
    keys: dict[str, int] = {}
    for sample in samples:
        for key, values in sample.attributes.items():
            keys[key] = max(keys.get(key, 0), len(values))
    lines = []
    for key, repeats in keys.items():
        for k in range(repeats):
            values = [
                (s.attributes.get(key, [])[k] if k < len(s.attributes.get(key, [])) else "")
                for s in samples
            ]
            lines.append((f"!{key}", values))
    return lines


def soft_platforms_of_samples(entities: list[SoftEntity]) -> list[str]:
    """Sorted distinct ``!Sample_platform_id`` values of a family file's samples."""
    return sorted({s.first("Sample_platform_id") or "" for s in entities if s.kind == "SAMPLE"})


def read_soft_family(
    path: str | Path, platform: str | None = None, *, tables: bool = True
) -> geo.SeriesMatrix:
    """A GSE family SOFT file -> the samples (and values) of one platform, as a series matrix.

    ``tables=False`` reads only the sample attributes (the expression frame is then empty); used at
    DAG-build time to check phenotype values.
    """
    path = Path(path)
    entities = parse_soft(path, tables=tables)
    samples = [e for e in entities if e.kind == "SAMPLE"]
    if not samples:
        raise InputError("SOFT file has no ^SAMPLE entities (is it a GSE family file?)", path=path)
    chosen = _choose_platform(soft_platforms_of_samples(entities), platform, path)
    samples = [s for s in samples if (s.first("Sample_platform_id") or "") == chosen]
    series_entity = next((e for e in entities if e.kind == "SERIES"), None)
    series: dict[str, str | list[str]] = {}
    if series_entity is not None:
        for key, values in series_entity.attributes.items():
            name = key.removeprefix("Series_")
            series[name] = values[0] if len(values) == 1 else list(values)
    lines = _sample_lines(samples)
    geo._reject_two_channel(lines, path)
    pheno, characteristics = geo._sample_table(lines, path)
    if not tables:
        empty = pd.DataFrame(index=pd.Index([], name="feature_id"), columns=pheno.index)
        return geo.SeriesMatrix(empty, pheno, series, characteristics)
    platform_entity = next(
        (e for e in entities if e.kind == "PLATFORM" and e.accession == chosen), None
    )
    expression = _sample_values(samples, platform_entity, path)
    pheno = pheno.loc[list(expression.columns)]
    pheno.attrs["characteristic_keys"] = dict(characteristics)
    return geo.SeriesMatrix(expression, pheno, series, characteristics)


def _numeric(values: pd.Series, what: str, path: Path) -> np.ndarray:
    text = values.str.strip()
    missing = text.isin(geo.NA_VALUES)
    numbers = pd.to_numeric(text.mask(missing), errors="coerce")
    bad = np.flatnonzero((numbers.isna() & ~missing).to_numpy())
    if len(bad):
        raise InputError(
            f"{what}: non-numeric value {text.iloc[bad[0]]!r} on table row {bad[0] + 1} "
            f"({len(bad)} such value(s))",
            path=path,
            hint="SOFT VALUE cells must be numbers; null/NA/empty mean missing",
        )
    return numbers.to_numpy(dtype=np.float64)


def _sample_values(
    samples: list[SoftEntity], platform: SoftEntity | None, path: Path
) -> pd.DataFrame:
    order: list[str] = []
    if platform is not None and platform.table is not None and len(platform.table.columns):
        order = platform.table.iloc[:, 0].str.strip().tolist()
    columns = {}
    for sample in samples:
        table = sample.table
        if table is None or "ID_REF" not in table.columns or "VALUE" not in table.columns:
            raise InputError(
                f"sample {sample.accession} has no ID_REF/VALUE table",
                path=path,
                hint="use the full family file (GSExxx_family.soft.gz), not a header-only export",
            )
        ids = table["ID_REF"].str.strip()
        if ids.duplicated().any():
            raise InputError(
                f"sample {sample.accession}: duplicate ID_REF {name_first(ids[ids.duplicated()])}",
                path=path,
            )
        columns[sample.accession] = pd.Series(
            _numeric(table["VALUE"], f"sample {sample.accession}", path), index=ids.to_numpy()
        )
    seen = set(order)
    extra = [i for s in columns.values() for i in s.index if i not in seen]
    index = pd.Index(list(dict.fromkeys([*order, *extra])), name="feature_id")
    frame = pd.DataFrame({k: v.reindex(index) for k, v in columns.items()}, index=index)
    return frame.astype(np.float64)


@dataclass
class GdsFile:
    """A parsed GDS: values (probes x GSM), phenotypes from subsets, probe -> symbol."""

    expression: pd.DataFrame
    samples: pd.DataFrame
    identifiers: pd.Series  # ID_REF -> IDENTIFIER (gene symbol as GEO curated it)
    dataset: dict[str, str | list[str]]
    subset_keys: dict[str, str]  # column -> subset_type as written


def read_gds(path: str | Path, *, tables: bool = True) -> GdsFile:
    """A GDS SOFT file -> values, one phenotype column per subset type, ID_REF -> IDENTIFIER."""
    path = Path(path)
    entities = parse_soft(path, tables=tables)
    dataset = next((e for e in entities if e.kind == "DATASET"), None)
    if dataset is None:
        raise InputError("SOFT file has no ^DATASET entity (is it a GDS file?)", path=path,
                         hint="a GSE family file needs source `soft`")  # fmt: skip
    info = {k.removeprefix("dataset_"): (v[0] if len(v) == 1 else list(v))
            for k, v in dataset.attributes.items()}  # fmt: skip
    # GEO repeats ``^DATASET = GDSxxx`` just before the table: use whichever block holds it
    holder = next((e for e in entities if e.kind == "DATASET" and e.body is not None), dataset)
    subsets = [e for e in entities if e.kind == "SUBSET"]
    gsm: list[str] = []
    if tables:
        if holder.table is None:
            raise InputError("GDS file has no !dataset_table_begin table", path=path)
        gsm = [c for c in holder.table.columns if c not in ("ID_REF", "IDENTIFIER")]
    for subset in subsets:
        for cell in subset.attributes.get("subset_sample_id", []):
            gsm += [s.strip() for s in cell.split(",") if s.strip()]
    gsm = list(dict.fromkeys(gsm))
    pheno = pd.DataFrame(index=pd.Index(gsm, name="sample"))
    pheno["geo_accession"] = gsm
    keys: dict[str, str] = {}
    for subset in subsets:
        kind = subset.first("subset_type") or "subset"
        name = geo.normalise_key(kind)
        keys.setdefault(name, kind)
        if name not in pheno.columns:
            pheno[name] = pd.Series(np.nan, index=pheno.index, dtype=object)
        value = subset.first("subset_description") or subset.accession
        for cell in subset.attributes.get("subset_sample_id", []):
            for s in (x.strip() for x in cell.split(",")):
                if s in pheno.index:
                    previous = pheno.at[s, name]
                    pheno.at[s, name] = value if pd.isna(previous) else f"{previous}; {value}"
    pheno.attrs["characteristic_keys"] = dict(keys)
    table = holder.table if tables else None
    if table is None:
        empty = pd.DataFrame(index=pd.Index([], name="feature_id"), columns=pheno.index)
        return GdsFile(empty, pheno, pd.Series(dtype=object), info, keys)
    if "ID_REF" not in table.columns:
        raise InputError("GDS table has no ID_REF column", path=path)
    ids = table["ID_REF"].str.strip()
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise InputError(f"GDS table: duplicate ID_REF {name_first(dup)}", path=path)
    values = {s: _numeric(table[s], f"GDS sample {s}", path) for s in gsm if s in table.columns}
    expression = pd.DataFrame(values, index=pd.Index(ids.tolist(), name="feature_id"))
    identifiers = (
        table["IDENTIFIER"].str.strip()
        if "IDENTIFIER" in table.columns
        else pd.Series("", ids.index)
    )
    symbols = pd.Series(identifiers.to_numpy(), index=pd.Index(ids.tolist(), name="probe_id"),
                        name="symbol")  # fmt: skip
    symbols = symbols.mask(symbols.isin(list(geo.MISSING_SYMBOLS)) | symbols.str.startswith("--"))
    pheno = pheno.loc[list(expression.columns)]
    pheno.attrs["characteristic_keys"] = dict(keys)
    return GdsFile(expression, pheno, symbols, info, keys)


def soft_annotation(path: str | Path, source: str, platform: str | None = None) -> pd.Series:
    """Probe -> symbol of a SOFT cohort: the chosen platform's table (family) or IDENTIFIER (GDS)."""
    path = Path(path)
    if source == "gds":
        return read_gds(path).identifiers
    entities = parse_soft(path)
    chosen = _choose_platform(soft_platforms_of_samples(entities), platform, path)
    entity = next((e for e in entities if e.kind == "PLATFORM" and e.accession == chosen), None)
    if entity is None or entity.table is None:
        raise InputError(
            f"SOFT family file has no platform table for {chosen}",
            path=path,
            hint="give a probe -> symbol table in the cohort's `annotation` column",
        )
    return geo.platform_symbols(entity.table.copy(), chosen, path)


def write_annotation(symbols: pd.Series, path: str | Path) -> None:
    """Write probe_id -> symbol as a gzipped two-column TSV (no timestamp: identical bytes)."""
    import gzip

    from markerflow.io.tables import atomic_path

    frame = symbols.rename("symbol").rename_axis("probe_id").reset_index()
    text = frame.to_csv(sep="\t", index=False, na_rep="", lineterminator="\n")
    with atomic_path(path) as tmp:
        tmp.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
