"""The genes stage: one row per gene symbol for every cohort.

Arrays: values brought to log2 scale (see :func:`markerflow.stages.qc.to_log_scale`), then probes mapped
to symbols and collapsed (:mod:`markerflow.stages.probes`). Counts: identifiers mapped to symbols and
low-count genes filtered (:mod:`markerflow.stages.counts`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from markerflow.errors import InputError
from markerflow.io import geo
from markerflow.io.tables import read_tsv
from markerflow.stages.probes import collapse_probes
from markerflow.stages.qc import to_log_scale

#: Columns of the gene ID table used to map count-matrix IDs (see counts.map_to_symbols).
GENE_TABLE_COLUMNS = ("entrez", "symbol", "ensembl", "gene_type")


def map_cohort_genes(
    expression: pd.DataFrame,
    samples: pd.DataFrame,
    data_type: str,
    annotation: str | Path | None,
    *,
    log2_mode: str = "auto",
    collapse: str = "maxmean",
    drop_multimapping: bool = True,
    min_count: int = 10,
    min_samples: int | str = "smallest_group",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the genes x samples matrix (index ``gene``) and a metric/value mapping report."""
    expression = expression.loc[:, samples["sample"].tolist()]
    report: dict[str, object] = {"data_type": data_type}
    if data_type == "array":
        logged, applied = to_log_scale(expression, log2_mode)
        report["log2_applied"] = applied
        table = None if annotation is None else geo.read_platform_table(annotation)
        genes, collapse_report = collapse_probes(logged, table, collapse, drop_multimapping)
        report.update(collapse_report.__dict__)
        report["collapse"] = collapse
    else:
        from markerflow.stages import counts as counts_mod

        counts = counts_mod.validate_counts(expression, path="ingested count matrix")
        if annotation is not None:
            gene_table = read_tsv(annotation, dtype=str)
            missing = [c for c in GENE_TABLE_COLUMNS if c not in gene_table.columns]
            if missing:
                raise InputError(
                    f"gene ID table lacks column(s) {', '.join(missing)} "
                    f"(columns: {', '.join(map(str, gene_table.columns))})",
                    path=annotation,
                    hint="use resources/annotation/hs_gene_ids.tsv.gz or a table with columns "
                    + ", ".join(GENE_TABLE_COLUMNS),
                )
            counts, map_report = counts_mod.map_to_symbols(counts, gene_table)
            report.update(map_report)
        condition = samples.set_index("sample").loc[counts.columns, "condition"]
        genes, filter_report = counts_mod.filter_low_counts(
            counts, condition, min_count, min_samples
        )
        report.update(filter_report)
    genes.index.name = "gene"
    return genes, pd.DataFrame({"metric": list(report), "value": [str(v) for v in report.values()]})
