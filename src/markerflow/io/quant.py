"""Transcript quantification files: salmon ``quant.sf`` and kallisto ``abundance.tsv``.

Column names as tximport 1.26 reads them (``tximport(type=)``):

- salmon ``quant.sf``: ``Name Length EffectiveLength TPM NumReads`` (tx ID, abundance = TPM,
  counts = NumReads, length = EffectiveLength);
- kallisto ``abundance.tsv``: ``target_id length eff_length est_counts tpm``.

A cohort points at a folder holding one sub-folder per sample (``<folder>/<sample>/quant.sf``, the
layout salmon and kallisto write) or files named ``<sample>.quant.sf`` / ``<sample>.sf`` (salmon),
``<sample>.abundance.tsv`` / ``<sample>.tsv`` (kallisto), each optionally gzipped. Every file must
list the same transcripts in the same order (tximport stops otherwise). The transcript -> gene
table (``tx2gene``) is a TSV/CSV whose first two columns are transcript and gene ID, with or without
a header row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from markerflow.errors import InputError, name_first
from markerflow.io.tables import reading

#: quant_type -> (file names in a sample folder, suffixes of per-sample files, columns:
#: transcript, counts, abundance, length).
QUANT_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, str, str, str]]] = {
    "salmon": (
        ("quant.sf", "quant.sf.gz"),
        (".quant.sf", ".quant.sf.gz", ".sf", ".sf.gz"),
        ("Name", "NumReads", "TPM", "EffectiveLength"),
    ),
    "kallisto": (
        ("abundance.tsv", "abundance.tsv.gz"),
        (".abundance.tsv", ".abundance.tsv.gz", ".tsv", ".tsv.gz"),
        ("target_id", "est_counts", "tpm", "eff_length"),
    ),
}


@dataclass
class TranscriptQuant:
    """Transcripts x samples matrices read from one folder of quantification files."""

    transcripts: np.ndarray  # transcript IDs (str), file order
    samples: list[str]
    counts: np.ndarray
    abundance: np.ndarray
    length: np.ndarray
    files: list[Path]


def _check_type(quant_type: str) -> None:
    if quant_type not in QUANT_TYPES:
        raise InputError(
            f"unknown quant_type {quant_type!r}",
            hint=f"use one of: {', '.join(QUANT_TYPES)}",
        )


def find_quant_files(folder: str | Path, quant_type: str) -> dict[str, Path]:
    """Sample name -> quantification file in ``folder`` (sorted by sample name)."""
    _check_type(quant_type)
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            f"quantification folder {str(folder)!r} does not exist or is not a folder",
            hint="set the cohort's `matrix` to the folder holding one sub-folder (or file) per "
            "sample",
        )
    names, suffixes, _ = QUANT_TYPES[quant_type]
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            for name in names:
                if (entry / name).is_file():
                    found[entry.name] = entry / name
                    break
        elif entry.is_file():
            for suffix in suffixes:
                if entry.name.endswith(suffix) and len(entry.name) > len(suffix):
                    found.setdefault(entry.name[: -len(suffix)], entry)
                    break
    if not found:
        raise InputError(
            f"no {quant_type} quantification files found in {str(folder)!r}",
            hint=f"expected <folder>/<sample>/{names[0]} or <folder>/<sample>{suffixes[0]}",
        )
    return dict(sorted(found.items()))


def read_quant_file(path: str | Path, quant_type: str) -> pd.DataFrame:
    """One salmon/kallisto file -> DataFrame (transcript, counts, abundance, length)."""
    _check_type(quant_type)
    path = Path(path)
    tx_col, counts_col, abundance_col, length_col = QUANT_TYPES[quant_type][2]
    with reading(path, f"{quant_type} quantification file"):
        table = pd.read_csv(path, sep="\t", dtype={tx_col: str}, float_precision="round_trip")
    missing = [c for c in (tx_col, counts_col, abundance_col, length_col) if c not in table]
    if missing:
        raise InputError(
            f"is not a {quant_type} file: column(s) {', '.join(missing)} missing "
            f"(columns: {', '.join(map(str, table.columns))})",
            path=path,
            hint="check the cohort's quant_type (salmon: quant.sf, kallisto: abundance.tsv)",
        )
    out = pd.DataFrame({"transcript": table[tx_col].astype(str).str.strip()})
    for name, column in (("counts", counts_col), ("abundance", abundance_col),
                         ("length", length_col)):  # fmt: skip
        values = pd.to_numeric(table[column], errors="coerce")
        bad = np.flatnonzero((values.isna() | ~np.isfinite(values) | (values < 0)).to_numpy())
        if len(bad):
            raise InputError(
                f"column {column}: value {table[column].iloc[bad[0]]!r} on line {bad[0] + 2} "
                f"(transcript {out['transcript'].iloc[bad[0]]!r}) is not a finite number >= 0 "
                f"({len(bad)} such value(s))",
                path=path,
            )
        out[name] = values.to_numpy(dtype=np.float64)
    dup = out["transcript"][out["transcript"].duplicated()].unique().tolist()
    if dup:
        raise InputError(f"duplicate transcript IDs: {name_first(dup)}", path=path)
    return out


def read_quant_folder(
    folder: str | Path, quant_type: str, samples: list[str] | None = None
) -> TranscriptQuant:
    """Read every sample's file of a folder (or only ``samples``, in that order)."""
    files = find_quant_files(folder, quant_type)
    if samples is not None:
        missing = [s for s in samples if s not in files]
        if missing:
            raise InputError(
                f"{len(missing)} sample(s) of the sample sheet have no {quant_type} file in "
                f"{str(folder)!r}: {name_first(missing)} (found: {name_first(list(files))})",
                hint="sample IDs must equal the sub-folder (or file) names",
            )
        files = {s: files[s] for s in samples}
    tables = {s: read_quant_file(p, quant_type) for s, p in files.items()}
    first_sample, first = next(iter(tables.items()))
    tx = first["transcript"].to_numpy()
    for sample, table in tables.items():
        other = table["transcript"].to_numpy()
        if len(other) != len(tx) or not np.array_equal(other, tx):
            raise InputError(
                f"sample {sample}: its transcripts differ from those of sample {first_sample} "
                "(every file must list the same transcripts in the same order)",
                path=files[sample],
                hint="quantify all samples against the same transcriptome index",
            )

    def stack(name: str) -> np.ndarray:
        return np.column_stack([t[name].to_numpy() for t in tables.values()])

    return TranscriptQuant(
        transcripts=tx.astype(str),
        samples=list(tables),
        counts=stack("counts"),
        abundance=stack("abundance"),
        length=stack("length"),
        files=list(files.values()),
    )


def read_tx2gene(path: str | Path, transcripts: np.ndarray | None = None) -> pd.DataFrame:
    """Transcript -> gene table (first two columns), as DataFrame ``tx``, ``gene`` (strings).

    The first row is a header unless its first cell is one of ``transcripts`` (or, without
    ``transcripts``, unless it looks like a transcript ID: ENST/NM_/XM_/NR_/XR_ + digits).
    """
    path = Path(path)
    sep = "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
    with reading(path, "tx2gene table", sep=sep):
        table = pd.read_csv(path, sep=sep, header=None, dtype=str, keep_default_na=False)
    if table.shape[1] < 2:
        raise InputError(
            "tx2gene table needs two columns (transcript ID, gene ID)",
            path=path,
            hint="write one transcript per line: <transcript><TAB><gene>",
        )
    first = str(table.iat[0, 0]).strip()
    if transcripts is not None:
        has_header = first not in set(map(str, transcripts))
    else:
        has_header = not re.match(r"^(ENS[A-Z]*T|[NX][MR]_)\d", first)
    if has_header:
        table = table.iloc[1:]
    out = pd.DataFrame(
        {"tx": table.iloc[:, 0].str.strip().to_numpy(), "gene": table.iloc[:, 1].str.strip()}
    )
    empty = np.flatnonzero(((out["tx"] == "") | (out["gene"] == "")).to_numpy())
    if len(empty):
        raise InputError(
            f"empty transcript or gene ID on line {empty[0] + 1 + int(has_header)} "
            f"({len(empty)} such line(s))",
            path=path,
        )
    return out.reset_index(drop=True)
