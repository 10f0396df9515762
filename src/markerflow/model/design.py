"""Design matrices for the per-cohort model: intercept + covariates + batch + condition.

The condition enters as a 0/1 column (control = reference) so its coefficient is case - control,
as in limma's ``model.matrix(~ covariates + batch + condition)``. A known within-cohort batch is a
covariate of the model, not removed beforehand (Nygaard et al. 2016, Biostatistics 17:29).
Categorical covariates get treatment contrasts with the first level (sorted) as reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from markerflow.errors import AnalysisError, InputError


@dataclass
class Design:
    matrix: np.ndarray  # samples x p
    columns: list[str]
    condition_column: int  # index of the case-vs-control coefficient

    @property
    def residual_df(self) -> int:
        return self.matrix.shape[0] - self.matrix.shape[1]


def _dummies(values: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    levels = sorted(values.astype(str).unique())
    cols = [(values.astype(str) == level).to_numpy(dtype=np.float64) for level in levels[1:]]
    return (
        np.column_stack(cols) if cols else np.empty((len(values), 0)),
        [f"{name}{level}" for level in levels[1:]],
    )


def check_batch_confounding(samples: pd.DataFrame, cohort: str = "") -> None:
    """Raise if every batch holds only one condition (batch and condition fully confounded)."""
    table = pd.crosstab(samples["batch"].astype(str), samples["condition"])
    if table.shape[0] < 2:
        return
    if ((table > 0).sum(axis=1) == 1).all():
        detail = "; ".join(
            f"batch {b}: " + ", ".join(f"{n} {c}" for c, n in row.items() if n)
            for b, row in table.iterrows()
        )
        raise InputError(
            f"cohort {cohort}: batch is fully confounded with condition ({detail}); the condition "
            "effect cannot be separated from the batch effect",
            hint="drop batch_column for this cohort, or add samples so each batch holds both conditions",
        )


def build_design(
    samples: pd.DataFrame,
    case_label: str,
    control_label: str,
    covariates: list[str] | tuple[str, ...] = (),
    cohort: str = "",
) -> Design:
    """Build the design for ``samples`` (rows in matrix column order)."""
    n = len(samples)
    blocks: list[np.ndarray] = [np.ones((n, 1))]
    names = ["(Intercept)"]
    for covariate in covariates:
        values = samples[covariate]
        if pd.api.types.is_numeric_dtype(values):
            blocks.append(values.to_numpy(dtype=np.float64)[:, None])
            names.append(covariate)
        else:
            block, cols = _dummies(values, covariate)
            blocks.append(block)
            names.extend(cols)
    if samples["batch"].astype(str).nunique() > 1:
        check_batch_confounding(samples, cohort)
        block, cols = _dummies(samples["batch"], "batch")
        blocks.append(block)
        names.extend(cols)
    condition = samples["condition"].astype(str)
    unknown = sorted(set(condition) - {case_label, control_label})
    if unknown:
        raise InputError(f"cohort {cohort}: unexpected condition values {unknown}")
    blocks.append((condition == case_label).to_numpy(dtype=np.float64)[:, None])
    names.append(f"condition{case_label}")
    matrix = np.column_stack(blocks)
    rank = np.linalg.matrix_rank(matrix)
    if rank < matrix.shape[1]:
        # find the first column that adds nothing, to name it
        for j in range(1, matrix.shape[1] + 1):
            if np.linalg.matrix_rank(matrix[:, :j]) < j:
                raise InputError(
                    f"cohort {cohort}: design column {names[j - 1]!r} is a linear combination of "
                    f"the others ({', '.join(names[: j - 1])}); the model cannot be fitted",
                    hint="remove the covariate or batch that duplicates another in the cohort sheet",
                )
    design = Design(matrix=matrix, columns=names, condition_column=len(names) - 1)
    if design.residual_df < 1:
        raise AnalysisError(
            f"cohort {cohort}: {n} samples for {matrix.shape[1]} model coefficients leave no "
            "residual degrees of freedom"
        )
    return design
