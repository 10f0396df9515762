"""The cohort design through the workflow (issue 16): each named design error of a cohort sheet
stops the example study before any job runs (the check runs on every comparison a cohort serves,
pooled sides recoded as the de rule fits them)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from workflow_utils import PROJECT_DIR, make_workdir, run_snakemake

pytestmark = pytest.mark.workflow

SAMPLES = PROJECT_DIR / "resources" / "example" / "GSE85567" / "GSE85567_samples.tsv"
PREFIX = "comparison asthma_vs_control: cohort GSE85567: "


def _sheet(workdir: Path, **cells: str) -> None:
    path = workdir / "config" / "cohorts.tsv"
    sheet = pd.read_csv(path, sep="\t", dtype=str)
    for column, value in cells.items():
        sheet.loc[sheet["cohort"] == "GSE85567", column] = value
    sheet.to_csv(path, sep="\t", index=False)


def _samples(workdir: Path, edit) -> str:
    """A copy of GSE85567's sample sheet, edited; returns its path for the cohort sheet."""
    table = pd.read_csv(SAMPLES, sep="\t", dtype=str, keep_default_na=False)
    (workdir / "data").mkdir()
    edit(table).to_csv(workdir / "data" / "samples.tsv", sep="\t", index=False)
    return "data/samples.tsv"


def _no_age_in_asthma(table: pd.DataFrame) -> pd.DataFrame:
    table.loc[table["Status"] == "Asthma", "Age"] = ""
    return table


def _shared_subject(table: pd.DataFrame) -> pd.DataFrame:
    first_control = table.index[table["Status"] == "Control"][0]
    table.loc[first_control, "ID"] = table.loc[table["Status"] == "Asthma", "ID"].iloc[0]
    return table


CASES = {
    "unknown-column": (
        lambda wd: _sheet(wd, design="~ BMI + condition"),
        "the design formula '~ BMI + condition' uses column(s) 'BMI', which are not phenotype "
        "columns (available: column, ID, status_from_colname, Status, Gender, Age, Ethnicity, "
        "current_smoker, Smoke_Ever, smoke_pack_years_1)\n  What to do: correct the cohort "
        "sheet's `design` cell",
    ),
    "level-without-samples": (
        lambda wd: _sheet(wd, samples=_samples(wd, _no_age_in_asthma)),
        "condition level(s) 'asthma' have no sample after excluding samples with missing "
        "covariates\n",
    ),
    "rank-deficient": (
        lambda wd: _sheet(wd, design="~ Status + condition"),
        "the condition is confounded with batch/covariates, so its effect cannot be estimated: "
        "'condition_asthma_vs_control' (samples f0b3_4ef4_Asthma, 7ed8_4eff_Asthma, "
        "690e_45c3_Asthma, f9c8_4025_Asthma, f5d3_41dd_Asthma (and 52 more)) is a linear "
        "combination of Intercept + Status_Control (term 'condition')\n",
    ),
    "subject-both-sides": (
        lambda wd: _sheet(
            wd,
            samples=_samples(wd, _shared_subject),
            subject_column="ID",
            design="~ Gender + Age + condition",
        ),
        "subject 'f0b3_4ef4' has samples on both sides of the between-subject comparison "
        "'asthma' vs 'control': f0b3_4ef4_Asthma (asthma), a7d1_4fec_Control (control)\n",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_design_error_stops_before_any_job(tmp_path, case):
    edit, expected = CASES[case]
    workdir = make_workdir(tmp_path / "wd")
    edit(workdir)
    result = run_snakemake(workdir, "--cores", "1", timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "markerflow: the study design is invalid." in output, output[-3000:]
    assert PREFIX + expected in output, output[-3000:]
    assert "Traceback" not in output
    assert not re.search(r"^(local)?rule ", output, re.M)
    assert not (workdir / "results").exists()
