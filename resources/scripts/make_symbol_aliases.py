"""Build resources/annotation/hs_symbol_aliases.tsv.gz from Bioconductor's org.Hs.eg.db (run from the root).

    python resources/scripts/make_symbol_aliases.py [--sqlite PATH]

org.Hs.eg.db (Debian package r-bioc-org.hs.eg.db) ships NCBI Gene's human gene_info as an SQLite
database (``extdata/org.Hs.eg.sqlite``): table ``gene_info`` holds each Entrez gene's current
(approved) symbol, table ``alias`` its previous and alias symbols (the ``Synonyms`` column of NCBI's
gene_info, plus the symbol itself) - the same tables limma's ``alias2Symbol`` and
``alias2SymbolTable`` read through ``org.Hs.egSYMBOL`` and ``org.Hs.egALIAS2EG``.

Output, one row per (alias, gene) pair, sorted by alias then Entrez ID (numerically), columns
``alias``, ``entrez``, ``symbol`` (the gene's current symbol); the alias equals the symbol on the
gene's own row. The source's versions (package version, Entrez Gene date) go to
``resources/annotation/hs_symbol_aliases.version.tsv``. gzip mtime is fixed: reruns give the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import re
import sqlite3
from pathlib import Path

import pandas as pd

DEFAULT_SQLITE = Path("/usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite")
OUT = Path("resources/annotation/hs_symbol_aliases.tsv.gz")
VERSION_OUT = Path("resources/annotation/hs_symbol_aliases.version.tsv")


def package_version(sqlite_path: Path) -> str:
    """org.Hs.eg.db's version from the DESCRIPTION file next to its extdata folder."""
    description = sqlite_path.parent.parent / "DESCRIPTION"
    match = re.search(r"^Version:\s*(\S+)", description.read_text(), re.MULTILINE)
    return match.group(1) if match else "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", type=Path, default=DEFAULT_SQLITE)
    args = parser.parse_args()
    with sqlite3.connect(f"file:{args.sqlite}?mode=ro", uri=True) as db:
        table = pd.read_sql_query(
            "SELECT a.alias_symbol AS alias, g.gene_id AS entrez, i.symbol AS symbol "
            "FROM alias a JOIN genes g ON a._id = g._id JOIN gene_info i ON i._id = g._id",
            db,
        )
        meta = dict(db.execute("SELECT name, value FROM metadata").fetchall())
    own = pd.DataFrame(
        {"alias": table["symbol"], "entrez": table["entrez"], "symbol": table["symbol"]}
    )
    table = pd.concat([table, own]).drop_duplicates()
    table["_entrez"] = table["entrez"].astype(int)
    table = table.sort_values(["alias", "_entrez"], kind="mergesort").drop(columns="_entrez")
    buffer = io.StringIO()
    table.to_csv(buffer, sep="\t", index=False, lineterminator="\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buffer.getvalue().encode())
    versions = pd.DataFrame(
        {
            "key": ["source", "package", "package_version", "entrez_gene_date", "rows", "genes"],
            "value": [
                "org.Hs.eg.db (Bioconductor), tables gene_info + alias",
                "r-bioc-org.hs.eg.db",
                package_version(args.sqlite),
                meta.get("EGSOURCEDATE", "unknown"),
                str(len(table)),
                str(table["entrez"].nunique()),
            ],
        }
    )
    versions.to_csv(VERSION_OUT, sep="\t", index=False, lineterminator="\n")
    print(f"{OUT}: {len(table)} alias rows for {table['entrez'].nunique()} genes")


if __name__ == "__main__":
    main()
