"""Issue 17 item 6: GEO SOFT family files (several platforms) and GDS files as cohort sources.

Fixtures: tests/fixtures/soft (make_fixtures.py cuts them from the real GSE781 family file and
GDS507 that Debian's r-bioc-geoquery ships; see its docstring). The full real files are read too
when present. Spot checks compare with the raw text of the files.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_fetch import GeoServer
from workflow_utils import make_workdir, run_snakemake, single_comparison

from markerflow.errors import InputError
from markerflow.io import fetch, soft

FIX = Path(__file__).parent / "fixtures" / "soft"
FAMILY = FIX / "GSE781_mini_family.soft.gz"
GDS = FIX / "GDS507_mini.soft.gz"
EXTDATA = Path("/usr/lib/R/site-library/GEOquery/extdata")


def _raw_lines(path: Path) -> list[str]:
    return gzip.open(path, "rt", encoding="utf-8").read().splitlines()


def _raw_sample_value(path: Path, gsm: str, probe: str) -> float:
    lines = _raw_lines(path)
    start = lines.index(f"^SAMPLE = {gsm}")
    begin = lines.index("!sample_table_begin", start)
    end = lines.index("!sample_table_end", begin)
    for line in lines[begin + 2 : end]:
        fields = line.split("\t")
        if fields[0] == probe:
            return float(fields[1])
    raise KeyError(probe)


def test_family_needs_a_platform_and_lists_them():
    with pytest.raises(InputError, match=r"2 platforms \(GPL96, GPL97\)"):
        soft.read_soft_family(FAMILY)
    with pytest.raises(InputError, match="no samples on platform GPL570"):
        soft.read_soft_family(FAMILY, "GPL570")


@pytest.mark.parametrize("platform", ["GPL96", "GPL97"])
def test_family_values_and_characteristics_equal_the_raw_file(platform):
    series = soft.read_soft_family(FAMILY, platform)
    assert series.expression.shape == (60, 8)
    assert set(series.samples["platform_id"]) == {platform}
    assert series.samples["tissue"].value_counts().to_dict() == {"normal": 4, "tumor": 4}
    assert series.characteristic_keys["tissue"] == "tissue"
    rng = np.random.default_rng(0)
    for _ in range(5):
        i, j = rng.integers(60), rng.integers(8)
        gsm, probe = series.expression.columns[j], series.expression.index[i]
        assert series.expression.iat[i, j] == _raw_sample_value(FAMILY, gsm, probe)
    assert series.series["geo_accession"] == "GSE781"


def test_family_spot_checks_on_known_cells():
    gpl96 = soft.read_soft_family(FAMILY, "GPL96")
    assert gpl96.samples.loc["GSM11805", "title"] == "N035 Normal Human Kidney U133A"
    assert gpl96.samples.loc["GSM11805", "patient"] == "035"
    assert gpl96.expression.index[0] == "1007_s_at"  # platform table order
    assert list(gpl96.expression.columns[:2]) == ["GSM11805", "GSM11814"]


def test_platform_tables_and_annotation():
    tables = soft.read_soft_platforms(FAMILY)
    assert sorted(tables) == ["GPL96", "GPL97"]
    assert tables["GPL96"].shape[0] == 60 and "Gene Symbol" in tables["GPL96"].columns
    symbols = soft.soft_annotation(FAMILY, "soft", "GPL96")
    assert symbols["1007_s_at"] == "DDR1"  # the raw Gene Symbol cell (2009 annotation)
    assert soft.soft_annotation(FAMILY, "soft", "GPL97")["200000_s_at"] == "PRPF8"


def test_gds_values_subsets_and_identifiers():
    gds = soft.read_gds(GDS)
    assert gds.expression.shape == (60, 17)
    assert gds.dataset["platform"] == "GPL97"
    assert gds.samples["disease_state"].value_counts().to_dict() == {"RCC": 9, "normal": 8}
    assert gds.samples.loc["GSM11810", "individual"] == "035"
    assert gds.subset_keys["disease_state"] == "disease state"
    # raw row: 200000_s_at PRPF8 4254.000 (first sample GSM11815)
    assert gds.expression.loc["200000_s_at", "GSM11815"] == 4254.0
    assert gds.identifiers["200001_at"] == "CAPNS1"
    header_only = soft.read_gds(GDS, tables=False)
    assert header_only.samples["disease_state"].notna().all()


@pytest.mark.skipif(not (EXTDATA / "GSE781_family.soft.gz").exists(), reason="r-bioc-geoquery")
def test_full_real_files_from_geoquery():
    full = EXTDATA / "GSE781_family.soft.gz"
    series = soft.read_soft_family(full, "GPL97")
    assert series.expression.shape == (22645, 17)
    gds = soft.read_gds(EXTDATA / "GDS507.soft.gz")
    common = gds.expression.index.intersection(series.expression.index)
    assert len(common) == 22645
    # GDS507 is the curated GPL97 half of GSE781: the same values
    np.testing.assert_array_equal(
        gds.expression.loc[common, gds.expression.columns].to_numpy(),
        series.expression.loc[common, gds.expression.columns].to_numpy(),
    )


def test_not_soft_is_an_input_error(tmp_path):
    path = tmp_path / "x.soft"
    path.write_text("hello\nworld\n")
    with pytest.raises(InputError, match="not a GEO SOFT file"):
        soft.parse_soft(path)
    path.write_text("^SAMPLE = GSM1\n!sample_table_begin\nID_REF\tVALUE\n")
    with pytest.raises(InputError, match="truncated"):
        soft.parse_soft(path)


def test_soft_urls():
    base = "https://ftp.ncbi.nlm.nih.gov"
    assert fetch.soft_url("GSE781", base)[0] == (
        f"{base}/geo/series/GSEnnn/GSE781/soft/GSE781_family.soft.gz"
    )
    assert (
        fetch.soft_url("GDS507", base)[0]
        == f"{base}/geo/datasets/GDSnnn/GDS507/soft/GDS507.soft.gz"
    )


FAMILY_PATH = "/geo/series/GSEnnn/GSE781/soft/GSE781_family.soft.gz"
GDS_PATH = "/geo/datasets/GDSnnn/GDS507/soft/GDS507.soft.gz"


@pytest.mark.workflow
@pytest.mark.slow  # two workflow runs of three cohorts
def test_soft_and_gds_cohorts_download_then_run_offline(tmp_path):
    workdir = make_workdir(tmp_path / "wd")
    single_comparison(workdir)
    common = {"role": "discovery", "data_type": "array"}
    rows = [
        {**common, "cohort": "gse781_a", "source": "soft", "accession": "GSE781",
         "platform": "GPL96", "condition_column": "tissue", "case_values": "tumor",
         "control_values": "normal"},
        {**common, "cohort": "gse781_b", "source": "soft", "accession": "GSE781",
         "platform": "GPL97", "condition_column": "tissue", "case_values": "tumor",
         "control_values": "normal"},
        {**common, "cohort": "gds507", "source": "gds", "accession": "GDS507",
         "condition_column": "disease_state", "case_values": "RCC", "control_values": "normal"},
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(workdir / "config" / "cohorts.tsv", sep="\t", index=False)
    files = {FAMILY_PATH: FAMILY.read_bytes(), GDS_PATH: GDS.read_bytes()}
    targets = [f"results/genes/{r['cohort']}/expression.parquet" for r in rows]
    targets += [f"results/ingest/{r['cohort']}/samples.tsv" for r in rows]
    with GeoServer(files) as server:
        path = workdir / "config" / "config.yaml"
        config = yaml.safe_load(path.read_text())
        config["geo"].update(base_url=server.base_url, cache_dir="geo_cache", retries=1)
        path.write_text(yaml.safe_dump(config))
        first = run_snakemake(workdir, "--cores", "2", *targets, timeout=600)
        assert first.returncode == 0, first.stderr[-4000:]
        assert server.requests[FAMILY_PATH] == 1 and server.requests[GDS_PATH] == 1
    outputs = {t: (workdir / t).read_bytes() for t in targets}
    ingested = pd.read_parquet(workdir / "results/ingest/gse781_a/expression.parquet")
    assert ingested.loc["1007_s_at", "GSM11805"] == _raw_sample_value(
        FAMILY, "GSM11805", "1007_s_at"
    )
    samples = pd.read_csv(workdir / "results/ingest/gds507/samples.tsv", sep="\t")
    assert samples["condition"].value_counts().to_dict() == {
        "asthma": 9,
        "control": 8,
    }  # study labels

    shutil.rmtree(workdir / "results")  # no server: from the cache alone
    second = run_snakemake(workdir, "--cores", "2", *targets, timeout=600)
    assert second.returncode == 0, second.stderr[-4000:]
    for target, data in outputs.items():
        assert (workdir / target).read_bytes() == data, target


def _study(rows):
    from markerflow.io.study import check_study, read_cohort_sheet

    config = {"study": {"case_label": "case", "control_label": "control"},
              "cohorts": [dict(r) for r in rows]}  # fmt: skip
    return check_study(config, read_cohort_sheet(config["cohorts"]), base=Path.cwd())


def test_study_checks_soft_phenotypes_before_any_job(monkeypatch):
    monkeypatch.chdir(Path(__file__).parent)
    row = {"cohort": "a", "role": "discovery", "source": "soft", "data_type": "array",
           "matrix": "fixtures/soft/GSE781_mini_family.soft.gz", "platform": "GPL96",
           "condition_column": "tissue", "case_values": "tumor", "control_values": "normal"}  # fmt: skip
    assert _study([row])[0].platform == "GPL96"
    with pytest.raises(InputError, match="2 platforms"):
        _study([{**row, "platform": None}])
    with pytest.raises(InputError, match="matches no sample"):
        _study([{**row, "case_values": "tumour"}])
    gds = {**row, "source": "gds", "matrix": "fixtures/soft/GDS507_mini.soft.gz", "platform": None,
           "condition_column": "disease_state", "case_values": "RCC"}  # fmt: skip
    assert _study([gds])[0].source == "gds"
    with pytest.raises(InputError, match="needs a GDS accession"):
        _study([{**gds, "matrix": None, "accession": "GSE781"}])
