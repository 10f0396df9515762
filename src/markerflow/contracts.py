"""Column contracts shared by the stages (see ../shared/DESIGN.md, "Data contracts")."""

from __future__ import annotations

#: Every differential-expression table starts with these columns, in this order; method-specific
#: columns follow.
DE_COLUMNS: tuple[str, ...] = (
    "gene",
    "log2fc",
    "ave_expr",
    "stat",
    "pvalue",
    "padj",
    "se",
    "hedges_g",
    "hedges_g_se",
    "n_case",
    "n_control",
)

#: Required columns of a per-cohort sample sheet after ingest, in this order; covariates follow.
SAMPLE_COLUMNS: tuple[str, ...] = ("sample", "cohort", "condition", "batch")

#: The feature columns every native DE table starts with.
NATIVE_ID_COLUMNS: tuple[str, ...] = ("ID", "Symbol")
#: limma ``topTable`` columns, in its order, and the common-schema column each comes from.
LIMMA_COLUMNS: dict[str, str] = {
    "logFC": "log2fc",
    "AveExpr": "ave_expr",
    "t": "stat",
    "P.Value": "pvalue",
    "adj.P.Val": "padj",
    "B": "B",
}
#: DESeq2 ``results()`` columns, in its order, and the common-schema column each comes from.
DESEQ2_COLUMNS: dict[str, str] = {
    "baseMean": "baseMean",
    "log2FoldChange": "log2fc",
    "lfcSE": "se",
    "stat": "stat",
    "pvalue": "pvalue",
    "padj": "padj",
}
#: native table kind -> columns (the file is ``de.<kind>.tsv``)
NATIVE_COLUMNS: dict[str, dict[str, str]] = {"limma": LIMMA_COLUMNS, "deseq2": DESEQ2_COLUMNS}


def native_kind(data_type: str, counts_method: str = "deseq2") -> str:
    """Which native table a cohort's DE has: ``deseq2`` for counts by DESeq2, else ``limma``."""
    return "deseq2" if data_type == "counts" and counts_method == "deseq2" else "limma"
