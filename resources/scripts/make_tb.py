"""Derive the bundled tuberculosis cohorts in resources/tb/ from ../shared/data/tb (run from the root).

    python resources/scripts/make_tb.py [--shared ../shared]

Seven real GEO whole-blood/PBMC cohorts as curated by Bioconductor's curatedTBData (gene-symbol
level; see resources/README.md for sources). For every cohort the script writes
``resources/tb/<GSE>/<GSE>_expr.tsv.gz`` (genes x samples, first column ``gene``) and
``resources/tb/<GSE>/<GSE>_samples.tsv`` (one row per matrix column). Steps, in order:

1. Excel-mangled row names are dropped and counted: dates such as ``1-Dec``/``Mar-01`` and serial
   numbers such as ``36951`` (the gene behind each name cannot be told from the name alone without a
   date -> symbol repair table; a later issue restores them).
2. GSE34608 holds 23,092 gene-symbol rows and 7,720 Agilent probe rows (``A_23_P...``, ``A_24_P...``,
   ``A_32_P...``). Probe rows are mapped with GEO's GPL6480 table
   (../shared/data/geo/platform_annotations/GPL6480_soft.tsv.gz); probes without a symbol or
   annotated with several genes (``///``) are dropped. When several rows end on one symbol (a symbol
   row and probe rows, or several probes) the row with the highest mean expression is kept (MaxMean,
   Miller et al. 2011, as markerflow.stages.probes does; ties: the symbol row, then the first probe).
3. Genes absent from every other platform (present in only one of the seven cohorts) are dropped:
   they can enter neither the meta-analysis (>= 2 cohorts) nor a validation cohort's score.
4. Values are rounded to 4 decimals (scale untouched: the workflow's qc rule decides log2).
5. Sample sheets keep the phenotype columns the config uses (``TBStatus``, ``MeasurementTime``,
   ``PatientID``, ``Tissue``, ``Gender``, ``Age``, ``GeographicalRegion``, ``Outlier`` where present)
   and add ``TBStatus_visit`` = ``TBStatus`` + ``_`` + ``MeasurementTime`` (``PTB_0_months``,
   ``PTB_2_months``, ``Control_0_months``, ...; ``TBStatus`` alone when there is no time), so a
   cohort sheet can keep the baseline samples of the repeated-measures cohort GSE19435.
Outputs are written with a fixed gzip mtime, so reruns give identical bytes.
"""

from __future__ import annotations

import argparse
import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd

COHORTS = ("GSE19439", "GSE19435", "GSE107991", "GSE107992", "GSE101705", "GSE42825", "GSE34608")
MIXED_COHORT = "GSE34608"
AGILENT_PROBE = re.compile(r"^A_\d+_P\d+$")
_MONTH = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
#: Excel's renamings: day-month (``1-Dec``), month-day (``Dec-01``) and date serials (``36951``).
EXCEL_MANGLED = re.compile(rf"^(\d{{1,2}}-{_MONTH}|{_MONTH}-\d{{1,2}}|\d+)$", re.IGNORECASE)
SHEET_COLUMNS = (
    "TBStatus",
    "MeasurementTime",
    "PatientID",
    "Tissue",
    "Gender",
    "Age",
    "GeographicalRegion",
    "Outlier",
)
DECIMALS = 4


def gzip_text(text: str, dest: Path) -> None:
    with open(dest, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(text.encode("utf-8"))


def drop_mangled(matrix: pd.DataFrame, cohort: str) -> pd.DataFrame:
    """Drop Excel-mangled row names (step 1), printing how many and which."""
    mangled = matrix.index.str.fullmatch(EXCEL_MANGLED)
    names = ", ".join(matrix.index[mangled][:8])
    print(f"{cohort}: {int(mangled.sum())} Excel-mangled row names dropped ({names} ...)")
    return matrix.loc[~mangled]


def map_agilent_rows(matrix: pd.DataFrame, platform: pd.Series, cohort: str) -> pd.DataFrame:
    """Map probe rows to symbols and collapse symbols with several rows by MaxMean (step 2)."""
    is_probe = matrix.index.str.fullmatch(AGILENT_PROBE)
    symbols = pd.Series(matrix.index, index=matrix.index, dtype="string")
    mapped = platform.reindex(matrix.index[is_probe]).astype("string").str.strip()
    mapped = mapped.mask(mapped.isin(["", "---"]) | mapped.str.contains("///", regex=False))
    symbols[is_probe] = mapped.to_numpy()
    unmapped = int(symbols.isna().sum())
    keep = symbols.notna()
    table = matrix.loc[keep].copy()
    table["_symbol"] = symbols[keep].to_numpy()
    table["_is_probe"] = is_probe[keep.to_numpy()]
    table["_mean"] = table.drop(columns=["_symbol", "_is_probe"]).mean(axis=1)
    table["_order"] = np.arange(len(table))
    # MaxMean; ties go to the symbol row (is_probe False sorts first), then the first probe.
    table = table.sort_values(
        ["_symbol", "_mean", "_is_probe", "_order"], ascending=[True, False, True, True]
    )
    best = table.drop_duplicates("_symbol", keep="first")
    n_symbol_rows = int((~is_probe).sum())
    probe_won = best["_is_probe"].sum()
    overlapping = len(set(table.loc[table["_is_probe"], "_symbol"]) & set(matrix.index[~is_probe]))
    print(
        f"{cohort}: {n_symbol_rows} symbol rows + {int(is_probe.sum())} probe rows; {unmapped} "
        f"probes without a (single) GPL6480 symbol dropped; {overlapping} probe symbols already had "
        f"a symbol row; {len(best)} genes after MaxMean ({int(probe_won)} from a probe row)"
    )
    out = best.set_index("_symbol").drop(columns=["_is_probe", "_mean", "_order"])
    out.index.name = "gene"
    return out


def sample_sheet(pheno: pd.DataFrame) -> pd.DataFrame:
    """The phenotype columns the TB config uses plus ``TBStatus_visit`` (step 5)."""
    sheet = pheno[["sample", *[c for c in SHEET_COLUMNS if c in pheno.columns]]].copy()
    time = sheet["MeasurementTime"].astype("string")
    sheet["TBStatus_visit"] = (sheet["TBStatus"] + "_" + time).fillna(sheet["TBStatus"])
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default="../shared")
    parser.add_argument("--out", default="resources/tb")
    args = parser.parse_args()
    tb = Path(args.shared) / "data" / "tb"
    platform = pd.read_csv(
        Path(args.shared) / "data/geo/platform_annotations/GPL6480_soft.tsv.gz",
        sep="\t",
        dtype=str,
        index_col="probe_id",
    )["symbol"]
    platform = platform[~platform.index.duplicated()]

    matrices: dict[str, pd.DataFrame] = {}
    for cohort in COHORTS:
        matrix = pd.read_csv(tb / cohort / f"{cohort}_expr_assay_curated.tsv.gz", sep="\t")
        matrix = matrix.set_index(matrix.columns[0])
        matrix.index = matrix.index.astype(str).str.strip()
        matrix = drop_mangled(matrix, cohort)
        if cohort == MIXED_COHORT:
            matrix = map_agilent_rows(matrix, platform, cohort)
        if matrix.index.duplicated().any():
            raise SystemExit(f"{cohort}: duplicate gene rows after cleaning")
        matrices[cohort] = matrix

    presence = pd.Series(
        np.concatenate([m.index.to_numpy() for m in matrices.values()])
    ).value_counts()
    shared = set(presence.index[presence >= 2])
    print(f"{len(presence)} genes in any cohort, {len(shared)} in >= 2 cohorts (kept)")

    out = Path(args.out)
    for cohort, matrix in matrices.items():
        kept = matrix.loc[matrix.index.isin(shared)].sort_index().round(DECIMALS)
        kept.index.name = "gene"
        folder = out / cohort
        folder.mkdir(parents=True, exist_ok=True)
        text = kept.to_csv(sep="\t", float_format=f"%.{DECIMALS}f", lineterminator="\n")
        gzip_text(text, folder / f"{cohort}_expr.tsv.gz")
        pheno = pd.read_csv(tb / cohort / f"{cohort}_pheno.csv", dtype=str)
        if list(pheno["sample"]) != list(kept.columns):
            raise SystemExit(f"{cohort}: pheno samples differ from the matrix columns")
        sample_sheet(pheno).to_csv(folder / f"{cohort}_samples.tsv", sep="\t", index=False)
        print(
            f"{cohort}: {matrix.shape[0]} -> {kept.shape[0]} genes x {kept.shape[1]} samples, "
            f"{(folder / f'{cohort}_expr.tsv.gz').stat().st_size / 1e6:.1f} MB"
        )


if __name__ == "__main__":
    main()
