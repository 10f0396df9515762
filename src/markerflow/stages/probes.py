"""Probe -> gene mapping for arrays.

Probes annotated with several genes (GEO's ``///`` separator) are dropped by default, probes without
a symbol are dropped, and several probes of one gene are collapsed (Miller et al. 2011, WGCNA's
``collapseRows``):

- ``maxmean`` (default): keep the probe with the highest mean expression (ties: first probe in order);
- ``maxvar``: keep the probe with the highest variance across samples;
- ``mean`` / ``median``: per-sample mean / median of the gene's probes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from markerflow.errors import InputError

MULTI_GENE_SEPARATOR = "///"
COLLAPSE_METHODS = ("maxmean", "mean", "median", "maxvar")


@dataclass
class CollapseReport:
    probes_in: int
    probes_unannotated: int
    probes_multimapping: int
    probes_used: int
    genes_out: int
    genes_from_several_probes: int

    def as_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"metric": list(self.__dict__), "value": list(self.__dict__.values())})


def clean_symbols(annotation: pd.Series) -> pd.Series:
    """Strip symbols; empty, '---' and NA become missing."""
    symbols = annotation.astype("string").str.strip()
    return symbols.mask(symbols.isin(["", "---", "NA", "nan"]))


def collapse_probes(
    expression: pd.DataFrame,
    annotation: pd.Series | None,
    method: str = "maxmean",
    drop_multimapping: bool = True,
) -> tuple[pd.DataFrame, CollapseReport]:
    """Map probes (rows of ``expression``) to gene symbols and collapse duplicates.

    ``annotation`` maps probe ID -> symbol; ``None`` means the rows are already symbols (only
    duplicates are collapsed). With ``drop_multimapping=False`` a ``///`` probe counts for its first
    gene. Returns a genes x samples matrix (index ``gene``, sorted) and a report.
    """
    if method not in COLLAPSE_METHODS:
        raise InputError(f"unknown collapse method {method!r}; choose one of {COLLAPSE_METHODS}")
    n_in = expression.shape[0]
    if annotation is None:
        symbols = clean_symbols(pd.Series(expression.index, index=expression.index))
    else:
        annotation = annotation[~annotation.index.duplicated()]
        symbols = clean_symbols(annotation.reindex(expression.index.astype(str)))
        symbols.index = expression.index
    unannotated = symbols.isna()
    multi = symbols.str.contains(MULTI_GENE_SEPARATOR, regex=False).fillna(False).astype(bool)
    if not drop_multimapping:
        symbols = symbols.str.split(MULTI_GENE_SEPARATOR).str[0].str.strip()
        multi[:] = False
    keep = ~unannotated & ~multi
    if not keep.any():
        raise InputError(
            "no probe has a gene symbol after mapping",
            hint="check that the annotation table matches the platform of the matrix",
        )
    data = expression.loc[keep.to_numpy()]
    genes = symbols[keep].to_numpy()
    values = data.to_numpy(dtype=np.float64)
    if method in ("maxmean", "maxvar"):
        with np.errstate(invalid="ignore"):
            score = (
                np.nanmean(values, axis=1)
                if method == "maxmean"
                else np.nanvar(values, axis=1, ddof=1)
            )
        order = pd.DataFrame(
            {
                "gene": genes,
                "score": np.nan_to_num(score, nan=-np.inf),
                "pos": np.arange(len(genes)),
            }
        )
        # stable sort: highest score first, earliest probe wins ties
        order = order.sort_values(
            ["gene", "score", "pos"], ascending=[True, False, True], kind="mergesort"
        )
        chosen = order.drop_duplicates("gene", keep="first")
        collapsed = pd.DataFrame(
            values[chosen["pos"].to_numpy()], index=chosen["gene"].to_numpy(), columns=data.columns
        )
    else:
        frame = pd.DataFrame(values, columns=data.columns)
        frame["gene"] = genes
        grouped = frame.groupby("gene", sort=True)
        collapsed = grouped.mean() if method == "mean" else grouped.median()
    collapsed = collapsed.sort_index()
    collapsed.index.name = "gene"
    counts = pd.Series(genes).value_counts()
    report = CollapseReport(
        probes_in=n_in,
        probes_unannotated=int(unannotated.sum()),
        probes_multimapping=int((multi & ~unannotated).sum()),
        probes_used=int(keep.sum()),
        genes_out=int(collapsed.shape[0]),
        genes_from_several_probes=int((counts > 1).sum()),
    )
    return collapsed, report
