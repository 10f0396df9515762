"""The study definition is checked before any job starts, with messages naming the problem."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from workflow_utils import PROJECT_DIR, make_workdir, run_snakemake

from markerflow.errors import InputError
from markerflow.io.study import check_study, read_cohort_sheet


@pytest.fixture
def config():
    with open(PROJECT_DIR / "config" / "config.yaml") as handle:
        return yaml.safe_load(handle)


def sheet_with(tmp_path, changes):
    sheet = pd.read_csv(PROJECT_DIR / "config" / "cohorts.tsv", sep="\t", dtype=str)
    for (cohort, column), value in changes.items():
        sheet.loc[sheet["cohort"] == cohort, column] = value
    path = tmp_path / "cohorts.tsv"
    sheet.to_csv(path, sep="\t", index=False)
    return path


def check(config, path):
    return check_study(config, read_cohort_sheet(path), base=PROJECT_DIR)


def test_example_study_is_valid(config):
    specs = check(config, PROJECT_DIR / "config" / "cohorts.tsv")
    assert [s.cohort for s in specs] == ["GSE85567", "GSE27011", "GSE22528"]
    assert specs[1].case_values == ("Mild asthma", "Severe asthma")


def test_missing_matrix_file_is_named(config, tmp_path):
    path = sheet_with(tmp_path, {("GSE27011", "matrix"): "resources/nope.txt.gz"})
    with pytest.raises(InputError, match=r"cohort GSE27011: `matrix` file 'resources/nope.txt.gz'"):
        check(config, path)


def test_condition_value_matching_no_sample_is_named(config, tmp_path):
    # GSE22528 maps case_values/control_values (GSE27011 has condition_levels instead)
    path = sheet_with(tmp_path, {("GSE22528", "case_values"): "allergic astma"})
    with pytest.raises(InputError, match=r"case_values value 'allergic astma' matches no sample"):
        check(config, path)


def test_unknown_phenotype_column_is_named(config, tmp_path):
    path = sheet_with(tmp_path, {("GSE85567", "covariates"): "Gender;Weight"})
    with pytest.raises(InputError, match=r"covariates 'Weight' is not a phenotype column"):
        check(config, path)


@pytest.mark.parametrize("bad_id", ["../evil", "a/b", "x..y", " "])
def test_unsafe_cohort_ids_are_rejected(tmp_path, bad_id):
    path = tmp_path / "cohorts.tsv"
    path.write_text("cohort\trole\n" + f"{bad_id}\tdiscovery\n")
    with pytest.raises(InputError, match=r"is not allowed|duplicate"):
        read_cohort_sheet(path)


def test_duplicate_cohorts_are_rejected(tmp_path):
    path = tmp_path / "cohorts.tsv"
    path.write_text("cohort\trole\nA\tdiscovery\nA\tvalidation\n")
    with pytest.raises(InputError, match="duplicate cohort IDs: A"):
        read_cohort_sheet(path)


# Through Snakemake: the run stops at parse time (no job starts) and the message names the problem.


def dry_run_with(tmp_path, config_changes=None, sheet_changes=None):
    workdir = make_workdir(tmp_path / "wd")
    if config_changes:
        path = workdir / "config" / "config.yaml"
        data = yaml.safe_load(path.read_text())
        config_changes(data)
        path.write_text(yaml.safe_dump(data))
    if sheet_changes:
        path = workdir / "config" / "cohorts.tsv"
        sheet = pd.read_csv(path, sep="\t", dtype=str)
        sheet_changes(sheet)
        sheet.to_csv(path, sep="\t", index=False)
    result = run_snakemake(workdir, "--cores", "1", timeout=300)
    assert result.returncode != 0
    assert not (workdir / "results").exists(), "no job may start on an invalid study"
    return result.stdout + result.stderr


def test_unknown_config_key_stops_before_jobs(tmp_path):
    out = dry_run_with(tmp_path, config_changes=lambda c: c["de"].update({"trnd": True}))
    assert "trnd" in out


def test_missing_sheet_column_stops_before_jobs(tmp_path):
    out = dry_run_with(
        tmp_path, sheet_changes=lambda s: s.drop(columns=["condition_column"], inplace=True)
    )
    assert "condition_column" in out


def test_missing_cohort_file_stops_before_jobs(tmp_path):
    def change(sheet):
        sheet.loc[sheet["cohort"] == "GSE22528", "samples"] = "resources/missing_samples.tsv"

    out = dry_run_with(tmp_path, sheet_changes=change)
    assert "resources/missing_samples.tsv" in out and "GSE22528" in out


def test_unmatched_condition_value_stops_before_jobs(tmp_path):
    def change(sheet):
        sheet.loc[sheet["cohort"] == "GSE85567", "control_values"] = "Healthy"

    out = dry_run_with(tmp_path, sheet_changes=change)
    assert "'Healthy' matches no sample" in out
