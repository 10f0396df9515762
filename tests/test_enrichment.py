"""Tests for markerflow.stages.enrichment: ORA against R's phyper, background handling, preranked GSEA
(exact ES, determinism, calibration, planted-set recovery) and offline operation."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from markerflow.io.gmt import GeneSet, read_gmt
from markerflow.plots.enrichment import gsea_dotplot, gsea_running, ora_dotplot
from markerflow.plots.figure import save_figure
from markerflow.stages.enrichment import (
    GSEA_COLUMNS,
    ORA_COLUMNS,
    gsea_prerank,
    ora,
    ora_up_down,
    prepare_ranking,
    run_enrichment,
    running_panels,
    running_score,
)

FIXTURES = Path(__file__).parent / "fixtures" / "enrichment"


def _lines(name: str) -> set[str]:
    return set((FIXTURES / name).read_text().split())


# ----------------------------------------------------------------------------- ORA


def test_ora_matches_r_phyper_and_scipy() -> None:
    sets = read_gmt(FIXTURES / "sets.gmt")
    ref = pd.read_csv(FIXTURES / "phyper_expected.tsv", sep="\t", dtype={"pvalue": float})
    res = ora(_lines("selected.txt"), _lines("background.txt"), sets, min_size=1, max_size=10_000)
    res = res.set_index("term_id").loc[ref["term_id"]]
    # counts the R script derived independently from the same files
    np.testing.assert_array_equal(res["set_size"], ref["K"])
    np.testing.assert_array_equal(res["overlap"], ref["k"])
    # p-values: R phyper(k - 1, K, N - K, n, lower.tail = FALSE) and scipy hypergeom.sf
    p = res["pvalue"].to_numpy()
    r = ref["pvalue"].to_numpy()
    assert r.min() < 1e-40  # the fixture reaches deep into the tail
    np.testing.assert_allclose(p, r, rtol=1e-12, atol=1e-12)
    scipy_p = sps.hypergeom.sf(ref["k"] - 1, ref["N"], ref["K"], ref["n"])
    np.testing.assert_allclose(p, scipy_p, rtol=1e-12, atol=0)
    # expected, fold, BH
    n_sel, n_bg = ref["n"].iloc[0], ref["N"].iloc[0]
    np.testing.assert_allclose(res["expected"], n_sel * ref["K"].to_numpy() / n_bg, rtol=1e-15)
    np.testing.assert_allclose(
        res["fold_enrichment"], ref["k"].to_numpy() / (n_sel * ref["K"].to_numpy() / n_bg)
    )
    np.testing.assert_allclose(res["padj"], sps.false_discovery_control(p), rtol=1e-15)
    assert list(ora(set(), {"A"}, {}, 1, 5).columns) == ORA_COLUMNS


def test_ora_background_semantics() -> None:
    genes = [f"G{i:03d}" for i in range(400)]
    term = GeneSet("T", "term", "", tuple(genes[:40]))
    outside = GeneSet("OUT", "outside", "", ("X1", "X2", "X3", "G000", "G001"))
    sets = {"T": term, "OUT": outside}
    selected = set(genes[:10]) | set(genes[100:110])  # 10 in T, 10 not
    big = ora(selected, set(genes), sets, 1, 500).set_index("term_id")
    small = ora(selected, set(genes[:200]), sets, 1, 500).set_index("term_id")
    assert big.loc["T", "overlap"] == small.loc["T", "overlap"] == 10
    # same overlap, smaller background -> the overlap is less surprising -> larger p
    # (here the background shrinks around the set: N 400 -> 200 with K = 40, n = 20 fixed)
    assert small.loc["T", "pvalue"] > big.loc["T", "pvalue"]
    np.testing.assert_allclose(big.loc["T", "pvalue"], sps.hypergeom.sf(9, 400, 40, 20), rtol=1e-13)
    np.testing.assert_allclose(
        small.loc["T", "pvalue"], sps.hypergeom.sf(9, 200, 40, 20), rtol=1e-13
    )
    # genes outside the background count neither in the set size nor in the selection
    with_extra = ora(selected | {"X1", "X2"}, set(genes), sets, 1, 500).set_index("term_id")
    assert with_extra.loc["OUT", "set_size"] == 2 and with_extra.loc["OUT", "overlap"] == 2
    assert with_extra.loc["OUT", "genes"] == "G000;G001"
    pd.testing.assert_frame_equal(with_extra, big)
    # a set that is too small in the background is not tested
    assert "OUT" not in ora(selected, set(genes), sets, 3, 500)["term_id"].tolist()


def test_ora_background_shrinks_set_sizes() -> None:
    """A smaller background that drops unmeasured set members: same overlap, smaller K, smaller p.

    (With K, n and k all fixed, a smaller N gives a LARGER p - the genome-as-background inflation
    that DESIGN.md avoids; asserted in test_ora_background_semantics.)"""
    genes = [f"G{i:04d}" for i in range(2000)]
    # set of 100 genes, of which only the first 30 are measured in the small background
    sets = {"T": GeneSet("T", "t", "", tuple(genes[:100]))}
    selected = set(genes[:8]) | set(genes[200:240])
    measured = set(genes[:30]) | set(genes[100:])  # 1930 genes, 30 of the set
    full = ora(selected, set(genes), sets, 1, 500).iloc[0]
    small = ora(selected, measured, sets, 1, 500).iloc[0]
    assert full["overlap"] == small["overlap"] == 8
    assert (full["set_size"], small["set_size"]) == (100, 30)
    assert small["pvalue"] < full["pvalue"]
    np.testing.assert_allclose(small["pvalue"], sps.hypergeom.sf(7, 1930, 30, 48), rtol=1e-13)


def test_ora_up_down_directions_and_background() -> None:
    genes = [f"G{i:03d}" for i in range(300)]
    de = pd.DataFrame({"gene": genes, "log2fc": 0.1, "padj": 0.9})
    de.loc[:19, ["log2fc", "padj"]] = [2.0, 0.001]  # up
    de.loc[20:29, ["log2fc", "padj"]] = [-2.0, 0.001]  # down
    de.loc[290:, "padj"] = np.nan  # untested: out of the background
    sets = {
        "UP": GeneSet("UP", "up set", "", tuple(genes[:25])),
        "DOWN": GeneSet("DOWN", "down set", "", tuple(genes[15:35])),
        "NA": GeneSet("NA", "untested", "", tuple(genes[285:300])),
    }
    res = ora_up_down(de, sets, 0.05, 1.0, min_size=5, max_size=500)
    assert list(res.columns) == ORA_COLUMNS
    up = res[res["direction"] == "up"].set_index("term_id")
    down = res[res["direction"] == "down"].set_index("term_id")
    assert up.loc["UP", "overlap"] == 20 and down.loc["DOWN", "overlap"] == 10
    assert up.loc["NA", "set_size"] == 5  # 10 of its 15 genes have no padj
    np.testing.assert_allclose(up.loc["UP", "pvalue"], sps.hypergeom.sf(19, 290, 25, 20))
    # meta-table column mapping
    meta = de.rename(columns={"log2fc": "pooled_effect", "padj": "fdr"})
    res2 = ora_up_down(meta, sets, 0.05, 1.0, 5, 500, lfc_col="pooled_effect", padj_col="fdr")
    pd.testing.assert_frame_equal(res, res2)


def test_ora_up_down_restricts_the_library_once_and_equals_two_ora_calls(monkeypatch) -> None:
    """Up and down share one filtered library and membership matrix (issue 20), with the same
    rows as one ora() per direction."""
    import markerflow.stages.enrichment as enrichment

    genes = [f"G{i:03d}" for i in range(200)]
    de = pd.DataFrame({"gene": genes, "log2fc": 0.1, "padj": 0.9})
    de.loc[:14, ["log2fc", "padj"]] = [1.5, 0.01]
    de.loc[15:24, ["log2fc", "padj"]] = [-1.5, 0.01]
    rng = np.random.default_rng(4)
    sets = {
        f"S{i}": GeneSet(f"S{i}", f"set {i}", "", tuple(rng.choice(genes, 12, replace=False)))
        for i in range(40)
    }
    calls = []
    real = enrichment.filter_sets
    monkeypatch.setattr(enrichment, "filter_sets", lambda *a: calls.append(1) or real(*a))
    res = ora_up_down(de, sets, 0.05, 0.0, 10, 500)
    assert len(calls) == 1
    up, down = set(genes[:15]), set(genes[15:25])
    want = pd.concat(
        [ora(up, set(genes), sets, 10, 500, direction="up"),
         ora(down, set(genes), sets, 10, 500, direction="down")],
        ignore_index=True,
    )  # fmt: skip
    pd.testing.assert_frame_equal(res, want[ORA_COLUMNS])


# ----------------------------------------------------------------------------- GSEA


def _random_problem(n_genes: int, n_sets: int, seed: int, shift: float = 0.0, n_planted: int = 0):
    rng = np.random.default_rng(seed)
    genes = np.array([f"G{i:05d}" for i in range(n_genes)])
    stat = rng.normal(size=n_genes)
    sets = {}
    planted = []
    for i in range(n_planted):
        members = rng.choice(n_genes, 40, replace=False)
        stat[members] += shift if i % 2 == 0 else -shift
        sets[f"PLANT{i}"] = GeneSet(f"PLANT{i}", f"planted {i}", "", tuple(genes[members]))
        planted.append(f"PLANT{i}")
    for i in range(n_sets):
        size = int(rng.integers(15, 150))
        sets[f"NULL{i:03d}"] = GeneSet(
            f"NULL{i:03d}", "", "", tuple(genes[rng.choice(n_genes, size, replace=False)])
        )
    return pd.Series(stat, index=genes), sets, planted


def test_es_equals_running_sum_maximum() -> None:
    stats, sets, _ = _random_problem(1500, 40, seed=3, shift=0.7, n_planted=4)
    stats.iloc[:30] = 0.0  # ties
    res = gsea_prerank(stats, sets, permutations=50, seed=1, min_size=15, max_size=500)
    assert list(res.columns) == GSEA_COLUMNS
    ranked = prepare_ranking(stats)
    for row in res.itertuples():
        score, _ = running_score(ranked, sets[row.term_id].genes)
        es = score.max() if score.max() > -score.min() else score.min()
        assert abs(row.es - es) < 1e-12
        # leading edge = set genes up to (positive) / from (negative) the running-sum extreme
        if row.es > 0:
            edge = set(ranked.index[: int(np.argmax(score)) + 1]) & set(sets[row.term_id].genes)
        else:
            edge = set(ranked.index[int(np.argmin(score)) + 1 :]) & set(sets[row.term_id].genes)
        assert set(row.leading_edge.split(";")) == edge
        assert row.leading_edge_size == len(edge)


def test_ranking_ties_and_duplicates(caplog) -> None:
    s = pd.Series([1.0, 2.0, 1.0, -3.0, np.nan, 1.0], index=["C", "B", "A", "B", "D", "E"])
    with caplog.at_level("WARNING"):
        r = prepare_ranking(s)
    assert r.index.tolist() == ["A", "C", "E", "B"]  # ties by name; B keeps -3 (max |stat|)
    assert r["B"] == -3.0
    assert "1 gene(s) listed more than once" in caplog.text
    # input order does not matter
    stats, sets, _ = _random_problem(800, 20, seed=5)
    stats = stats.round(1)  # many ties
    a = gsea_prerank(stats, sets, permutations=100, seed=7)
    b = gsea_prerank(stats.sample(frac=1.0, random_state=2), sets, permutations=100, seed=7)
    pd.testing.assert_frame_equal(a, b)


def test_gsea_deterministic_for_a_seed() -> None:
    stats, sets, _ = _random_problem(3000, 60, seed=11, shift=0.6, n_planted=4)
    a = gsea_prerank(stats, sets, permutations=300, seed=42)
    b = gsea_prerank(stats, sets, permutations=300, seed=42)
    pd.testing.assert_frame_equal(a, b)
    c = gsea_prerank(stats, sets, permutations=300, seed=43)
    assert not np.array_equal(
        a["pvalue"].to_numpy(), c.set_index("term_id").loc[a["term_id"], "pvalue"].to_numpy()
    )
    pd.testing.assert_series_equal(
        a["es"], c.set_index("term_id").loc[a["term_id"], "es"].reset_index(drop=True)
    )


def test_gsea_null_calibration() -> None:
    """Random sets on random statistics: nominal p roughly uniform, NES centred on +/-1."""
    stats, sets, _ = _random_problem(4000, 300, seed=21)
    res = gsea_prerank(stats, sets, permutations=500, seed=3, method="multilevel")
    frac = (res["pvalue"] < 0.05).mean()
    assert 0.015 < frac < 0.10, frac
    assert 0.85 < res.loc[res["nes"] > 0, "nes"].mean() < 1.3
    assert -1.3 < res.loc[res["nes"] < 0, "nes"].mean() < -0.85
    assert (res["padj"] < 0.05).sum() <= 2
    assert (res["fdr_gsea"] < 0.05).sum() <= 2
    # multilevel p-values go below 1/(permutations + 1), but not far on null data (300 sets)
    assert res["pvalue"].min() >= 1e-4
    simple = gsea_prerank(stats, sets, permutations=500, seed=3, method="simple")
    assert simple["pvalue"].min() >= 1 / 501


def test_gsea_recovers_planted_sets() -> None:
    """10 sets of 40 genes shifted by +/-1 SD among 190 random sets, 5,000 genes, 1,000
    permutations: both the GSEA FDR q-value and fgsea's BH padj find >= 9 of the 10, with at most
    one false set among the top 20 called at FDR < 0.05."""
    stats, sets, planted = _random_problem(5000, 190, seed=2026, shift=1.0, n_planted=10)
    res = gsea_prerank(stats, sets, permutations=1000, seed=9, min_size=15, max_size=500)
    for col in ("fdr_gsea", "padj"):
        sig = res[res[col] < 0.05].sort_values([col, "pvalue"], kind="mergesort")
        found = set(sig["term_id"]) & set(planted)
        assert len(found) >= 9, (col, sorted(found))
        false = [t for t in sig.head(20)["term_id"] if t not in planted]
        assert len(false) <= 1, (col, false)
    # directions follow the planted shifts
    by_id = res.set_index("term_id")
    for i, t in enumerate(planted):
        assert by_id.loc[t, "direction"] == ("up" if i % 2 == 0 else "down")


# ----------------------------------------------------------------------------- plots, offline


def _de_table(seed: int = 0) -> tuple[pd.DataFrame, dict]:
    stats, sets, _ = _random_problem(2000, 40, seed=seed, shift=1.0, n_planted=6)
    padj = np.minimum(1.0, 4 * np.exp(-np.abs(stats.to_numpy()) * 1.5))
    de = pd.DataFrame(
        {
            "gene": stats.index,
            "log2fc": stats.to_numpy() / 3,
            "stat": stats.to_numpy(),
            "padj": padj,
        }
    )
    return de, sets


def _run_all(tmp: Path, project_dir: Path) -> None:
    de, sets = _de_table()
    kegg = read_gmt(project_dir / "resources" / "genesets" / "KEGG_2021_Human.gmt")
    assert len(kegg) == 320
    res = run_enrichment(de, sets, gsea_permutations=200, seed=1)
    assert len(res.ora) and len(res.gsea)
    panels = running_panels(res.ranked, sets, res.gsea)
    assert 0 < len(panels) <= 6 and all(p.score.size == len(res.ranked) for p in panels)
    save_figure(ora_dotplot(res.ora, "test"), tmp / "ora.png")
    save_figure(gsea_running(panels), tmp / "gsea.png")
    save_figure(gsea_dotplot(res.gsea), tmp / "gsea_dot.png")
    for name in ("ora.png", "gsea.png", "gsea_dot.png"):
        assert (tmp / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_network_in_process(tmp_path: Path, project_dir: Path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("enrichment tried to open a network socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    _run_all(tmp_path, project_dir)


def test_no_network_namespace(tmp_path: Path, project_dir: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode:
        pytest.skip("unshare -n is not available here")
    script = (
        "import sys; from pathlib import Path\n"
        f"sys.path.insert(0, {str(project_dir / 'src')!r}); sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import test_enrichment as t\n"
        f"t._run_all(Path({str(tmp_path)!r}), Path({str(project_dir)!r}))\n"
        "import socket\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\nexcept OSError:\n"
        "    print('offline-ok')\n"
    )
    out = subprocess.run(
        [unshare, "-n", sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "offline-ok" in out.stdout
