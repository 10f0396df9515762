"""Provenance (issue 8): frozen config, input checksums, versions, manifest, summary page, report.

Unit tests run on small synthetic files. The workflow tests (marked ``workflow``) share the example
run of the session (``example_run``, conftest.py), rerun it from its frozen config in a second
directory with one core and another hash seed, and compare the bytes; they also build the
Snakemake report and tamper with an input file.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import re
import shutil
import zipfile
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import yaml
from workflow_utils import PROJECT_DIR, make_workdir, run_snakemake

from markerflow.errors import InputError
from markerflow.io.study import check_study, read_cohort_sheet
from markerflow.io.tables import sha256_file
from markerflow.report.summary import summary_page
from markerflow.stages.provenance import (
    build_manifest,
    canonical,
    checksums,
    cohort_records,
    compare_manifests,
    freeze_config,
    main,
    software_versions,
    sort_config_in_place,
    study_input_files,
    verify_checksums,
)

COHORT_SHEET = PROJECT_DIR / "config" / "cohorts.tsv"
CONFIG_SCHEMA = PROJECT_DIR / "workflow" / "schemas" / "config.schema.yaml"


# --- unit tests ----------------------------------------------------------------------------------


def test_sha256_and_checksums(tmp_path):
    data = bytes(range(256)) * 5000  # > 1 MiB chunk
    (tmp_path / "a.bin").write_bytes(data)
    assert sha256_file(tmp_path / "a.bin") == hashlib.sha256(data).hexdigest()
    assert checksums(["a.bin"], base=tmp_path) == {"a.bin": hashlib.sha256(data).hexdigest()}
    with pytest.raises(InputError, match=r"missing\.bin"):
        checksums(["missing.bin"], base=tmp_path)


def test_verify_checksums_names_changed_and_missing_files(tmp_path):
    (tmp_path / "x.tsv").write_text("a\tb\n1\t2\n")
    (tmp_path / "y.tsv").write_text("c\n")
    good = checksums(["x.tsv", "y.tsv"], base=tmp_path)
    verify_checksums(good, base=tmp_path)  # no error
    (tmp_path / "x.tsv").write_text("a\tb\n1\t3\n")
    (tmp_path / "y.tsv").unlink()
    with pytest.raises(InputError) as info:
        verify_checksums(good, base=tmp_path)
    message = str(info.value)
    assert "2 input file(s) differ" in message
    assert f"x.tsv: expected sha256 {good['x.tsv']}, actual {sha256_file(tmp_path / 'x.tsv')}" in (
        message
    )
    assert "y.tsv: missing" in message


def test_inline_cohort_sheet_gives_the_same_study_as_the_tsv(project_dir, monkeypatch):
    monkeypatch.chdir(project_dir)
    config = yaml.safe_load((project_dir / "config" / "config.yaml").read_text())
    sheet = read_cohort_sheet(COHORT_SHEET)
    records = cohort_records(sheet)
    # As it comes back from the frozen YAML:
    inline = yaml.safe_load(yaml.safe_dump(records))
    again = read_cohort_sheet(inline)
    assert cohort_records(again) == records
    assert check_study(config, again) == check_study(config, sheet)


def test_inline_cohort_rows_accept_yaml_lists_and_booleans():
    sheet = read_cohort_sheet(
        [
            {"cohort": "A", "case_values": ["x", "y"], "log2": False, "batch_column": None},
            {"cohort": "B", "description": 3},
        ]
    )
    assert sheet.loc["A", "case_values"] == "x;y"
    assert sheet.loc["A", "log2"] == "no"
    assert pd.isna(sheet.loc["A", "batch_column"]) and pd.isna(sheet.loc["A", "description"])
    assert sheet.loc["B", "description"] == "3"
    with pytest.raises(InputError, match="item 2: cohort ID 'a/b'"):
        read_cohort_sheet([{"cohort": "ok"}, {"cohort": "a/b"}])
    with pytest.raises(InputError, match="duplicate cohort IDs: A"):
        read_cohort_sheet([{"cohort": "A"}, {"cohort": "A"}])
    with pytest.raises(InputError, match="empty list"):
        read_cohort_sheet([])


def test_config_schema_accepts_a_frozen_config():
    schema = yaml.safe_load(CONFIG_SCHEMA.read_text())
    base = {"study": {"name": "s"}}
    jsonschema.validate({**base, "cohorts": "config/cohorts.tsv"}, schema)
    jsonschema.validate(
        {**base, "cohorts": [{"cohort": "A"}], "checksums": {"f.tsv": "ab" * 32}}, schema
    )
    for bad in (
        {**base, "cohorts": []},
        {**base, "cohorts": ["A"]},
        {**base, "cohorts": "c.tsv", "checksums": {"f.tsv": "not-a-digest"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_freeze_config_is_sorted_stable_and_a_fixed_point():
    config = {
        "seed": 7,
        "study": {"name": "s", "control_label": "c", "case_label": "a"},
        "de": {"arrays": {"trend": False, "proportion": 0.01}},
        "cohorts": "config/cohorts.tsv",
        "checksums": {"old": "0" * 64},
    }
    cohorts = [{"role": "discovery", "cohort": "A"}]
    digests = {"resources/b.gmt": "b" * 64, "resources/a.tsv": "a" * 64}
    text = freeze_config(config, cohorts, digests)
    # Reordered input, same bytes:
    reordered = dict(reversed(list(config.items())))
    assert freeze_config(reordered, cohorts, dict(reversed(list(digests.items())))) == text
    frozen = yaml.safe_load(text)
    assert list(frozen) == sorted(frozen)
    assert list(frozen["study"]) == ["case_label", "control_label", "name"]
    assert frozen["checksums"] == digests and frozen["cohorts"] == [
        {"cohort": "A", "role": "discovery"}
    ]
    assert frozen["seed"] == 7 and "old" not in frozen["checksums"]
    # Freezing the frozen config again gives the same bytes.
    assert freeze_config(frozen, frozen["cohorts"], frozen["checksums"]) == text
    assert "snakemake --cores N --configfile results/provenance/config.frozen.yaml" in text


def test_sort_config_in_place_keeps_objects():
    inner = {"b": 1, "a": 2}
    config = {"z": inner, "y": [3], "x": {"d": {"f": 1, "e": 2}}}
    sort_config_in_place(config)
    assert list(config) == ["x", "y", "z"] and config["z"] is inner and list(inner) == ["a", "b"]
    assert list(config["x"]["d"]) == ["e", "f"]
    assert canonical({"b": (1, float("nan")), "a": Path("p")}) == {"a": "p", "b": [1, None]}


def test_sort_config_in_place_sorts_mappings_inside_lists():
    # the comparisons: entries come back from the frozen YAML with sorted keys (issue 16): the
    # run's params must already have them sorted, or the frozen rerun redoes provenance_config
    entry = {"name": "a_vs_b", "case": "a", "control": "b", "pool": {"a": ["x"], "b": ["y"]}}
    config = {"comparisons": [entry, [{"z": 1, "y": 2}]], "seed": 1}
    sort_config_in_place(config)
    assert config["comparisons"][0] is entry and list(entry) == ["case", "control", "name", "pool"]
    assert list(config["comparisons"][1][0]) == ["y", "z"]
    frozen = yaml.safe_load(yaml.safe_dump(config, sort_keys=True))
    assert repr(frozen) == repr(config)


def test_study_input_files_lists_sheet_files_libraries_and_config_paths(project_dir, monkeypatch):
    monkeypatch.chdir(project_dir)
    config = yaml.safe_load((project_dir / "config" / "config.yaml").read_text())
    config["extra"] = {"table": "resources/genesets/GO_CC_symbols_10-500.gmt", "name": "x/y"}
    specs = check_study(config, read_cohort_sheet(COHORT_SHEET))
    files = study_input_files(config, specs)
    assert files == sorted(files)
    expected = {v for s in specs for v in (s.matrix, s.samples, s.annotation) if v}
    expected |= set(config["enrichment"]["libraries"].values())
    expected.add("resources/genesets/GO_CC_symbols_10-500.gmt")
    expected.add(config["genes"]["symbol_table"])
    assert set(files) == expected
    assert "config/cohorts.tsv" not in files  # inlined in the frozen config instead


def test_manifest_and_verify_cli(tmp_path, capsys):
    results = tmp_path / "results"
    for rel, text in {
        "de/A/de.tsv": "gene\n",
        "qc/A/summary.tsv": "m\tv\n",
        "provenance/versions.tsv": "x\n",
        "logs/de/A.log": "log\n",
        "de/A/.de.tsv.123.tmp": "partial",
    }.items():
        (results / rel).parent.mkdir(parents=True, exist_ok=True)
        (results / rel).write_text(text)
    manifest = build_manifest(results)
    assert manifest["path"].tolist() == ["de/A/de.tsv", "qc/A/summary.tsv"]
    assert manifest["size"].tolist() == [5, 4]
    manifest.to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    assert main(["verify", str(tmp_path / "a.tsv"), str(tmp_path / "a.tsv")]) == 0
    changed = manifest.copy()
    changed.loc[0, "sha256"] = "0" * 64
    changed.loc[2] = ["de/A/volcano.png", 3, "1" * 64]
    changed.to_csv(tmp_path / "b.tsv", sep="\t", index=False)
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "a.tsv"), str(tmp_path / "b.tsv")]) == 1
    out = capsys.readouterr().out
    assert "differing\tde/A/de.tsv" in out and "added\tde/A/volcano.png" in out
    assert compare_manifests(manifest, changed, [".png"]) == {
        "added": ["de/A/volcano.png"],
        "missing": [],
        "differing": [],
    }
    assert main(["verify", str(tmp_path / "a.tsv"), str(tmp_path / "b.tsv"), "--only", ".png"]) == 1
    assert main(["verify", str(tmp_path / "a.tsv"), str(tmp_path / "nope.tsv")]) == 2


def test_check_inputs_cli(tmp_path, capsys):
    (tmp_path / "in.tsv").write_text("a\n")
    frozen = tmp_path / "frozen.yaml"
    frozen.write_text(freeze_config({}, [], checksums(["in.tsv"], base=tmp_path)))
    assert main(["check-inputs", str(frozen), "--base", str(tmp_path)]) == 0
    (tmp_path / "in.tsv").write_text("b\n")
    assert main(["check-inputs", str(frozen), "--base", str(tmp_path)]) == 2
    assert "in.tsv: expected sha256" in capsys.readouterr().err


def test_software_versions_lists_python_and_packages():
    versions = software_versions(PROJECT_DIR)
    rows = dict(zip(versions["name"], versions["version"], strict=True))
    import platform

    import numpy

    assert rows["python"] == platform.python_version()
    assert rows["numpy"] == numpy.__version__
    workflow = versions[versions["kind"] == "workflow"].set_index("name")["version"]
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown", workflow["markerflow"])
    packages = versions[versions["kind"] == "package"]["name"].str.lower().tolist()
    assert packages == sorted(packages) and len(packages) == len(set(packages))


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if "href" in attrs:
            self.links.append(attrs["href"])
        if "src" in attrs and tag != "img":
            self.links.append(attrs["src"])  # a script, frame or media source
        if "id" in attrs:
            self.ids.append(attrs["id"])

    def handle_data(self, data):
        self.text.append(data)


NCBI_GENE = "https://www.ncbi.nlm.nih.gov/gene/?term="


def _outside(links: list[str]) -> list[str]:
    """Links leaving the page other than the NCBI Gene links of gene names (a link, not a
    request: the browser test checks that nothing is fetched)."""
    return [link for link in links if not link.startswith(("#", NCBI_GENE))]


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from markerflow.plots.figure import save_figure

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)


def test_summary_page_uses_only_given_files_and_embeds_figures(tmp_path):
    r = tmp_path / "results"
    # per-cohort stages at results/<stage>/, the rest under the one comparison's folder
    files = {
        "ingest/A/samples.tsv": "sample\tcohort\tcondition\tbatch\ns1\tA\tcase\t1\ns2\tA\tcontrol\t1\n",
        "qc/A/summary.tsv": "metric\tvalue\nfeatures\t10\nsamples\t2\noutlier_samples\tnone\n",
        "case_vs_control/de/A/summary.tsv": "metric\tvalue\ncohort\tA\nmethod\tlimma\n",
        "case_vs_control/de/A/de.tsv": "gene\tlog2fc\tpvalue\tpadj\nG1\t1.5\t0.01\t0.02\nG2\t-1\t0.001\t0.01\n",
        "case_vs_control/candidates/candidates.tsv": "rank\tgene\tscore\teffect_size\n1\tG2\t0.9\t0.8\n",
        "case_vs_control/signature/performance.tsv": "cohort\tauc\tauc_lower\tauc_upper\nV\t0.8\t0.6\t0.95\n",
        "case_vs_control/signature/genes.tsv": "gene\tdirection\nG2\tdown\n",
        "case_vs_control/newstage/table.tsv": "x\n1\n",
        "case_vs_control/meta/meta.tsv": 'broken\n"unterminated\n',
    }
    for rel, text in files.items():
        (r / rel).parent.mkdir(parents=True, exist_ok=True)
        (r / rel).write_text(text)
    _png(r / "case_vs_control/de/A/volcano.png")
    _png(r / "case_vs_control/signature/roc.png")
    _png(r / "qc/A/pca.png")  # on disk but not handed in: must not appear
    given = [str(r / rel) for rel in files if not rel.startswith("case_vs_control/meta/")]
    given += [
        str(r / "case_vs_control/de/A/volcano.png"),
        str(r / "case_vs_control/signature/roc.png"),
    ]
    config = {
        "study": {"name": "demo", "case_label": "case", "control_label": "control"},
        "seed": 3,
    }
    cohorts = [{"cohort": "A", "role": "discovery", "data_type": "array"}]
    text = summary_page(given, r, config, cohorts)
    assert text == summary_page(list(reversed(given)), r, config, cohorts)  # deterministic
    page = _parse(text)
    assert len(page.images) == 2 and all(
        s.startswith("data:image/png;base64,") for s in page.images
    )
    assert not _outside(page.links)  # self-contained
    assert f"{NCBI_GENE}G2" in page.links  # gene names link to NCBI Gene
    assert [i for i in page.ids if "-gene-" not in i] == [
        "design",
        "cohorts",
        "qc",
        "case_vs_control",
        "case_vs_control-de",
        "case_vs_control-candidates",
        "case_vs_control-signature",
        "case_vs_control-newstage",
        "case_vs_control-checklist",
        "provenance",
    ]
    body = " ".join(page.text)
    for needle in ("demo", "limma", "G2", "0.8", "signature/genes.tsv", "Seed"):
        assert needle in body, needle
    assert "could not be built" not in body
    # A table that cannot be read becomes a note, not an exception:
    broken = summary_page([*given, str(r / "case_vs_control/meta/meta.tsv")], r, config, cohorts)
    assert "could not be built" in broken


# --- workflow tests ------------------------------------------------------------------------------

TABLE_SUFFIXES = (".tsv", ".parquet")


def _digests(results: Path, suffixes=TABLE_SUFFIXES) -> dict[str, str]:
    return {
        p.relative_to(results).as_posix(): sha256_file(p)
        for p in sorted(results.rglob("*"))
        if p.is_file() and p.name.endswith(suffixes) and "logs" not in p.relative_to(results).parts
    }


@pytest.fixture(scope="session")
def frozen_rerun(full_example_run, tmp_path_factory):
    """Rerun from the first run's frozen config alone (no config.yaml, no cohorts.tsv), in another
    directory, with another hash seed and on one core where the first run used two: identical
    across runs, hash seeds and core counts (job order differs) in one rerun (CI time budget)."""
    workdir = make_workdir(tmp_path_factory.mktemp("frozen"), copy_config=False)
    (workdir / "config").mkdir()
    shutil.copy(
        full_example_run / "provenance" / "config.frozen.yaml", workdir / "config" / "config.yaml"
    )
    result = run_snakemake(workdir, "--cores", "1", env={"PYTHONHASHSEED": "4242"})
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir / "results"


@pytest.mark.slow
@pytest.mark.workflow
def test_frozen_rerun_reproduces_every_table(full_example_run, frozen_rerun):
    first, second = _digests(full_example_run), _digests(frozen_rerun)
    assert len(first) > 20
    assert first.keys() == second.keys()
    differing = [path for path in first if first[path] != second[path]]
    assert not differing, differing


@pytest.mark.slow
@pytest.mark.workflow
def test_frozen_rerun_manifests_are_identical(full_example_run, frozen_rerun, capsys):
    """Every output, figures and the summary page included, has the same bytes."""
    a = full_example_run / "provenance" / "manifest.tsv"
    b = frozen_rerun / "provenance" / "manifest.tsv"
    status = main(["verify", str(a), str(b)])
    assert status == 0, capsys.readouterr().out
    manifest = pd.read_csv(a, sep="\t")
    # Snakemake's own marker in a directory output (performance/figures/) is not an output
    on_disk = {
        p: d
        for p, d in _digests(full_example_run, suffixes=("",)).items()
        if not p.startswith("provenance/") and not p.endswith(".snakemake_timestamp")
    }
    assert dict(zip(manifest["path"], manifest["sha256"], strict=True)) == on_disk


@pytest.mark.slow
@pytest.mark.workflow
def test_frozen_config_is_complete_and_a_fixed_point(full_example_run, frozen_rerun, project_dir):
    text = (full_example_run / "provenance" / "config.frozen.yaml").read_bytes()
    assert (frozen_rerun / "provenance" / "config.frozen.yaml").read_bytes() == text
    frozen = yaml.safe_load(text)
    schema = yaml.safe_load(CONFIG_SCHEMA.read_text())

    def defaults_present(schema_node, value, where):
        for key, sub in schema_node.get("properties", {}).items():
            if "default" in sub or (sub.get("type") == "object" and "properties" in sub):
                if key in ("checksums",):
                    continue
                assert key in value, f"{where}{key} missing from the frozen config"
                if sub.get("type") == "object":
                    defaults_present(sub, value[key], f"{where}{key}.")

    defaults_present(schema, frozen, "")
    assert (
        frozen["seed"] == yaml.safe_load((project_dir / "config/config.yaml").read_text())["seed"]
    )
    assert [row["cohort"] for row in frozen["cohorts"]] == ["GSE85567", "GSE27011", "GSE22528"]
    sheet = read_cohort_sheet(COHORT_SHEET)
    files = {
        sheet.loc[c, k]
        for c in sheet.index
        for k in ("matrix", "samples", "annotation")
        if isinstance(sheet.loc[c, k], str)
    }
    assert files <= set(frozen["checksums"])
    assert set(frozen["enrichment"]["libraries"].values()) <= set(frozen["checksums"])
    for path, digest in frozen["checksums"].items():
        assert sha256_file(project_dir / path) == digest, path


@pytest.mark.workflow
def test_in_place_frozen_rerun_has_nothing_to_do(example_run):
    workdir = example_run.parent
    frozen = example_run / "provenance" / "config.frozen.yaml"
    result = run_snakemake(workdir, "--dry-run", "--configfile", str(frozen))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr, (result.stdout + result.stderr)[
        -3000:
    ]


@pytest.mark.workflow
def test_tampered_input_stops_the_frozen_rerun_before_any_job(example_run, tmp_path):
    workdir = tmp_path / "tampered"
    (workdir / "config").mkdir(parents=True)
    shutil.copytree(PROJECT_DIR / "resources", workdir / "resources")
    shutil.copy(
        example_run / "provenance" / "config.frozen.yaml", workdir / "config" / "config.yaml"
    )
    target = "resources/example/GSE22528/GSE22528_samples.tsv"
    expected = yaml.safe_load((workdir / "config" / "config.yaml").read_text())["checksums"][target]
    data = bytearray((workdir / target).read_bytes())
    data[-2] = ord("X") if data[-2] != ord("X") else ord("Y")  # one byte of the last line
    (workdir / target).write_bytes(bytes(data))
    result = run_snakemake(workdir, "--cores", "1")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{target}: expected sha256 {expected}, actual {sha256_file(workdir / target)}" in output
    assert "input files are not those of the frozen run" in output
    assert "localrule" not in output and "rule ingest" not in output
    assert not (workdir / "results").exists()


def _report_vars(text: str) -> dict[str, object]:
    """The JSON data Snakemake embeds in its single-file report (`var name = {...};`)."""
    found = {}
    for script_id in ("categories", "results", "workflow-desc"):
        match = re.search(rf'<script id="{script_id}">\s*var \w+ = (.*?);\s*</script>', text, re.S)
        assert match, script_id
        found[script_id] = json.loads(match.group(1))
    return found


def _registered(results: str) -> list[str]:
    cohorts = ("GSE85567", "GSE27011", "GSE22528")
    return [
        *[f"{results}/qc/{c}/{n}" for c in cohorts for n in ("summary.tsv", "pca.png")],
        *[
            f"{results}/asthma_vs_control/de/{c}/{n}"
            for c in cohorts
            for n in ("summary.tsv", "volcano.png")
        ],
        f"{results}/provenance/config.frozen.yaml",
        f"{results}/provenance/versions.tsv",
        f"{results}/provenance/manifest.tsv",
    ]


@pytest.mark.slow
@pytest.mark.workflow
def test_snakemake_report_has_every_figure_with_its_caption(full_example_run):
    workdir = full_example_run.parent
    result = run_snakemake(workdir, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    text = (workdir / "report.html").read_text(encoding="utf-8")
    data = _report_vars(text)
    entries = data["results"]
    assert "markerflow" in data["workflow-desc"] and "config.frozen.yaml" in data["workflow-desc"]
    for path in _registered("results"):
        assert path in entries, path
    for path, entry in entries.items():
        assert len(re.sub(r"<[^>]+>", "", entry["caption"]).strip()) > 40, path
        assert "{{" not in entry["caption"], path  # every template variable rendered
        assert entry["data_uri"].startswith("data:"), path
        if path.endswith(".png"):
            assert entry["mime_type"] == "image/png", path
            assert ";base64," in entry["data_uri"]
    categories = data["categories"]
    assert set(categories["Quality control"]) == {"GSE85567", "GSE27011", "GSE22528"}
    # one category per comparison, its stages as subcategories
    assert {f"Differential expression: {c}" for c in ("GSE85567", "GSE27011", "GSE22528")} | {
        "Cohorts",
        "Meta-analysis",
        "Signature",
        "Validation",
    } <= set(categories["asthma_vs_control"])
    # Gene-level tables and the summary page (which holds them all, complete) stay files: in the
    # report they would be embedded a second time (issue 18: 140 MB before, under 10 MB now).
    for path in entries:
        assert not path.endswith(("/de.tsv", "/meta.tsv", "/candidates.tsv", "/ftest.tsv",
                                  "_ora.tsv", "_gsea.tsv", "summary.html")), path  # fmt: skip
    assert "report/summary.html" in data["workflow-desc"]
    size = (workdir / "report.html").stat().st_size
    assert size < 10_000_000, size
    # The zip variant holds the same files.
    result = run_snakemake(workdir, "--report", "report.zip")
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(workdir / "report.zip") as archive:
        assert "report/report.html" in archive.namelist()
        raw = {
            hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if name.startswith("report/data/raw/")
        }
    assert len(raw) >= len(_registered("results"))
    for path in _registered("results"):
        assert sha256_file(workdir / path) in raw, path


@pytest.mark.workflow
def test_summary_page_of_the_example(example_run):
    text = (example_run / "report" / "summary.html").read_text(encoding="utf-8")
    page = _parse(text)
    body = " ".join(page.text)
    assert "could not be built" not in body
    assert not _outside(page.links)
    pngs = sorted(
        p
        for p in pd.read_csv(example_run / "provenance" / "manifest.tsv", sep="\t")["path"]
        if p.endswith(".png")
    )
    assert len(page.images) == len(pngs) >= 8
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    for needle in (
        "asthma_example",
        "GSE85567",
        "discovery",
        "validation",
        "DESeq2",
        "limma",
        "Seed",
        "resources/platforms/GPL6244.tsv.gz",
    ):
        assert needle in body, needle
    # Sample counts of GSE27011 per level (asthma, control, mild, severe, healthy) are in the
    # cohorts table; one section per comparison.
    assert re.search(
        r"GSE27011\s+discovery\s+array\s+series_matrix\s+54\s+0\s+0\s+19\s+17\s+18", body
    )
    assert "Comparison asthma_vs_control" in body


@pytest.mark.slow
@pytest.mark.workflow
def test_summary_page_has_a_section_per_comparison(full_example_run):
    body = " ".join(_parse((full_example_run / "report" / "summary.html").read_text("utf-8")).text)
    for name in ("asthma_vs_control", "severe_vs_healthy", "mild_vs_healthy", "severe_vs_mild"):
        assert f"Comparison {name}" in body, name
