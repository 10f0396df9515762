"""The size of a cohort's expression data, known before any job runs (for resource requests).

A cluster scheduler needs each job's memory and runtime when the job is submitted, and a dry run
(``snakemake -n``) shows them for every job only if they do not depend on files that earlier jobs
have not written yet. The workflow therefore sizes every rule on the *source* matrices of the
cohorts a job uses (the files the cohort sheet names, which exist before the run): this module
turns one such file into "float64 MB", the size of its feature x sample values as one float64
matrix in memory (``cells x 8 / 1e6``), the unit in which the rules' memory models are stated
(workflow/rules/common.smk, docs/scaling.md).

- Parquet: exact, from the file footer (rows x columns, the ID column included: one column of
  slack); no data is read.
- Text (TSV/CSV, GEO series matrix, SOFT; gzipped or not): estimated from the file size, with
  the ratios measured on real and generated files: plain text 0.65 float64 bytes per file byte
  (``GSE22528``, 1,000 x 10), gzip 2.8 (GSE27011 series matrix) to 3.9 (GSE85567 counts). The
  factors used, 1 and 4, are at the top of those ranges, so the estimate errs high.
- A folder (salmon / kallisto quantifications): the sum of its files, as text.
- A file that does not exist yet (a GEO download not yet cached): ``default_mb``.

No pandas; pyarrow only for Parquet footers. Not a statistic, so there is no R reference.
"""

from __future__ import annotations

from pathlib import Path

#: float64 MB per MB of file: plain text, gzip-compressed text (see the module docstring)
TEXT_FACTOR = 1.0
GZIP_FACTOR = 4.0
#: float64 MB assumed for a source that does not exist yet: a GPL570 array (54,675 probes) x
#: 200 samples, the scale benchmark's cohort
DEFAULT_MB = 54_675 * 200 * 8 / 1e6


def _file_mb(path: Path) -> float:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        try:
            meta = pq.read_metadata(path)
        except (OSError, ValueError):  # not Parquet after all: ingest reports it, size it as bytes
            return path.stat().st_size / 1e6
        return meta.num_rows * meta.num_columns * 8 / 1e6
    factor = GZIP_FACTOR if name.endswith((".gz", ".bgz")) else TEXT_FACTOR
    return path.stat().st_size * factor / 1e6


def matrix_mb(path: str | Path | None, default_mb: float = DEFAULT_MB) -> float:
    """Float64 MB of the expression values in ``path`` (file or folder; see the module docstring).

    ``default_mb`` when ``path`` is None or does not exist (yet).
    """
    if path is None:
        return default_mb
    path = Path(path)
    if path.is_dir():
        return sum(_file_mb(f) for f in sorted(path.rglob("*")) if f.is_file())
    if not path.is_file():
        return default_mb
    return _file_mb(path)
