"""Issue 18 item 5: `markerflow init` writes a study for local files or GEO accessions, and
`markerflow run` runs it with a progress line per step, the report path and the top candidates."""

from __future__ import annotations

import io
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import yaml
from test_fetch import ANNOT_PATH, MATRIX_PATH, GeoServer
from workflow_utils import PROJECT_DIR

from markerflow import cli
from markerflow.io.study import read_cohort_sheet

EXAMPLE = PROJECT_DIR / "resources" / "example"
COUNTS = f"{EXAMPLE}/GSE85567/GSE85567_counts.tsv.gz,{EXAMPLE}/GSE85567/GSE85567_samples.tsv"
SERIES = str(EXAMPLE / "GSE27011" / "GSE27011_series_matrix.txt.gz")
CHOICES = [
    "--condition-column=GSE85567=Status",
    "--case=GSE85567=Asthma",
    "--control=GSE85567=Control",
    "--condition-column=GSE27011=source_name",
    "--case=GSE27011=Mild asthma;Severe asthma",
    "--control=GSE27011=Healthy control",
    "--case-label=asthma",
]


def schema(name: str) -> dict:
    return yaml.safe_load((PROJECT_DIR / "workflow" / "schemas" / name).read_text())


def assert_valid_study(project: Path) -> tuple[dict, pd.DataFrame]:
    config = yaml.safe_load((project / "config" / "config.yaml").read_text())
    jsonschema.Draft202012Validator(schema("config.schema.yaml")).validate(config)
    sheet = read_cohort_sheet(project / config["cohorts"])
    rows = schema("cohorts.schema.yaml")
    for row in sheet.to_dict("records"):
        present = {k: v for k, v in row.items() if isinstance(v, str) and v.strip()}
        jsonschema.Draft202012Validator(rows).validate(present)
    return config, sheet


def init(project: Path, *args: str) -> int:
    return cli.main(["init", "--dir", str(project), *args])


def test_init_local_cohorts_prints_levels_and_dry_run_accepts(tmp_path, capsys):
    project = tmp_path / "study"
    assert init(project, COUNTS, SERIES, *CHOICES) == 0
    out = capsys.readouterr().out
    assert "Status: 'Asthma' (57), 'Control' (28)" in out
    assert "source_name: 'Mild asthma' (19), 'Healthy control' (18), 'Severe asthma' (17)" in out
    config, sheet = assert_valid_study(project)
    assert config["study"] == {"name": "study", "case_label": "asthma", "control_label": "control"}
    assert config["seed"] == 1
    assert sheet.set_index("cohort")["source"].to_dict() == {
        "GSE85567": "matrix",
        "GSE27011": "series_matrix",
    }
    assert sheet.set_index("cohort").loc["GSE85567", "data_type"] == "counts"
    assert sheet.set_index("cohort").loc["GSE85567", "sample_column"] == "column"
    assert sheet.set_index("cohort").loc["GSE27011", "annotation"].endswith("GPL6244.tsv.gz")

    assert cli.main(["run", "--directory", str(project), "-n"]) == 0
    assert "dry run finished" in capsys.readouterr().out


def test_init_without_choices_says_what_to_fill_and_never_overwrites(tmp_path, capsys):
    project = tmp_path / "study"
    assert init(project, SERIES) == 0
    out = capsys.readouterr().out
    assert "GSE27011: condition_column, case_values, control_values" in out
    sheet = pd.read_csv(project / "config" / "cohorts.tsv", sep="\t", dtype=str)
    assert sheet["condition_column"].isna().all()
    before = (project / "config" / "config.yaml").read_bytes()
    assert init(project, SERIES, "--seed=7") == 2
    assert "--force" in capsys.readouterr().err
    assert (project / "config" / "config.yaml").read_bytes() == before
    assert init(project, SERIES, "--seed=7", "--force") == 0
    assert yaml.safe_load((project / "config" / "config.yaml").read_text())["seed"] == 7


def test_init_names_a_value_that_does_not_occur(tmp_path, capsys):
    code = init(tmp_path / "s", SERIES, "--condition-column=source_name", "--case=asthma")
    assert code == 2
    err = capsys.readouterr().err
    assert "'asthma' do not occur in column 'source_name'" in err and "Mild asthma" in err
    assert not (tmp_path / "s" / "config" / "config.yaml").exists()


def test_init_geo_accession_from_local_server(tmp_path, capsys, annot_bytes):
    project = tmp_path / "study"
    files = {MATRIX_PATH: Path(SERIES).read_bytes(), ANNOT_PATH: annot_bytes}
    with GeoServer(files) as server:
        code = init(
            project,
            "GSE27011",
            f"--geo-base-url={server.base_url}",
            "--condition-column=source_name",
            "--case=Mild asthma;Severe asthma",
            "--control=Healthy control",
        )
        assert server.requests[MATRIX_PATH] == 1
    assert code == 0, capsys.readouterr().err
    assert "source_name: 'Mild asthma' (19)" in capsys.readouterr().out
    config, sheet = assert_valid_study(project)
    row = sheet.iloc[0]
    assert (row["cohort"], row["source"], row["accession"]) == ("GSE27011", "geo", "GSE27011")
    assert config["geo"]["base_url"] == server.base_url
    cached = project / config["geo"]["cache_dir"] / "GSE27011"
    assert (cached / "raw" / "GSE27011_series_matrix.txt.gz").is_file()


def test_progress_prints_one_line_per_finished_step():
    lines = [
        "rule qc:\n",
        "    jobid: 3\n",
        "Finished jobid: 3 (Rule: qc)\n",
        "1 of 12 steps (8%) done\n",
        "Finished jobid: 5 (Rule: de)\n",
        "2 of 12 steps (17%) done\n",
        "noise\n",
    ]
    log, shown = io.StringIO(), []
    cli.progress(lines, log, shown.append)
    assert shown == ["[ 1/12   8%] qc done", "[ 2/12  17%] de done"]
    assert log.getvalue() == "".join(lines)


@pytest.mark.slow
@pytest.mark.workflow
def test_run_completes_an_init_written_study(tmp_path, capsys):
    project = tmp_path / "study"
    assert init(project, COUNTS, SERIES, *CHOICES) == 0
    capsys.readouterr()
    assert cli.main(["run", "--directory", str(project), "--cores", "2"]) == 0
    out = capsys.readouterr().out
    assert "] candidates done" in out or "candidates" in out
    report = project / "results" / "report" / "summary.html"
    assert f"report: {report.resolve()}" in out
    assert "top 10 candidates" in out
    top = pd.read_csv(
        next(p for p in (project / "results").glob("**/candidates/candidates.tsv")), sep="\t"
    )
    assert str(top["gene"].iloc[0]) in out
