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
