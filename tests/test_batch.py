"""Confounding checks, PCA, batch mixing, cohort merging and the merge workflow script."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from markerflow.engines.pca import batch_mixing, pca
from markerflow.errors import InputError
from markerflow.io.tables import read_matrix, read_tsv, write_matrix, write_tsv
from markerflow.model.design import check_confounding
from markerflow.stages.merge import merge_and_correct, merge_cohorts

PROJECT = Path(__file__).resolve().parents[1]


def test_full_confounding_names_batches_and_counts():
    batch = ["A"] * 3 + ["B"] * 2 + ["C"] * 4
    cond = ["case"] * 5 + ["control"] * 4
    samples = [f"S{i}" for i in range(9)]
    with pytest.raises(InputError) as exc:
        check_confounding(batch, cond, samples=samples)
    msg = str(exc.value)
    assert "confounded" in msg
    assert "[batch A: 3 case (S0, S1, S2); batch B: 2 case (S3, S4)]" in msg
    assert "[batch C: 4 control (S5, S6, S7, S8)]" in msg


def test_partial_confounding_warns_with_table(caplog):
    batch = ["A"] * 4 + ["B"] * 4 + ["C"] * 3
    cond = ["case", "control"] * 2 + ["case"] * 4 + ["control"] * 3
    with caplog.at_level(logging.WARNING, logger="markerflow.model.design"):
        table = check_confounding(batch, cond)
    assert table.loc["B", "case"] == 4 and table.loc["B", "control"] == 0
    assert "partly confounded" in caplog.text and "B, C" in caplog.text
    assert "control" in caplog.text  # the table is in the message


def test_balanced_design_is_silent(caplog):
    with caplog.at_level(logging.WARNING):
        table = check_confounding(["A", "A", "B", "B"], ["x", "y", "x", "y"])
    assert caplog.text == ""
    assert table.to_numpy().tolist() == [[1, 1], [1, 1]]


def test_bladderbatch_is_partial_not_full(reference_dir, caplog):
    pheno = pd.read_csv(reference_dir / "bladderbatch" / "pheno.tsv", sep="\t")
    with caplog.at_level(logging.WARNING):
        table = check_confounding(pheno["batch"], pheno["cancer"])
    # README: Cancer 11/14/0/0/15, Normal 0/4/4/0/0, Biopsy 0/0/0/5/4
    assert table["Cancer"].tolist() == [11, 14, 0, 0, 15]
    assert table["Normal"].tolist() == [0, 4, 4, 0, 0]
    assert "partly confounded" in caplog.text


def test_missing_condition_is_an_input_error():
    with pytest.raises(InputError, match="no condition: s2"):
        check_confounding(["a", "a", "b"], ["x", None, "y"], samples=["s1", "s2", "s3"])


def test_pca_matches_sklearn():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 40)) + rng.normal(size=(500, 1)) * np.linspace(-2, 2, 40)
    scores, ratio = pca(x, 5)
    sk = PCA(n_components=5, svd_solver="full").fit(x.T)
    ref = sk.transform(x.T)
    np.testing.assert_allclose(np.abs(scores), np.abs(ref), atol=1e-9)
    np.testing.assert_allclose(ratio, sk.explained_variance_ratio_, rtol=1e-10)
    assert scores.shape == (40, 5)


def _cohorts(seed=0, shift=3.0, n=(12, 10), genes=200, two_batches_in_first=False):
    rng = np.random.default_rng(seed)
    names = [f"G{i}" for i in range(genes)]
    mats, sheets = {}, {}
    for k, m in enumerate(n):
        cohort = f"C{k + 1}"
        samples = [f"{cohort}_s{j}" for j in range(m)]
        cond = np.array(["asthma", "control"] * (m // 2))
        x = rng.normal(8, 1, size=(genes, 1)) + rng.normal(0, 0.5, size=(genes, m))
        x += 1.0 * (cond == "asthma") * (np.arange(genes) < 20)[:, None]
        x += shift * k * rng.uniform(0.5, 1.5, size=(genes, 1))
        batch = ["b1"] * m
        if two_batches_in_first and k == 0:
            batch = ["b1", "b1", "b2", "b2"] * (m // 4) + ["b1"] * (m % 4)
        gene_idx = names if k == 0 else [*names[5:], "EXTRA"]
        if k > 0:
            x = np.vstack([x[5:], rng.normal(8, 1, size=(1, m))])
        mats[cohort] = pd.DataFrame(x, index=pd.Index(gene_idx, name="gene"), columns=samples)
        sheets[cohort] = pd.DataFrame(
            {"sample": samples, "cohort": cohort, "condition": cond, "batch": batch}
        )
    return mats, sheets


def test_merge_cohorts_common_genes_and_batch_labels(caplog):
    mats, sheets = _cohorts(two_batches_in_first=True)
    with caplog.at_level(logging.INFO, logger="markerflow.stages.merge"):
        expr, samples = merge_cohorts(mats, sheets)
    assert expr.shape == (195, 22) and expr.index.name == "gene"
    assert "EXTRA" not in expr.index and "G0" not in expr.index
    assert "genes common to all 2 cohort(s): 195" in caplog.text
    assert set(samples.loc[samples.cohort == "C1", "batch"]) == {"C1:b1", "C1:b2"}
    assert set(samples.loc[samples.cohort == "C2", "batch"]) == {"C2"}
    assert list(samples["sample"]) == list(expr.columns)
    assert list(samples.columns[:5]) == ["sample", "cohort", "condition", "batch", "cohort_batch"]


def test_merge_cohorts_rejects_duplicate_samples():
    mats, sheets = _cohorts()
    mats["C2"].columns = mats["C1"].columns[:10]
    sheets["C2"]["sample"] = list(mats["C1"].columns[:10])
    with pytest.raises(InputError, match="occur in more than one cohort"):
        merge_cohorts(mats, sheets)


def test_merge_cohorts_sample_missing_from_sheet():
    mats, sheets = _cohorts()
    sheets["C1"] = sheets["C1"].iloc[1:]
    with pytest.raises(InputError, match="C1_s0 of the expression matrix are not in the sample"):
        merge_cohorts(mats, sheets)


def test_merge_and_correct_improves_mixing():
    mats, sheets = _cohorts(shift=4.0)
    res = merge_and_correct(mats, sheets)
    row = res.mixing.iloc[0]
    assert row["silhouette_before"] > 0.5
    assert row["silhouette_after"] < 0.1
    assert row["correction"] == "ComBat parametric"
    # condition difference kept on the 15 true DE genes shared by both cohorts
    asthma = res.samples["condition"].to_numpy() == "asthma"
    de = res.expression.loc[[f"G{i}" for i in range(5, 20)]].to_numpy()
    diff = de[:, asthma].mean(axis=1) - de[:, ~asthma].mean(axis=1)
    assert 0.7 < diff.mean() < 1.3
    assert res.uncorrected.shape == res.expression.shape


def test_batch_mixing_single_batch_is_nan():
    x = np.random.default_rng(1).normal(size=(50, 10))
    assert np.isnan(batch_mixing(x, ["a"] * 10))


def test_merge_single_cohort_single_batch_writes_everything(tmp_path, monkeypatch):
    """Runs workflow/scripts/merge_combat.py with a stand-in snakemake object."""
    mats, sheets = _cohorts(n=(12,))
    write_matrix(mats["C1"], tmp_path / "in.parquet")
    write_tsv(sheets["C1"], tmp_path / "samples_in.tsv")
    out = {
        k: str(tmp_path / "merge" / v)
        for k, v in {
            "expression": "expression.parquet",
            "samples": "samples.tsv",
            "uncorrected": "uncorrected.parquet",
            "mixing": "batch_mixing.tsv",
            "pca_before": "pca_before.png",
            "pca_after": "pca_after.png",
        }.items()
    }
    smk = SimpleNamespace(
        input=SimpleNamespace(
            expression=[str(tmp_path / "in.parquet")], samples=[str(tmp_path / "samples_in.tsv")]
        ),
        output=SimpleNamespace(**out),
        params=SimpleNamespace(
            cohorts=["C1"],
            combat={"parametric": True, "mean_only": False, "reference_batch": None},
            case_label="case",
            control_label="control",
        ),
        log=[str(tmp_path / "merge.log")],
        wildcards={},
        threads=1,
        rule="merge",
    )
    scripts = PROJECT / "workflow" / "scripts"
    monkeypatch.syspath_prepend(str(scripts))  # as Snakemake runs it (helper modules beside it)
    runpy.run_path(str(scripts / "merge_combat.py"), {"snakemake": smk})
    for path in out.values():
        assert Path(path).stat().st_size > 0, path
    for png in ("pca_before", "pca_after"):
        assert Path(out[png]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    expr = read_matrix(out["expression"])
    assert expr.index.name == "gene"
    np.testing.assert_array_equal(expr.to_numpy(), mats["C1"].to_numpy())
    mixing = read_tsv(out["mixing"])
    assert mixing.loc[0, "correction"] == "none (single batch)"
    assert mixing.loc[0, "n_genes"] == 200 and mixing.loc[0, "n_samples"] == 12
    assert np.isnan(mixing.loc[0, "silhouette_after"])


@pytest.mark.parametrize(
    ("kwargs", "block_bytes"),
    [({}, 8 * 22 * 7), ({}, 2**26), ({"mean_only": True}, 8 * 22 * 50),
     ({"reference_batch": "C1:b2"}, 8 * 22 * 1), ({"parametric": False}, 8 * 22 * 64)],
)  # fmt: skip
def test_merge_out_of_core_equals_in_memory(tmp_path, kwargs, block_bytes):
    """Issue 20: the merge rule's out-of-core path (scratch files, gene blocks, ParquetWriter,
    block Gram PCA) gives the in-memory matrices to 1e-12 and PCA/silhouettes to 1e-10; one
    block gives the same file bytes as write_matrix."""
    from markerflow.stages.merge import merge_and_correct_files

    mats, sheets = _cohorts(shift=4.0, two_batches_in_first=True)
    mats["C2"].iloc[3, 2] = np.nan  # a gene dropped for a missing value
    mats["C2"] = mats["C2"].iloc[::-1]  # another gene order than the first cohort's
    paths = {}
    for c, m in mats.items():
        paths[c] = tmp_path / f"{c}.parquet"
        write_matrix(m, paths[c])
    ref = merge_and_correct(mats, sheets, **kwargs)
    out_e, out_u = tmp_path / "m" / "expression.parquet", tmp_path / "m" / "uncorrected.parquet"
    res = merge_and_correct_files(paths, sheets, out_e, out_u, block_bytes=block_bytes, **kwargs)
    expr, unc = read_matrix(out_e), read_matrix(out_u)
    assert expr.index.equals(ref.expression.index) and expr.columns.equals(ref.expression.columns)
    np.testing.assert_allclose(expr.to_numpy(), ref.expression.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(unc.to_numpy(), ref.uncorrected.to_numpy())
    pd.testing.assert_frame_equal(res.samples, ref.samples)
    for got, want in ((res.pca_before, ref.pca_before), (res.pca_after, ref.pca_after)):
        np.testing.assert_allclose(got[0], want[0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(got[1], want[1], rtol=0, atol=1e-12)
    cols = ["silhouette_before", "silhouette_after"]
    np.testing.assert_allclose(res.mixing[cols], ref.mixing[cols], rtol=0, atol=1e-10)
    pd.testing.assert_frame_equal(res.mixing.drop(columns=cols), ref.mixing.drop(columns=cols))
    assert not list((tmp_path / "m").glob(".merge-scratch-*"))  # scratch removed
    if block_bytes >= 2**26:  # one block: the bytes write_matrix writes
        write_matrix(ref.expression, tmp_path / "ref.parquet")
        assert out_e.read_bytes() == (tmp_path / "ref.parquet").read_bytes()
        write_matrix(ref.uncorrected, tmp_path / "ref_u.parquet")
        assert out_u.read_bytes() == (tmp_path / "ref_u.parquet").read_bytes()
        assert res.mixing.equals(ref.mixing)


def test_block_gram_pca_matches_pca_above_gram_max(monkeypatch):
    """Above _GRAM_MAX samples the block Gram PCA uses Lanczos; it equals pca()'s truncated SVD."""
    import markerflow.engines.pca as pca_mod

    monkeypatch.setattr(pca_mod, "_GRAM_MAX", 20)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 60)) + rng.normal(size=(300, 3)) @ rng.normal(size=(3, 60)) * 3
    gram = pca_mod.BlockGram(60)
    for a in range(0, 300, 37):
        gram.add(x[a : a + 37])
    scores, ratio = gram.pca(5)
    want, want_ratio = pca(x, 5)
    np.testing.assert_allclose(scores, want, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ratio, want_ratio, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("block_bytes", "disk_full"), [(8 * 22 * 7, False), (8 * 22 * 1, False),
                                                       (8 * 22 * 7, True)])  # fmt: skip
def test_merge_above_the_gram_limit_uses_block_krylov(
    tmp_path, monkeypatch, caplog, block_bytes, disk_full
):
    """Above GRAM_SAMPLES_MAX samples the merge's PCA is block Krylov (no samples x samples
    matrix, several passes over the scratch files): matrices unchanged, PCA scores and
    silhouettes equal the in-memory PCA to 1e-9; without disk room for the corrected scratch
    the passes recompute it, with the same results."""
    import shutil

    import markerflow.engines.pca as pca_mod
    import markerflow.stages.merge as merge_mod
    from markerflow.stages.merge import merge_and_correct_files

    if disk_full:
        usage = shutil.disk_usage(tmp_path)
        monkeypatch.setattr(merge_mod.shutil, "disk_usage",
                            lambda path: usage._replace(free=merge_mod.SCRATCH_MARGIN_BYTES))  # fmt: skip
    caplog.set_level("INFO", logger="markerflow.stages.merge")

    monkeypatch.setattr(pca_mod, "GRAM_SAMPLES_MAX", 5)
    passes = []
    end_pass = pca_mod.BlockKrylov.end_pass
    monkeypatch.setattr(pca_mod.BlockKrylov, "end_pass",
                        lambda self: (passes.append(self.passes), end_pass(self)))  # fmt: skip
    monkeypatch.setattr(pca_mod.BlockGram, "__init__", None)  # not used at all
    mats, sheets = _cohorts(shift=4.0, two_batches_in_first=True)
    paths = {}
    for c, m in mats.items():
        paths[c] = tmp_path / f"{c}.parquet"
        write_matrix(m, paths[c])
    ref = merge_and_correct(mats, sheets)
    out_e, out_u = tmp_path / "m" / "expression.parquet", tmp_path / "m" / "uncorrected.parquet"
    res = merge_and_correct_files(paths, sheets, out_e, out_u, block_bytes=block_bytes)
    assert len(passes) > 2  # both PCAs needed further passes
    kept = "recomputed in each pass" if disk_full else "kept on scratch"
    assert kept in caplog.text
    np.testing.assert_allclose(read_matrix(out_e).to_numpy(), ref.expression.to_numpy(), rtol=0,
                               atol=1e-12)  # fmt: skip
    for got, want in ((res.pca_before, ref.pca_before), (res.pca_after, ref.pca_after)):
        np.testing.assert_allclose(got[0], want[0], rtol=0, atol=1e-9 * np.abs(want[0]).max())
        np.testing.assert_allclose(got[1], want[1], rtol=0, atol=1e-12)
    cols = ["silhouette_before", "silhouette_after"]
    np.testing.assert_allclose(res.mixing[cols], ref.mixing[cols], rtol=0, atol=1e-9)
