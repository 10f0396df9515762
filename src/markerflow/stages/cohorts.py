"""The shared cohort loader: one cohort's log2 matrix and case flags, for candidates and signature.

:func:`load_cohort` keeps the samples of the two compared conditions (case, control) of a sample
sheet, matched to the matrix columns by sample id; :class:`Cohort` holds the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from markerflow.errors import InputError


@dataclass(frozen=True)
class Cohort:
    """Expression (genes x samples, log2) and case flags (one per column) of one cohort."""

    expression: pd.DataFrame
    is_case: np.ndarray
    #: subject of each sample (sheet column ``subject``); None = every sample its own subject
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        flags = np.asarray(self.is_case, dtype=bool)
        if flags.size != self.expression.shape[1]:
            raise InputError("case flags and expression columns differ in number")
        object.__setattr__(self, "is_case", flags)
        if self.groups is not None:
            groups = np.asarray(self.groups).astype(str)
            if groups.size != flags.size:
                raise InputError("subjects and expression columns differ in number")
            object.__setattr__(self, "groups", groups)


def load_cohort(expression: pd.DataFrame, samples: pd.DataFrame, case_label: str,
                control_label: str, *, name: str = "") -> Cohort:  # fmt: skip
    """Cohort from a log2 matrix (genes x samples) and its sample sheet (``sample``,
    ``condition``, optional ``subject``: repeated samples of one subject). Samples of other
    conditions are dropped; the matrix columns are matched by id."""
    missing = [c for c in ("sample", "condition") if c not in samples.columns]
    if missing:
        raise InputError(f"sample sheet of cohort {name!r} lacks column(s) {missing}")
    sheet = samples.assign(sample=samples["sample"].astype(str)).set_index("sample")
    keep = sheet.index[sheet["condition"].isin([case_label, control_label])]
    columns = set(map(str, expression.columns))  # once: a set per sample was O(n^2)
    absent = [s for s in keep if s not in columns]
    if absent:
        raise InputError(f"cohort {name!r}: {len(absent)} sample(s) of the sheet are not columns "
                         f"of the expression matrix, e.g. {absent[:3]}",
                         hint="re-run the DE stage so matrix and sheet agree")  # fmt: skip
    expr = expression.copy()
    expr.columns = expr.columns.astype(str)
    expr = expr[list(keep)]
    is_case = (sheet.loc[keep, "condition"] == case_label).to_numpy()
    if is_case.all() or not is_case.any():
        raise InputError(f"cohort {name!r} needs both {case_label!r} and {control_label!r} "
                         "samples for the signature")  # fmt: skip
    groups = None
    if "subject" in sheet.columns and sheet.loc[keep, "subject"].notna().any():
        subject = sheet.loc[keep, "subject"].astype("string")
        ids = pd.Series(keep, index=keep).astype("string")
        prefix = sheet.loc[keep, "cohort"].astype(str) + "\t" if "cohort" in sheet.columns else ""
        groups = (prefix + subject.fillna(ids)).to_numpy(dtype=str)  # unnamed: its own subject
    return Cohort(expr, is_case, groups)
