"""Derive the bundled example cohorts in resources/ from ../shared/data (run from the project root).

    python resources/scripts/make_example.py [--shared ../shared]

What it does (documented in resources/README.md):
- GSE27011: keeps the series-matrix header lines as they are; in the table keeps only probes that
  have a symbol in the GPL6244 table and rounds values to 4 decimals (the file shrinks from 12 MB).
- GSE85567: copies the count matrix and derives a sample sheet (column name -> phenotype).
- GSE22528 (1,000-gene subset): copies the matrix and writes the sample sheet implied by its column
  names (aa* = allergic asthma, norm* = healthy).
- GPL6244: copies the probe -> symbol table.
Outputs are written with fixed gzip mtime so reruns give identical bytes.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from pathlib import Path

import pandas as pd


def gzip_text(text: str, dest: Path) -> None:
    with open(dest, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(text.encode("utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default="../shared")
    args = parser.parse_args()
    geo = Path(args.shared) / "data" / "geo"
    res = Path("resources")

    platform = pd.read_csv(geo / "platform_annotations/GPL6244_soft.tsv.gz", sep="\t", dtype=str)
    shutil.copyfile(
        geo / "platform_annotations/GPL6244_soft.tsv.gz", res / "platforms/GPL6244.tsv.gz"
    )
    annotated = set(platform.loc[platform["symbol"].fillna("").str.strip() != "", "probe_id"])

    out_lines: list[str] = []
    in_table = False
    with gzip.open(geo / "GSE27011/GSE27011_series_matrix.RECONSTRUCTED.txt.gz", "rt") as handle:
        for line in handle:
            if line.startswith("!series_matrix_table_begin"):
                in_table, header_seen = True, False
                out_lines.append(line)
                continue
            if line.startswith("!series_matrix_table_end"):
                in_table = False
            if in_table:
                fields = line.rstrip("\n").split("\t")
                if not header_seen:
                    header_seen = True
                    out_lines.append(line)
                    continue
                if fields[0].strip('"') not in annotated:
                    continue
                values = [f"{float(v):.4f}" for v in fields[1:]]
                out_lines.append("\t".join([fields[0], *values]) + "\n")
            else:
                out_lines.append(line)
    gzip_text("".join(out_lines), res / "example/GSE27011/GSE27011_series_matrix.txt.gz")

    shutil.copyfile(
        geo / "GSE85567/GSE85567_normcounts_filtered.tsv.gz",
        res / "example/GSE85567/GSE85567_counts.tsv.gz",
    )
    sheet = pd.read_csv(geo / "GSE85567/GSE85567_samples.tsv", sep="\t")
    sheet.to_csv(res / "example/GSE85567/GSE85567_samples.tsv", sep="\t", index=False)

    subset = pd.read_csv(geo / "GSE22528_subset/GSE22528_subset_1000genes.tsv", sep="\t")
    subset.to_csv(res / "example/GSE22528/GSE22528_subset_1000genes.tsv", sep="\t", index=False)
    samples = pd.DataFrame({"sample": subset.columns[1:]})
    samples["group"] = [
        "allergic asthma" if s.startswith("aa") else "healthy" for s in samples["sample"]
    ]
    samples.to_csv(res / "example/GSE22528/GSE22528_samples.tsv", sep="\t", index=False)


if __name__ == "__main__":
    main()
