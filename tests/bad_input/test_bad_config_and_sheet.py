"""Broken config (config/config.yaml) and cohort sheets (config/cohorts.tsv), checked before any job.

Config keys are validated by the JSON schema (Snakemake's ``validate``: the message names the key);
what a schema cannot see (files, paths, phenotype values) by :func:`markerflow.io.study.check_study`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from workflow_utils import PROJECT_DIR

from markerflow.errors import InputError
from markerflow.io.study import check_study, confined_path, read_cohort_sheet

CONFIG_SCHEMA = str(PROJECT_DIR / "workflow" / "schemas" / "config.schema.yaml")
SHEET = PROJECT_DIR / "config" / "cohorts.tsv"


@pytest.fixture
def config():
    return yaml.safe_load((PROJECT_DIR / "config" / "config.yaml").read_text())


def sheet_file(tmp_path: Path, edit=None, name="cohorts.tsv") -> Path:
    sheet = pd.read_csv(SHEET, sep="\t", dtype=str)
    if edit is not None:
        sheet = edit(sheet)
    path = tmp_path / name
    sheet.to_csv(path, sep="\t", index=False)
    return path


def set_cell(cohort, column, value):
    def edit(sheet):
        sheet.loc[sheet["cohort"] == cohort, column] = value
        return sheet

    return edit


def check(config, path):
    return check_study(config, read_cohort_sheet(path), base=PROJECT_DIR)


# ------------------------------------------------------------------------------------- config keys


@pytest.mark.parametrize(
    ("mutate", "key", "message"),
    [
        (lambda c: c.__setitem__("seed", "abc"), "seed", "'abc' is not of type 'integer'"),
        (lambda c: c["qc"].__setitem__("outlierz", 3), "qc", "'outlierz' was unexpected"),
        (lambda c: c.pop("cohorts"), "", "'cohorts' is a required property"),
        (lambda c: c["de"]["arrays"].__setitem__("proportion", 2), "proportion", "maximum of 1"),
        (lambda c: c["genes"].__setitem__("collapse", "sum"), "collapse", "is not one of"),
        (lambda c: c["study"].__setitem__("name", "../x"), "name", "does not match"),
        (lambda c: c["de"]["counts"].__setitem__("min_samples", "half"), "min_samples", "half"),
    ],
    ids=[
        "wrong-type",
        "unknown-key",
        "missing-key",
        "out-of-range",
        "bad-enum",
        "bad-name",
        "bad-oneof",
    ],
)
def test_schema_names_the_key(config, mutate, key, message):
    mutate(config)
    with pytest.raises(WorkflowError) as info:
        validate(config, CONFIG_SCHEMA)
    text = str(info.value)
    assert message in text
    assert f"['{key}']" in text or not key


def test_case_and_control_labels_must_differ(config):
    config["study"]["control_label"] = " Asthma "
    with pytest.raises(InputError, match=r"case_label and study\.control_label must differ"):
        check(config, SHEET)


def test_missing_gene_set_library_is_named(config):
    config["enrichment"]["libraries"]["KEGG"] = "resources/genesets/nope.gmt"
    with pytest.raises(InputError, match=r"enrichment.libraries.KEGG: file .*nope.gmt"):
        check(config, SHEET)


# ------------------------------------------------------------------ paths confined to the project


@pytest.mark.parametrize("value", ["../outside.tsv", "/nonexistent/x.tsv", "resources/../../x.tsv"])
def test_sheet_input_outside_project_must_exist(config, tmp_path, value):
    # inputs may live anywhere (issue 19, class 2), but must exist: the message says where
    path = sheet_file(tmp_path, set_cell("GSE22528", "samples", value))
    with pytest.raises(InputError, match=r"cohort GSE22528: `samples` file .* does not exist"):
        check(config, path)


def test_sheet_input_outside_project_is_allowed(config, tmp_path):
    outside = tmp_path / "scratch" / "samples.tsv"
    outside.parent.mkdir()
    outside.write_bytes(
        (PROJECT_DIR / "resources/example/GSE22528/GSE22528_samples.tsv").read_bytes()
    )
    specs = check(config, sheet_file(tmp_path, set_cell("GSE22528", "samples", str(outside))))
    assert [s.samples for s in specs if s.cohort == "GSE22528"] == [str(outside)]


def test_results_outside_project_is_rejected(config):
    config["results"] = "../elsewhere/x"
    with pytest.raises(InputError, match=r"config `results`: path '../elsewhere/x' points outside"):
        check(config, SHEET)


def test_library_outside_project_is_allowed_when_it_exists(config, tmp_path):
    config["enrichment"]["libraries"]["GO_BP"] = str(tmp_path / "sets.gmt")
    with pytest.raises(InputError, match=r"enrichment.libraries.GO_BP: file '/.*sets.gmt'"):
        check(config, SHEET)
    (tmp_path / "sets.gmt").write_text("S1\tna\tA\tB\n")
    check(config, SHEET)


def test_links_and_inner_dotdot_stay_allowed(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to("/etc")  # a link inside the project is the user's choice
    assert confined_path("data/../data/x", "k", tmp_path) == tmp_path / "data/../data/x"
    assert confined_path("link/hostname", "k", tmp_path) == tmp_path / "link/hostname"
    assert confined_path(str(tmp_path / "data/x"), "k", tmp_path) == tmp_path / "data/x"


# --------------------------------------------------------------------------------- cohort sheet


def test_empty_sheet(tmp_path):
    path = tmp_path / "cohorts.tsv"
    path.write_text("")
    with pytest.raises(InputError, match=r"cohorts.tsv: is empty"):
        read_cohort_sheet(path)


def test_sheet_not_utf8(tmp_path):
    path = sheet_file(tmp_path, set_cell("GSE22528", "description", "caf\u00e9"))
    path.write_bytes(path.read_text().encode("latin-1"))
    with pytest.raises(InputError, match=r"cohorts.tsv: is not UTF-8 text"):
        read_cohort_sheet(path)


def test_unknown_column_is_named(tmp_path):
    """A misspelt column (`covariate`) would silently drop the covariates: an error."""
    path = sheet_file(tmp_path, lambda s: s.rename(columns={"covariates": "covariate"}))
    with pytest.raises(InputError, match=r"cohorts.tsv: unknown column\(s\): 'covariate'"):
        read_cohort_sheet(path)


def test_missing_required_column_is_named(config, tmp_path):
    path = sheet_file(tmp_path, lambda s: s.drop(columns=["condition_column"]))
    with pytest.raises(InputError, match=r"lacks required column\(s\): condition_column"):
        check(config, path)


def test_wrong_role_fails_schema(tmp_path):
    sheet = read_cohort_sheet(sheet_file(tmp_path, set_cell("GSE22528", "role", "test")))
    with pytest.raises(WorkflowError, match=r"'test' is not one of \['discovery', 'validation'\]"):
        validate(sheet, str(PROJECT_DIR / "workflow" / "schemas" / "cohorts.schema.yaml"))


@pytest.mark.parametrize("bad_id", ["../GSE1", "GSE/1", "GSE..1", ".hidden", "a b"])
def test_path_traversal_cohort_id(tmp_path, bad_id):
    path = sheet_file(tmp_path, set_cell("GSE22528", "cohort", bad_id))
    with pytest.raises(InputError, match=rf"line 4: cohort ID {re.escape(repr(bad_id))} is not"):
        read_cohort_sheet(path)


def test_duplicate_cohort_id(tmp_path):
    path = sheet_file(tmp_path, set_cell("GSE22528", "cohort", "GSE27011"))
    with pytest.raises(InputError, match=r"duplicate cohort IDs: GSE27011"):
        read_cohort_sheet(path)


def test_condition_value_absent_from_cohort(config, tmp_path):
    path = sheet_file(tmp_path, set_cell("GSE22528", "control_values", "healthy;smoker"))
    with pytest.raises(InputError, match=r"cohort GSE22528: control_values value 'smoker' matches"):
        check(config, path)


def test_same_value_case_and_control(config, tmp_path):
    path = sheet_file(tmp_path, set_cell("GSE22528", "control_values", "healthy;Allergic Asthma"))
    with pytest.raises(InputError, match=r"cohort GSE22528: value\(s\) \['allergic asthma'\] are"):
        check(config, path)


def test_no_discovery_cohort(config, tmp_path):
    path = sheet_file(tmp_path, lambda s: s.assign(role="validation"))
    with pytest.raises(InputError, match=r"no cohort with role `discovery`"):
        check(config, path)


def test_ten_megabyte_description_is_read(config, tmp_path):
    huge = "x" * (10 * 1024 * 1024)
    path = sheet_file(tmp_path, set_cell("GSE22528", "description", huge))
    specs = check(config, path)
    assert len(specs[2].description) == len(huge)


# ----------------------------------------------------------------------- safe loading, no eval


SOURCES = [
    *(PROJECT_DIR / "src").rglob("*.py"),
    *(PROJECT_DIR / "workflow").rglob("*.py"),
    *(PROJECT_DIR / "workflow").rglob("*.smk"),
    PROJECT_DIR / "Snakefile",
]


def test_no_unsafe_yaml_or_eval_in_the_code():
    unsafe = re.compile(r"yaml\.(load|load_all|unsafe_load|full_load)\((?![^)]*SafeLoader)")
    evaluating = re.compile(r"(?<![\w.])(eval|exec)\(|pd\.eval\(|\.query\(")
    offenders = [
        f"{path.relative_to(PROJECT_DIR)}:{n}"
        for path in SOURCES
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if unsafe.search(line) or evaluating.search(line)
    ]
    assert offenders == []


def test_python_tags_in_config_are_not_executed(tmp_path):
    """Snakemake loads the config with a loader that refuses arbitrary Python objects."""
    from snakemake.common.configfile import load_configfile

    marker = tmp_path / "pwned"
    path = tmp_path / "config.yaml"
    path.write_text(f"seed: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(WorkflowError, match="not valid JSON or YAML"):
        load_configfile(str(path))
    assert not marker.exists()
    assert yaml.safe_load("cohorts: \"__import__('os').system('x')\"")["cohorts"].startswith("__")


def test_example_config_still_valid(config):
    validate(copy.deepcopy(config), CONFIG_SCHEMA)
    assert [s.cohort for s in check(config, SHEET)] == ["GSE85567", "GSE27011", "GSE22528"]


def test_every_script_pins_blas_threads_before_numpy():
    """Results must not depend on --cores: each script's first import is _markerflow_path, which
    sets OPENBLAS_NUM_THREADS=1 etc. before numpy loads (see that module)."""
    for script in (PROJECT_DIR / "workflow" / "scripts").glob("*.py"):
        if script.name.startswith("_"):
            continue
        imports = [
            line
            for line in script.read_text().splitlines()
            if line.startswith(("import ", "from "))
        ]
        assert imports[0].startswith("import _markerflow_path"), script.name
