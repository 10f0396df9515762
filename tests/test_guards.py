"""Leakage guards and study warnings (issue 15), end to end through Snakemake with the message.

- At parse time (before any job): a validation cohort sharing a matrix file (same content under
  another name), sample IDs or GSM accessions with a discovery cohort is an error naming both.
- Warnings (printed at parse time, listed in the report): repeated subjects suspected but not
  declared, discovery cohorts of different tissues pooled, one discovery cohort and no validation.
- In the ``guards`` rule (needs the data): a sample whose profile nearly duplicates a sample of
  another cohort is an error naming both samples.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workflow_utils import PROJECT_DIR, make_workdir, run_snakemake, single_comparison

from markerflow.errors import InputError
from markerflow.io.study import CohortSpec, study_warnings, suspected_subjects
from markerflow.stages.guards import near_duplicates, run_guards

EXAMPLE = PROJECT_DIR / "resources" / "example"
GSE22528 = EXAMPLE / "GSE22528"


def add_validation(workdir: Path, **cells: str) -> None:
    """Append a validation cohort `LEAK` (matrix source, array) to the example sheet."""
    path = workdir / "config" / "cohorts.tsv"
    sheet = pd.read_csv(path, sep="\t", dtype=str)
    row = {"cohort": "LEAK", "role": "validation", "source": "matrix", "data_type": "array",
           "sample_column": "sample", "condition_column": "group",
           "case_values": "allergic asthma", "control_values": "healthy", **cells}  # fmt: skip
    sheet = pd.concat([sheet, pd.DataFrame([row])], ignore_index=True)
    sheet.to_csv(path, sep="\t", index=False)


def leak_files(workdir: Path, ids: list[str], extra: dict | None = None) -> dict[str, str]:
    """GSE22528's matrix and sheet renamed to ``ids`` under workdir/data/."""
    (workdir / "data").mkdir(exist_ok=True)
    matrix = pd.read_csv(GSE22528 / "GSE22528_subset_1000genes.tsv", sep="\t", dtype=str)
    sheet = pd.read_csv(GSE22528 / "GSE22528_samples.tsv", sep="\t", dtype=str)
    matrix.columns = ["symbol", *ids]
    sheet["sample"] = ids
    for column, values in (extra or {}).items():
        sheet[column] = values
    matrix.to_csv(workdir / "data" / "leak.tsv", sep="\t", index=False)
    sheet.to_csv(workdir / "data" / "leak_samples.tsv", sep="\t", index=False)
    return {"matrix": "data/leak.tsv", "samples": "data/leak_samples.tsv"}


def _copy_of_series_matrix(workdir: Path) -> dict[str, str]:
    (workdir / "data").mkdir(exist_ok=True)
    shutil.copy(EXAMPLE / "GSE27011" / "GSE27011_series_matrix.txt.gz", workdir / "data" / "v.gz")
    return {"source": "series_matrix", "matrix": "data/v.gz", "sample_column": "",
            "condition_column": "source_name", "case_values": "Mild asthma",
            "control_values": "Healthy control"}  # fmt: skip


def _shared_ids(workdir: Path) -> dict[str, str]:
    counts = pd.read_csv(EXAMPLE / "GSE85567" / "GSE85567_samples.tsv", sep="\t", dtype=str)
    ids = [*counts["column"].iloc[:2], *(f"x{i}" for i in range(8))]
    return leak_files(workdir, ids)


def _shared_gsm(workdir: Path) -> dict[str, str]:
    gsm = ["GSM665386", *(f"GSM9{i:05d}" for i in range(9))]
    return leak_files(workdir, [f"v{i}" for i in range(10)], {"geo_accession": gsm})


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_copy_of_series_matrix,
         r"validation cohort LEAK and discovery cohort GSE27011 share the matrix file "
         r"\('data/v.gz' = 'resources/example/GSE27011/GSE27011_series_matrix.txt.gz'\)"),
        (_shared_ids,
         r"validation cohort LEAK and discovery cohort GSE85567 share 2 sample ID\(s\): \S+_"),
        (_shared_gsm,
         r"validation cohort LEAK and discovery cohort GSE27011 share 1 GSM accession\(s\): "
         r"GSM665386"),
    ],
    ids=["same-matrix-content", "shared-sample-ids", "shared-gsm"],
)  # fmt: skip
def test_validation_leak_stops_before_any_job(tmp_path, make, expected):
    workdir = make_workdir(tmp_path / "wd")
    add_validation(workdir, **make(workdir))
    result = run_snakemake(workdir, "--cores", "1", "-n", timeout=300)
    assert result.returncode != 0
    out = result.stdout + result.stderr  # a dry run prints the error on stdout
    assert "the study definition is invalid" in out
    assert re.search(expected, out), out[-3000:]
    assert "Traceback" not in out
    assert not (workdir / "results").exists()


@pytest.mark.workflow
def test_study_warnings_are_printed_at_parse_time(tmp_path):
    workdir = make_workdir(tmp_path / "wd")
    files = leak_files(workdir, [f"v{i}" for i in range(10)],
                       {"PatientID": ["p1", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"]})  # fmt: skip
    add_validation(workdir, **files)
    path = workdir / "config" / "cohorts.tsv"
    sheet = pd.read_csv(path, sep="\t", dtype=str)
    sheet.loc[sheet["cohort"] == "GSE85567", "tissue"] = "bronchial epithelium"
    sheet.loc[sheet["cohort"] == "GSE27011", "tissue"] = "white blood cells"
    sheet.to_csv(path, sep="\t", index=False)
    result = run_snakemake(workdir, "--cores", "1", "-n", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("markerflow warning: cohort LEAK: repeated samples of one subject suspected (column "
            "'PatientID' repeats values (e.g. 'p1' x2)) but no subject_column is declared"
            ) in result.stderr  # fmt: skip
    assert ("markerflow warning: discovery cohorts of different tissues are pooled in one "
            "meta-analysis: GSE85567 (bronchial epithelium), GSE27011 (white blood cells)"
            ) in result.stderr  # fmt: skip


def test_in_sample_only_warning_and_subject_suspicion():
    spec = CohortSpec("D1", "discovery", "matrix", "array", "c", ("a",), ("b",))
    (warning,) = study_warnings([spec])
    assert warning.startswith("in-sample only: one discovery cohort and no validation cohort")
    titles = pd.DataFrame({"title": ["pt1 day0", "pt1 day0", "pt2"]}, index=["a", "b", "c"])
    assert suspected_subjects(titles) == "duplicate sample titles (e.g. 'pt1 day0' x2)"
    assert suspected_subjects(pd.DataFrame({"donor": ["1", "2"]})) is None


def _cohort(rng, genes, ids):
    return pd.DataFrame(rng.normal(8, 1, (len(genes), len(ids))), index=genes, columns=ids)


def test_near_duplicate_names_both_samples():
    rng = np.random.default_rng(5)
    genes = [f"g{i}" for i in range(300)]
    a = _cohort(rng, genes, [f"a{i}" for i in range(8)])
    b = _cohort(rng, genes[50:], [f"b{i}" for i in range(6)]) + 3.0  # another platform level
    b["b4"] = a.loc[genes[50:], "a2"] + 3.0 + rng.normal(0, 0.02, 250)
    pairs = near_duplicates({"A": a, "B": b})
    assert [(p[0], p[1], p[2], p[3]) for p in pairs] == [("A", "a2", "B", "b4")]
    assert pairs[0][4] > 0.99
    assert near_duplicates({"A": a, "B": b.drop(columns="b4")}) == []
    with pytest.raises(InputError, match=r"sample a2 of cohort A and sample b4 of cohort B"):
        run_guards({"A": a, "B": b}, {"A": "discovery", "B": "validation"}, [])


def test_guards_read_parquet_paths_one_at_a_time(tmp_path):
    """The rule passes paths (one matrix read at a time): the same pairs as frames."""
    from markerflow.io.tables import write_matrix

    rng = np.random.default_rng(5)
    genes = [f"g{i}" for i in range(300)]
    a = _cohort(rng, genes, [f"a{i}" for i in range(8)])
    b = _cohort(rng, genes[50:], [f"b{i}" for i in range(6)]) + 3.0
    b["b4"] = a.loc[genes[50:], "a2"] + 3.0 + rng.normal(0, 0.02, 250)
    a.index.name = b.index.name = "gene"
    paths = {"A": tmp_path / "a.parquet", "B": tmp_path / "b.parquet"}
    write_matrix(a, paths["A"])
    write_matrix(b, paths["B"])
    assert near_duplicates(paths) == near_duplicates({"A": a, "B": b})
    with pytest.raises(InputError, match=r"sample a2 of cohort A and sample b4 of cohort B"):
        run_guards(paths, {"A": "discovery", "B": "validation"}, [])


def test_guards_table_carries_the_warnings():
    rng = np.random.default_rng(6)
    genes = [f"g{i}" for i in range(100)]
    table = run_guards({"A": _cohort(rng, genes, ["s1", "s2", "s3"])}, {"A": "discovery"},
                       ["in-sample only: x"])  # fmt: skip
    assert list(table.columns) == ["kind", "message"]
    assert table["message"].tolist() == ["in-sample only: x"]


@pytest.mark.slow
@pytest.mark.workflow
def test_near_duplicate_samples_stop_the_guards_rule(tmp_path):
    workdir = make_workdir(tmp_path / "wd")
    ids = [f"v{i}" for i in range(10)]
    files = leak_files(workdir, ids)  # GSE22528's arrays under new sample IDs
    sheet = pd.read_csv(workdir / "config" / "cohorts.tsv", sep="\t", dtype=str)
    sheet = sheet[sheet["cohort"] == "GSE22528"].assign(role="discovery")
    sheet.to_csv(workdir / "config" / "cohorts.tsv", sep="\t", index=False)
    single_comparison(workdir)  # no GSE27011: only asthma vs control
    add_validation(workdir, **files)
    result = run_snakemake(
        workdir, "--cores", "1", "results/asthma_vs_control/guards/warnings.tsv", timeout=600
    )
    assert result.returncode != 0
    message = ("10 near-duplicate sample profile(s) across cohorts (correlation >= 0.99 of "
               "gene-centred profiles): sample aa1 of cohort GSE22528 and sample v0 of "
               "cohort LEAK (r = 1.0000)")  # fmt: skip
    assert message in result.stderr, result.stderr[-3000:]
    assert message in (workdir / "results/logs/asthma_vs_control/guards/guards.log").read_text()
    assert not (workdir / "results/asthma_vs_control/guards/warnings.tsv").exists()


@pytest.mark.workflow
def test_in_sample_only_warning_is_printed(tmp_path):
    workdir = make_workdir(tmp_path / "wd")
    path = workdir / "config" / "cohorts.tsv"
    sheet = pd.read_csv(path, sep="\t", dtype=str)
    sheet[sheet["cohort"] == "GSE27011"].to_csv(path, sep="\t", index=False)
    result = run_snakemake(workdir, "--cores", "1", "-n", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("markerflow warning: in-sample only: one discovery cohort and no validation cohort; "
            "every performance figure is in-sample") in result.stderr  # fmt: skip
    assert "performance" not in result.stdout.split("Job stats:")[-1].split("\n\n")[0]


def _direct_correlations(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """The module docstring's formula on the joined columns, written out (the reference)."""
    common = a.index.intersection(b.index)
    x = np.hstack([a.loc[common].to_numpy(), b.loc[common].to_numpy()])
    with np.errstate(invalid="ignore"):
        x = np.nan_to_num(x - np.nanmean(x, axis=1, keepdims=True), nan=0.0)
    sd = x.std(axis=0, keepdims=True)
    z = (x - x.mean(axis=0, keepdims=True)) / np.where(sd > 0, sd, np.inf)
    return z[:, : a.shape[1]].T @ z[:, a.shape[1] :] / common.size


def test_pair_correlations_equal_the_direct_formula():
    """Prepared once per cohort, centred per pair: the same correlations as the joined-column
    formula to 1e-12, with missing values, a gene missing in every sample, a constant sample and
    cohorts on different genes; a threshold just below a known correlation finds exactly it."""
    rng = np.random.default_rng(11)
    genes = [f"g{i}" for i in range(400)]
    a = _cohort(rng, genes, [f"a{i}" for i in range(7)])
    b = _cohort(rng, [*genes[30:], "x1", "x2"], [f"b{i}" for i in range(5)]) + 2.0
    c = _cohort(rng, genes, [f"c{i}" for i in range(4)])
    a = a.mask(rng.random(a.shape) < 0.03)
    b.loc["g40"] = np.nan
    a.loc["g40"] = np.nan
    c["c3"] = 5.0
    b["b2"] = a.loc[b.index.intersection(a.index), "a1"].reindex(b.index).fillna(8.0) + 2.0
    b["b2"] += rng.normal(0, 0.05, len(b))
    import markerflow.stages.guards as guards

    cohorts = {"A": a, "B": b, "C": c}
    for x, y in [("A", "B"), ("A", "C"), ("B", "C")]:
        pa, pb = (guards._profiles(cohorts[c], cohorts[c]) for c in (x, y))
        common = pa.genes.intersection(pb.genes)
        ia, ib = pa.genes.get_indexer(common), pb.genes.get_indexer(common)
        mean = (pa.sums[ia] + pb.sums[ib]) / np.maximum(pa.counts[ia] + pb.counts[ib], 1)
        got = guards._standardised(pa, ia, mean).T @ guards._standardised(pb, ib, mean)
        np.testing.assert_allclose(got / common.size, _direct_correlations(cohorts[x], cohorts[y]),
                                   rtol=0, atol=1e-12)  # fmt: skip
    r = _direct_correlations(a, b)[1, 2]
    assert 0.95 < r < 1.0
    pairs = near_duplicates(cohorts, threshold=r - 1e-9)
    assert [(p[0], p[1], p[2], p[3]) for p in pairs] == [("A", "a1", "B", "b2")]
    assert abs(pairs[0][4] - r) < 1e-12


def test_float32_screen_is_within_its_margin():
    """The float32 screen's correlations are within 1e-5 of the float64 ones (the margin that
    sends a pair to the float64 confirmation is 1e-3), on log2-expression-like values."""
    import markerflow.stages.guards as guards

    rng = np.random.default_rng(12)
    genes = [f"g{i}" for i in range(20000)]
    base = rng.normal(8, 2, (20000, 1))
    a = pd.DataFrame(base + rng.normal(0, 0.5, (20000, 6)), index=genes)
    b = pd.DataFrame(base + 1.5 + rng.normal(0, 0.5, (20000, 5)), index=genes)
    b[4] = a[2] + 1.5 + rng.normal(0, 0.01, 20000)
    r32 = guards._pair_correlations(*(guards._profiles(m, m, np.float32) for m in (a, b)), 50)
    r64 = guards._pair_correlations(*(guards._profiles(m, m) for m in (a, b)), 50)
    assert r32 is not None and r64 is not None and r32.dtype == np.float32
    assert np.abs(r32 - r64).max() < 1e-5 < guards.SCREEN_MARGIN / 10
    assert r64[2, 4] > 0.99


@pytest.mark.parametrize("subset_genes", [40, 2000])
def test_subset_screen_keeps_every_near_duplicate(monkeypatch, subset_genes):
    """The subset pre-filter only drops cohort pairs that cannot hold a near-duplicate: on six
    cohorts on different genes, with missing values, a constant sample, a gene missing in every
    sample and planted duplicates from r = 0.9901 to 0.9999 (noise on few genes or on all), the
    pairs found equal those of the unfiltered loop, at several thresholds; and unrelated cohort
    pairs stop at the filter."""
    import markerflow.stages.guards as guards

    monkeypatch.setattr(guards, "SUBSET_GENES", subset_genes)
    rng = np.random.default_rng(21)
    genes = [f"g{i}" for i in range(600)]
    cohorts = {}
    for c in range(6):
        own = [g for g in genes if rng.random() > 0.1] + [f"only{c}_{i}" for i in range(20)]
        frame = _cohort(rng, own, [f"c{c}s{j}" for j in range(5 + c)]) + float(c)
        if c % 2:
            frame = frame.mask(rng.random(frame.shape) < 0.02)
        cohorts[f"C{c}"] = frame
    cohorts["C1"].loc[cohorts["C1"].index[3]] = np.nan
    cohorts["C2"]["c2s0"] = 7.0
    for (src, s_col), (dst, d_col), noise, spread in [
        (("C0", "c0s1"), ("C3", "c3s2"), 0.02, 1.0),
        (("C2", "c2s3"), ("C5", "c5s0"), 0.3, 0.05),  # the difference on few genes
        (("C4", "c4s4"), ("C1", "c1s1"), 0.12, 1.0),
    ]:
        target = cohorts[dst]
        copied = cohorts[src][s_col].reindex(target.index)
        copied = copied.fillna(target[d_col]) + float(dst[1]) - float(src[1])
        mask = rng.random(len(copied)) < spread
        target[d_col] = copied + np.where(mask, rng.normal(0, noise, len(copied)), 0.0)
    prepared = guards.prepare(cohorts)
    for threshold in (0.9, 0.95, 0.99, 0.995, 0.999):
        expected = guards._near_duplicates(prepared, threshold, 50, prefilter=False)
        assert guards._near_duplicates(prepared, threshold, 50) == expected, threshold
    assert len(guards._near_duplicates(prepared, 0.99, 50, prefilter=False)) >= 2
    kept = guards._subset_screen(prepared, 0.99, 50)
    assert kept is not None and len(kept) <= 6 < 15  # 15 cohort pairs, 3 with a duplicate
    for (a, b), samples in kept.items():  # the screen goes on with the samples of a close pair
        if samples is not None:
            assert 0 < samples[0].size <= prepared[a].columns.size
            assert 0 < samples[1].size <= prepared[b].columns.size


def test_subset_screen_bound_at_the_threshold():
    """A sample pair exactly at the threshold is kept by the pre-filter, whatever subset of its
    genes carries the difference (all of it outside the subset, or inside it)."""
    import markerflow.stages.guards as guards

    rng = np.random.default_rng(22)
    genes = [f"g{i}" for i in range(3000)]
    a = _cohort(rng, genes, [f"a{i}" for i in range(4)])
    b = _cohort(rng, genes, [f"b{i}" for i in range(4)]) + 1.0
    for inside in (True, False):
        bb = b.copy()
        noise = np.zeros(len(genes))
        on = np.arange(len(genes)) % 3 == 0  # the difference on a third of the genes or the rest
        noise[on if inside else ~on] = rng.normal(0, 0.6, int((on if inside else ~on).sum()))
        bb["b0"] = a["a0"] + 1.0 + noise
        r = _direct_correlations(a, bb)[0, 0]
        kept = guards._subset_screen(guards.prepare({"A": a, "B": bb}), r - 1e-4, 50)
        assert kept is not None and set(kept) == {("A", "B")}, (inside, r)
        samples_a, samples_b = kept[("A", "B")]
        assert 0 in samples_a and 0 in samples_b, (inside, r)  # a0 and b0 go on
