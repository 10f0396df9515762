"""Bad input, round two (issue 19): outputs out of place, inputs elsewhere, IDs re-parsed, config
values that pass the schema, colliding names; and a user config that must not inherit the example.

Library-level cases run the same checks as ``workflow/rules/common.smk`` (schema, then
:func:`markerflow.io.config_check.check_config`, then the cohort sheet and
:func:`markerflow.io.study.check_study`) in a scratch project and assert the exact message and that
nothing was written under ``results/``. The few end-to-end cases run Snakemake (marked workflow).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from workflow_utils import PROJECT_DIR, make_workdir, run_snakemake, single_comparison

from markerflow.errors import InputError
from markerflow.io.config_check import (
    MAX_ID_LENGTH,
    SEED_MAX,
    check_cohort_ids,
    check_config,
    check_inputs_outside_outputs,
    check_output_collisions,
    longest_suffix,
    workflow_words,
)
from markerflow.io.study import check_study, read_cohort_sheet, read_sample_sheet
from markerflow.io.tables import read_tsv, write_tsv
from markerflow.stages.cohorts import load_cohort
from markerflow.stages.provenance import checksums, main, verify_checksums

CONFIG_SCHEMA = PROJECT_DIR / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = yaml.safe_load(CONFIG_SCHEMA.read_text())
CODE_DIRS = [PROJECT_DIR / "workflow", PROJECT_DIR / "src"]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A scratch project (config/ copied, resources/ linked) that is the working directory."""
    workdir = make_workdir(tmp_path / "project")
    monkeypatch.chdir(workdir)
    return workdir


@pytest.fixture
def config(project) -> dict:
    return yaml.safe_load((project / "config" / "config.yaml").read_text())


def run_checks(config: dict) -> list:
    """What common.smk does before the DAG: schema (with defaults), config, sheet, study."""
    validate(config, str(CONFIG_SCHEMA))
    places = check_config(config, SCHEMA, code_dirs=CODE_DIRS)
    specs = check_study(config, read_cohort_sheet(config["cohorts"]))
    check_inputs_outside_outputs(
        {f"cohort {s.cohort}": s.samples for s in specs if s.samples}, places
    )
    return specs


def refused(config: dict, project: Path, expected: str, kind=InputError) -> str:
    """The checks stop with ``kind`` whose first line is ``expected`` (InputError) or contains it
    (schema errors); nothing is written under results/."""
    with pytest.raises(kind) as info:
        run_checks(config)
    text = str(info.value)
    if kind is InputError:
        assert text.splitlines()[0] == expected, text
    else:
        assert expected in text, text
    assert not (project / "results").exists()
    return text


def set_key(config: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return config


def edit_sheet(project: Path, which: str, **cells: str) -> None:
    path = project / "config" / "cohorts.tsv"
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    for column, value in cells.items():
        sheet.loc[sheet["cohort"] == which, column] = value
    sheet.to_csv(path, sep="\t", index=False)


# ----------------------------------------------------------- class 1: outputs escape their place


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("results", "", "config results: '' is empty"),
        ("results", "   ", "config results: '   ' is empty"),
        ("results", " results", "config results: ' results' has surrounding whitespace or control characters"),
        ("results", ".", "config results: '.' is the project directory itself"),
        ("results", "results/..", "config results: 'results/..' is the project directory itself"),
        ("geo.cache_dir", "", "config geo.cache_dir: '' is empty"),
        ("geo.cache_dir", ".", "config geo.cache_dir: '.' is the project directory itself"),
        ("geo.cache_dir", "results/geo", "config results ('results') and geo.cache_dir ('results/geo') overlap"),
        ("results", "resources/geo/out", "config results ('resources/geo/out') and geo.cache_dir ('resources/geo') overlap"),
    ],
    ids=["results-empty", "results-blank", "results-padded", "results-dot", "results-dotdot-back",
         "cache-empty", "cache-project", "cache-in-results", "results-in-cache"],
)  # fmt: skip
def test_output_place_is_refused(config, project, key, value, expected):
    refused(set_key(config, key, value), project, expected)


@pytest.mark.parametrize(
    ("key", "value"),
    [("results", "/"), ("results", "../results"), ("geo.cache_dir", "/tmp/geo-cache"),
     ("geo.cache_dir", "../geo")],
    ids=["results-root", "results-parent", "cache-absolute", "cache-parent"],
)  # fmt: skip
def test_output_outside_project_is_refused(config, project, key, value):
    refused(
        set_key(config, key, value),
        project,
        f"config `{key}`: path {value!r} points outside the project directory {project}",
    )


@pytest.mark.parametrize(
    ("target", "why"),
    [
        (lambda p: Path(os.sep), "resolves to the filesystem root"),
        (lambda p: Path(os.path.expanduser("~")), "resolves to the home directory {real}"),
        (lambda p: p.parent, "resolves to {real}, the project directory or a parent of it"),
        (lambda p: p, "resolves to {real}, the project directory or a parent of it"),
        (lambda p: PROJECT_DIR / "workflow" / "rules", "lies inside the workflow's own directory "
         + str((PROJECT_DIR / "workflow").resolve())),
    ],
    ids=["link-to-root", "link-to-home", "link-to-parent", "link-to-project", "link-into-code"],
)  # fmt: skip
def test_output_link_to_a_dangerous_place_is_refused(config, project, target, why):
    place = target(project)
    (project / "out").symlink_to(place)
    real = os.path.realpath(place)
    refused(
        set_key(config, "results", "out"), project, f"config results: 'out' {why.format(real=real)}"
    )


def test_output_that_is_a_file_is_refused(config, project):
    (project / "taken").write_text("not a directory\n")
    refused(
        set_key(config, "results", "taken"),
        project,
        "config results: 'taken' exists and is not a directory",
    )


def test_input_inside_results_is_refused(config, project):
    (project / "results").mkdir()
    sheet = project / "results" / "samples.tsv"
    sheet.write_bytes((project / "resources/example/GSE22528/GSE22528_samples.tsv").read_bytes())
    edit_sheet(project, "GSE22528", samples="results/samples.tsv")
    with pytest.raises(InputError) as info:
        run_checks(config)
    assert str(info.value).splitlines()[0] == (
        f"cohort GSE22528: input 'results/samples.tsv' lies inside the results directory "
        f"{project.resolve() / 'results'}"
    )
    assert sorted(p.name for p in (project / "results").iterdir()) == ["samples.tsv"]


def test_link_to_storage_elsewhere_is_allowed(config, project, tmp_path):
    (tmp_path / "scratch").mkdir()
    (project / "out").symlink_to(tmp_path / "scratch")
    run_checks(set_key(config, "results", "out"))


# ------------------------------------------------------------- class 2: inputs where users keep them


def test_absolute_inputs_outside_the_project_are_allowed(config, project, tmp_path):
    data = tmp_path / "scratch" / "project_x"
    data.mkdir(parents=True)
    for name in ("GSE22528_subset_1000genes.tsv", "GSE22528_samples.tsv"):
        (data / name).write_bytes((project / "resources/example/GSE22528" / name).read_bytes())
    edit_sheet(project, "GSE22528", matrix=str(data / "GSE22528_subset_1000genes.tsv"),
               samples=str(data / "GSE22528_samples.tsv"))  # fmt: skip
    gmt = data / "sets.gmt"
    gmt.write_bytes((project / "resources/genesets/KEGG_2021_Human.gmt").read_bytes())
    config["enrichment"]["libraries"]["KEGG"] = str(gmt)
    specs = run_checks(config)
    assert {s.cohort: s.matrix for s in specs}["GSE22528"] == str(
        data / "GSE22528_subset_1000genes.tsv"
    )
    digests = checksums([str(gmt), str(data / "GSE22528_samples.tsv")])
    assert set(digests) == {str(gmt), str(data / "GSE22528_samples.tsv")}


def test_missing_outside_input_is_named_with_where_it_was_looked_for(config, project):
    edit_sheet(project, "GSE22528", samples="../elsewhere/samples.tsv")
    refused(
        config,
        project,
        "cohort GSE22528: `samples` file '../elsewhere/samples.tsv' does not exist (looked for "
        f"{project.parent / 'elsewhere' / 'samples.tsv'})",
    )


def test_frozen_rerun_names_missing_and_changed_inputs(tmp_path):
    outside = tmp_path / "scratch" / "counts.tsv"
    outside.parent.mkdir()
    outside.write_text("gene\tS1\nA\t1\n")
    (tmp_path / "project").mkdir()
    inside = tmp_path / "project" / "samples.tsv"
    inside.write_text("sample\tgroup\nS1\ta\n")
    frozen = checksums([str(outside), "samples.tsv"], base=tmp_path / "project")
    outside.unlink()
    inside.write_text("sample\tgroup\nS1\tb\n")
    with pytest.raises(InputError) as info:
        verify_checksums(frozen, base=tmp_path / "project")
    lines = str(info.value).splitlines()
    assert lines[0] == "2 input file(s) differ from the frozen config's `checksums:`"
    assert lines[1] == (
        f"  {outside}: missing (expected sha256 {frozen[str(outside)]}; the frozen run read it at "
        f"{outside}, an absolute path)"
    )
    assert lines[2].startswith(f"  samples.tsv: expected sha256 {frozen['samples.tsv']}, actual ")
    os.chdir(tmp_path)
    (tmp_path / "project" / "samples.tsv").unlink()
    with pytest.raises(InputError) as info:
        verify_checksums({"samples.tsv": frozen["samples.tsv"]}, base="project")
    assert str(info.value).splitlines()[1] == (
        f"  samples.tsv: missing (expected sha256 {frozen['samples.tsv']}; the frozen run read it "
        f"at samples.tsv, relative to the project directory; looked for {tmp_path}/project/samples.tsv)"
    )


def test_verify_finds_the_manifest_where_the_frozen_config_put_results(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    manifest = "path\tsize\tsha256\nde/x.tsv\t3\t" + "a" * 64 + "\n"
    for where in ("first/provenance", "elsewhere/out/provenance"):
        (tmp_path / where).mkdir(parents=True)
        (tmp_path / where / "manifest.tsv").write_text(manifest)
    (tmp_path / "frozen.yaml").write_text("results: elsewhere/out\nseed: 1\n")
    assert main(["verify", "first/provenance/manifest.tsv", "frozen.yaml"]) == 0
    assert main(["verify", "first", "elsewhere/out"]) == 0
    assert "identical: 1 files in A" in capsys.readouterr().err


# ----------------------------------------------------- class 3: values re-parsed into something else

LABEL_PAIRS = [("1", "0"), ("NA", "None"), ("TRUE", "FALSE"), ("0123", "1e5"), ("null", "nan")]


@pytest.mark.parametrize(("case", "control"), LABEL_PAIRS, ids=["-".join(p) for p in LABEL_PAIRS])
def test_labels_survive_the_sample_sheet_round_trip(tmp_path, case, control):
    samples = pd.DataFrame(
        {"sample": ["0123", "NA", "1e5", "None"], "cohort": "0123",
         "condition": [case, case, control, control], "batch": ["1", "1", "1", "1"]}
    )  # fmt: skip
    write_tsv(samples, tmp_path / "samples.tsv")
    back = read_tsv(tmp_path / "samples.tsv", dtype={"sample": str, "batch": str})
    assert back.equals(samples.astype(object)), back
    expression = pd.DataFrame(1.0, index=["g1", "g2"], columns=list(samples["sample"]))
    cohort = load_cohort(expression, back, case, control, name="0123")
    assert list(cohort.is_case) == [True, True, False, False]


def test_gene_ids_that_look_like_values_stay_text(tmp_path):
    table = pd.DataFrame(
        {"gene": ["NA", "1e5", "TRUE", "0123", "None"], "pvalue": [0.1, 0.2, None, 0.4, 0.5]}
    )
    write_tsv(table, tmp_path / "de.tsv")
    back = read_tsv(tmp_path / "de.tsv")
    assert list(back["gene"]) == ["NA", "1e5", "TRUE", "0123", "None"]
    assert back["pvalue"].isna().tolist() == [False, False, True, False, False]


def test_missing_id_is_written_empty_and_read_back_missing(tmp_path):
    table = pd.DataFrame({"sample": ["a", "b"], "subject": ["NA", None]})
    write_tsv(table, tmp_path / "s.tsv")
    assert (tmp_path / "s.tsv").read_text() == "sample\tsubject\na\tNA\nb\t\n"
    back = read_tsv(tmp_path / "s.tsv")
    assert back["subject"].iloc[0] == "NA" and pd.isna(back["subject"].iloc[1])


def test_user_sample_sheet_keeps_ids_and_condition_verbatim(tmp_path):
    path = tmp_path / "samples.tsv"
    path.write_text("sample\tgroup\tage\nNA\tNA\tNA\n0123\tNone\t40\n1e5\tTRUE\t\n")
    sheet = read_sample_sheet(path, "sample", ("group",))
    assert list(sheet.index) == ["NA", "0123", "1e5"]
    assert list(sheet["group"]) == ["NA", "None", "TRUE"]
    assert sheet["age"].isna().tolist() == [True, False, True]  # covariates: NA is missing


def test_case_value_na_matches_samples(config, project):
    path = project / "resources_local" / "GSE22528_samples.tsv"
    path.parent.mkdir()
    text = (project / "resources/example/GSE22528/GSE22528_samples.tsv").read_text()
    path.write_text(text.replace("allergic asthma", "NA"))
    edit_sheet(
        project, "GSE22528", samples="resources_local/GSE22528_samples.tsv", case_values="NA"
    )
    run_checks(config)


@pytest.mark.parametrize("cohort", ["NA", "None", "0123", "1e5", "TRUE"])
def test_cohort_ids_that_look_like_values_stay_text(project, cohort):
    edit_sheet(project, "GSE22528", cohort=cohort)
    sheet = read_cohort_sheet("config/cohorts.tsv")
    assert list(sheet["cohort"]) == ["GSE85567", "GSE27011", cohort]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" asthma", "config study.case_label: ' asthma' has leading or trailing whitespace"),
        ("asthma ", "config study.case_label: 'asthma ' has leading or trailing whitespace"),
        ("as\tthma", "config study.case_label: 'as\\tthma' contains a tab, newline or other control character"),
        ("as\nthma", "config study.case_label: 'as\\nthma' contains a tab, newline or other control character"),
    ],
    ids=["leading-space", "trailing-space", "tab", "newline"],
)  # fmt: skip
def test_label_that_cannot_round_trip_is_refused(config, project, value, expected):
    refused(set_key(config, "study.case_label", value), project, expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", "'' should be non-empty"), (1, "1 is not of type 'string'"), (True, "True is not of type 'string'")],
    ids=["empty", "yaml-int", "yaml-bool"],
)  # fmt: skip
def test_label_of_wrong_type_fails_the_schema_naming_the_key(config, project, value, expected):
    text = refused(set_key(config, "study.control_label", value), project, expected, WorkflowError)
    assert "['study']['control_label']" in text


# ------------------------------------------------- class 4: config values that pass the schema


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("seed", 20261123.0, "config seed: 20261123.0 is not an integer (a decimal point makes it a float)"),
        ("candidates.top_n", 50.0, "config candidates.top_n: 50.0 is not an integer (a decimal point makes it a float)"),
        ("de.counts.min_samples", 3.0, "config de.counts.min_samples: 3.0 is not an integer (a decimal point makes it a float)"),
        ("meta.min_cohorts", 2.0, "config meta.min_cohorts: 2.0 is not an integer (a decimal point makes it a float)"),
        ("enrichment.gsea.permutations", 1000.0, "config enrichment.gsea.permutations: 1000.0 is not an integer (a decimal point makes it a float)"),
        ("qc.outlier_z", float("nan"), "config qc.outlier_z: nan is not a finite number"),
        ("de.lfc_threshold", float("inf"), "config de.lfc_threshold: inf is not a finite number"),
        ("candidates.weights.auc", float("inf"), "config candidates.weights.auc: inf is not a finite number"),
        ("enrichment.ora.min_size", 600, "config enrichment.ora.min_size (600) is larger than enrichment.ora.max_size (500)"),
        ("enrichment.gsea.min_size", 501, "config enrichment.gsea.min_size (501) is larger than enrichment.gsea.max_size (500)"),
    ],
    ids=["seed-float", "top-n-float", "min-samples-float", "min-cohorts-float", "permutations-float",
         "outlier-z-nan", "lfc-inf", "weight-inf", "ora-sizes", "gsea-sizes"],
)  # fmt: skip
def test_value_the_schema_lets_through_is_refused(config, project, key, value, expected):
    refused(set_key(config, key, value), project, expected)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("seed", 2**32, f"{2**32} is greater than the maximum of {SEED_MAX}"),
        ("seed", SEED_MAX + 1, f"{SEED_MAX + 1} is greater than the maximum of {SEED_MAX}"),
        ("seed", -1, "-1 is less than the minimum of 0"),
        ("seed", True, "True is not of type 'integer'"),
        ("seed", "1", "'1' is not of type 'integer'"),
        ("geo.timeout_s", float("inf"), "inf is greater than the maximum of 86400"),
        ("geo.retries", 1000, "1000 is greater than the maximum of 100"),
        ("geo.base_url", "ftp.ncbi.nlm.nih.gov", "'ftp.ncbi.nlm.nih.gov' does not match"),
        ("geo.symbol_columns", {"570": "Gene Symbol"}, "'570' does not match"),
        ("enrichment.gsea.permutations", 10**8, "100000000 is greater than the maximum of 10000000"),
        ("enrichment.libraries.GO_BP", "", "'' should be non-empty"),
        ("merge.combat.reference_batch", "", "'' should be non-empty"),
        ("study.name", "x" * 101, "is too long"),
    ],
    ids=["seed-2-32", "seed-max-plus-1", "seed-negative", "seed-bool", "seed-string", "timeout-inf",
         "retries-huge", "base-url-no-scheme", "symbol-columns-key", "permutations-huge",
         "library-empty", "reference-batch-empty", "name-too-long"],
)  # fmt: skip
def test_schema_refuses_the_value_naming_the_key(config, project, key, value, expected):
    text = refused(set_key(config, key, value), project, expected, WorkflowError)
    path = "".join(f"['{part}']" for part in key.split("."))
    assert path in text or path.rsplit("[", 1)[0] in text, text


def test_largest_seed_is_accepted(config, project):
    run_checks(set_key(config, "seed", SEED_MAX))


# --------------------------------------------------------------------- class 7: colliding names


@pytest.mark.parametrize(
    "cohort", ["meta", "merged", "logs", "provenance", "all", "Meta", "LOGS", "benchmarks"]
)
def test_cohort_id_that_is_a_workflow_word_is_refused(project, cohort):
    edit_sheet(project, "GSE22528", cohort=cohort)
    with pytest.raises(InputError) as info:
        read_cohort_sheet("config/cohorts.tsv")
    assert str(info.value).splitlines()[0] == (
        f"config/cohorts.tsv: cohort ID {cohort!r} is a name the workflow uses for its own files or rules"
    )


def test_cohort_ids_differing_only_by_case_are_refused(project):
    edit_sheet(project, "GSE22528", cohort="gse27011")
    with pytest.raises(InputError) as info:
        read_cohort_sheet("config/cohorts.tsv")
    assert str(info.value).splitlines()[0] == (
        "config/cohorts.tsv: cohort IDs 'GSE27011' and 'gse27011' differ only by case"
    )


def test_cohort_id_too_long_is_refused(project):
    long_id = "G" * (MAX_ID_LENGTH + 1)
    edit_sheet(project, "GSE22528", cohort=long_id)
    with pytest.raises(InputError) as info:
        read_cohort_sheet("config/cohorts.tsv")
    assert str(info.value).splitlines()[0] == (
        f"config/cohorts.tsv: cohort ID {long_id[:40]!r}... is 101 characters long (at most 100)"
    )
    edit_sheet(project, long_id, cohort="G" * MAX_ID_LENGTH)
    read_cohort_sheet("config/cohorts.tsv")  # 100 is fine


def test_cohort_id_plus_longest_suffix_over_255_bytes_is_refused():
    patterns = ["de/{cohort}/de.tsv", "validation/loco_{cohort}" + "x" * 160 + ".log"]
    suffix = longest_suffix(patterns)
    assert suffix == len("loco_" + "x" * 160 + ".log")
    check_cohort_ids(["A" * (255 - suffix)], suffix_bytes=suffix)
    with pytest.raises(InputError, match=r"makes file names longer than 255 bytes"):
        check_cohort_ids(["A" * (256 - suffix)], suffix_bytes=suffix)


def test_cohort_that_makes_two_outputs_one_file_is_refused():
    outputs = [
        "r/performance/summary_roc.png",
        "r/performance/GSE1.png",
        "r/performance/summary_roc.png",
    ]
    with pytest.raises(InputError) as info:
        check_output_collisions(outputs, ["GSE1", "summary_roc"])
    assert str(info.value).splitlines()[0] == (
        "cohort ID 'summary_roc' makes two outputs of the workflow the same file "
        "'r/performance/summary_roc.png'"
    )
    check_output_collisions(outputs[:2], ["GSE1"])


def test_workflow_words_come_from_the_rules():
    patterns = ["performance/summary_roc.png", "performance/GSE1.png", "qc/{cohort}/pca.png"]
    words = workflow_words(patterns, ["validation_loco"], cohorts=["GSE1"])
    assert {
        "performance",
        "summary_roc",
        "summary_roc.png",
        "qc",
        "validation_loco",
        "meta",
    } <= words
    assert "gse1" not in words and "{cohort}" not in words
    with pytest.raises(InputError, match=r"cohort ID 'Summary_ROC' is a name the workflow uses"):
        check_cohort_ids(["Summary_ROC"], words)


# -------------------------------------------------------------------------------- end to end


def _config_text(workdir: Path, old: str, new: str) -> None:
    path = workdir / "config" / "config.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _files(directory: Path) -> list[str]:
    return sorted(
        str(p.relative_to(directory)) for p in directory.rglob("*") if ".snakemake" not in p.parts
    )


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda wd: _config_text(wd, "results: results", 'results: ""'), "config results: '' is empty"),
        (lambda wd: _config_text(wd, "seed: 20261123 ", "seed: 20261123.0 "),
         "config seed: 20261123.0 is not an integer"),
        # with results/<comparison>/performance/figures/<cohort>.png the per-cohort figure no longer
        # shares a folder with summary_roc.png; the name is still refused, as a path word
        # (the same-file check itself: test_cohort_that_makes_two_outputs_one_file_is_refused)
        (lambda wd: edit_sheet(wd, "GSE22528", cohort="summary_roc"),
         "cohort ID 'summary_roc' is a name the workflow uses for its own files or rules"),
        (lambda wd: edit_sheet(wd, "GSE22528", cohort="volcano"),
         "cohort ID 'volcano' is a name the workflow uses for its own files or rules"),
    ],
    ids=["results-empty", "seed-float", "cohort-output-collision", "cohort-derived-word"],
)  # fmt: skip
def test_errors_stop_before_any_job_and_write_nothing(tmp_path, edit, expected):
    workdir = make_workdir(tmp_path / "wd")
    edit(workdir)
    before = _files(workdir)
    result = run_snakemake(workdir, "--cores", "1", timeout=120)
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert _files(workdir) == before
    assert not any(Path(os.sep, name).exists() for name in ("ingest/GSE22528", "logs/ingest"))


@pytest.mark.workflow
def test_user_config_gets_schema_defaults_not_the_example(tmp_path):
    """Issue 18: --configfile is not merged over config/config.yaml (which stays in place here)."""
    workdir = make_workdir(tmp_path / "wd")
    mine = {
        "study": {"name": "sepsis"},
        "cohorts": "config/cohorts.tsv",
        "results": "out",
        "enrichment": {"libraries": {"KEGG": "resources/genesets/KEGG_2021_Human.gmt"}},
    }
    (workdir / "mine.yaml").write_text(yaml.safe_dump(mine))
    result = run_snakemake(
        workdir,
        "--cores",
        "1",
        "out/provenance/config.frozen.yaml",
        configfile="mine.yaml",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"markerflow: results are written to {workdir.resolve() / 'out'}" in result.stderr
    frozen = yaml.safe_load((workdir / "out/provenance/config.frozen.yaml").read_text())
    assert frozen["study"] == {"name": "sepsis", "case_label": "case", "control_label": "control"}
    assert frozen["seed"] == 1
    assert list(frozen["enrichment"]["libraries"]) == ["KEGG"]
    assert not (workdir / "results").exists()


@pytest.mark.slow
@pytest.mark.workflow
def test_labels_one_and_zero_give_correct_de_group_sizes(tmp_path):
    """Issue 19 class 3: with case_label "1" / control_label "0" every DE table has the sample
    counts of the groups (was n_case = 0 and NaN effect sizes: the sheet was read back as numbers)."""
    workdir = make_workdir(tmp_path / "wd")
    _config_text(workdir, "case_label: asthma ", 'case_label: "1" ')
    _config_text(workdir, "control_label: control ", 'control_label: "0" ')
    # the two cohorts whose sheet rows map case_values/control_values onto the study labels
    # (GSE27011 maps its own healthy/mild/severe levels); one comparison, "1_vs_0"
    single_comparison(workdir)
    sheet_path = workdir / "config" / "cohorts.tsv"
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str, keep_default_na=False)
    sheet = sheet[sheet["cohort"] != "GSE27011"].assign(role="discovery")
    sheet.to_csv(sheet_path, sep="\t", index=False)
    cohorts = ("GSE85567", "GSE22528")
    targets = [f"results/1_vs_0/de/{c}/de.tsv" for c in cohorts]
    result = run_snakemake(workdir, "--cores", "2", *targets, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = {}
    for c in cohorts:
        samples = read_tsv(workdir / f"results/ingest/{c}/samples.tsv")
        assert set(samples["condition"]) == {"1", "0"}
        expected[c] = ((samples["condition"] == "1").sum(), (samples["condition"] == "0").sum())
    assert all(n > 0 for pair in expected.values() for n in pair), expected
    for c in cohorts:
        de = read_tsv(workdir / f"results/1_vs_0/de/{c}/de.tsv")
        assert de["n_case"].max() == expected[c][0] and de["n_control"].max() == expected[c][1], c
        assert de["log2fc"].notna().mean() > 0.9
