"""Issue 17: tximport average transcript lengths as DESeq2 offsets in the counts DE stage.

- A tximport cohort (the 6 salmon and 6 kallisto files of tests/fixtures/tximport, rounded gene
  counts and tximport lengths as the tximport stage writes them) through
  :func:`markerflow.stages.counts.deseq2` gives R's ``DESeqDataSetFromTximport`` + ``DESeq`` +
  ``results`` (make_fixtures.R, DESeq2 1.38.3) to 1e-6 relative (normalisation factors 1e-10).
- The length rule for IDs summed into one symbol (:func:`~markerflow.stages.counts.
  tximport_gene_lengths`) equals tximport run with a tx2gene table that maps all their
  transcripts to one gene (1e-6 with unrounded counts: the TPM in the files is printed to
  limited precision).
- The LRT of de_ftest and ``lfcShrink(type = "normal")`` with the offsets equal DESeq2 1.38.3
  (tests/fixtures/deseq2_offsets/make_fixtures.R) to 1e-6 relative (floor 1e-8).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerflow.errors import InputError
from markerflow.stages import counts as C
from markerflow.stages.de import cohort_de
from markerflow.stages.genes import count_row_symbols
from markerflow.stages.tximport import gene_frames, summarise_folder

FIX = Path(__file__).parent / "fixtures" / "tximport"
REL = 1e-6


def _cohort(kind: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    summary, samples = summarise_folder(FIX / kind, kind, FIX / "tx2gene.tsv", "no")
    counts, lengths = gene_frames(summary, samples)
    sheet = pd.read_csv(FIX / "samples.tsv", sep="\t")
    sheet = sheet[sheet["sample"].isin(samples)].reset_index(drop=True)
    sheet["batch"] = "1"
    return counts, lengths, sheet


def _r(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / name, sep="\t", index_col=0, float_precision="round_trip")


def _rel(mine, ref) -> float:
    mine, ref = np.asarray(mine, float), np.asarray(ref, float)
    assert np.array_equal(np.isnan(mine), np.isnan(ref))
    ok = ~np.isnan(ref)
    return float(np.max(np.abs(mine[ok] - ref[ok]) / np.maximum(np.abs(ref[ok]), 1e-300)))


@pytest.mark.parametrize("kind", ["salmon", "kallisto"])
def test_tximport_cohort_deseq2_matches_r(kind):
    counts, lengths, sheet = _cohort(kind)
    symbols = count_row_symbols(counts.index, None, None)
    gene_lengths = C.tximport_gene_lengths(counts, lengths, symbols, kind)
    pd.testing.assert_frame_equal(gene_lengths, lengths.rename_axis("gene"))  # one ID per gene
    nf = C.tximport_norm_factors(counts, gene_lengths, kind)
    ref_nf = _r(f"deseq2_{kind}_normfactors.tsv")
    assert _rel(nf, ref_nf.loc[counts.index].to_numpy()) < 1e-10
    de = C.deseq2(counts, sheet, "case", "control", avg_tx_length=gene_lengths, cohort=kind)
    ref = _r(f"deseq2_{kind}.tsv").loc[de["gene"]]
    worst = {
        "baseMean": _rel(de["baseMean"], ref["baseMean"]),
        "log2FoldChange": _rel(de["log2fc"], ref["log2FoldChange"]),
        "lfcSE": _rel(de["se"], ref["lfcSE"]),
        "pvalue": _rel(de["pvalue"], ref["pvalue"]),
    }
    print(kind, {k: f"{v:.1e}" for k, v in worst.items()})
    assert max(worst.values()) < REL, worst
    assert de.attrs["deseq2"]["offsets"] == "tximport average transcript lengths"
    # without the offsets the fit differs (the lengths matter on this data)
    plain = C.deseq2(counts, sheet, "case", "control", cohort=kind)
    assert _rel(plain["baseMean"], ref["baseMean"]) > 1e-3


def test_cohort_de_uses_offsets_for_deseq2_and_vst():
    counts, lengths, sheet = _cohort("salmon")
    cfg = {"method": "deseq2", "cooks_filter": True, "independent_filter": True, "alpha": 0.1}
    arrays = {"trend": False, "robust": False, "proportion": 0.01}
    table, normalized = cohort_de(
        counts, sheet, "counts", "case", "control", [], arrays, cfg, cohort="s",
        avg_tx_length=lengths.rename_axis("gene"),
    )  # fmt: skip
    ref = _r("deseq2_salmon.tsv").loc[table["gene"]]
    assert _rel(table["log2fc"], ref["log2FoldChange"]) < REL
    nf = C.tximport_norm_factors(counts, lengths, "s")
    np.testing.assert_allclose(normalized.to_numpy(), C.vst(counts, norm_factors=nf).to_numpy())
    assert not np.allclose(normalized.to_numpy(), C.vst(counts).to_numpy())


def test_merged_ids_length_rule_equals_tximport_on_merged_tx2gene(tmp_path):
    """G0001 -> G0000 and G0003 -> G0002: the count-weighted harmonic mean of the two genes'
    lengths equals tximport's length of one gene holding all their transcripts."""
    kind = "salmon"
    tx2gene = pd.read_csv(FIX / "tx2gene.tsv", sep="\t", dtype=str)
    merge = {"G0001": "G0000", "G0003": "G0002"}
    merged_table = tx2gene.assign(GENEID=tx2gene["GENEID"].replace(merge))
    merged_table.to_csv(tmp_path / "tx2gene.tsv", sep="\t", index=False)
    summary, samples = summarise_folder(FIX / kind, kind, FIX / "tx2gene.tsv", "no")
    merged, _ = summarise_folder(FIX / kind, kind, tmp_path / "tx2gene.tsv", "no")
    index = pd.Index(summary.genes.astype(str))
    raw_counts = pd.DataFrame(summary.counts, index=index, columns=samples)  # unrounded
    lengths = pd.DataFrame(summary.length, index=index, columns=samples)
    symbols = pd.Series(index.map(lambda g: merge.get(g, g)), index=index)
    got = C.tximport_gene_lengths(raw_counts, lengths, symbols)
    ref = pd.DataFrame(merged.length, index=merged.genes.astype(str), columns=samples)
    assert list(got.index) == list(ref.index)
    # 1e-6, not 1e-10: the files print TPM to a few significant digits, so abundance is
    # proportional to count / effective length only to that precision
    worst = _rel(got, ref)
    print(f"merged lengths: max rel err {worst:.1e}")
    assert worst < 1e-6
    same = [g for g in ref.index if g not in ("G0000", "G0002")]
    pd.testing.assert_frame_equal(got.loc[same], ref.loc[same], check_names=False)
    # the rounded counts the workflow has move the merged lengths by the rounding only (here
    # ~1% for a transcript with 1.8 reads)
    rounded = C.tximport_gene_lengths(raw_counts.round(), lengths, symbols)
    assert _rel(rounded.loc[["G0000", "G0002"]], ref.loc[["G0000", "G0002"]]) < 2e-2


def test_merged_ids_zero_count_samples_follow_tximport_fill_rule():
    idx = pd.Index(["a1", "a2", "b1", "b2", "c1"])
    counts = pd.DataFrame(
        [[0, 10, 5], [0, 30, 0], [0, 0, 0], [0, 0, 0], [0, 4, 2]], index=idx, columns=list("xyz")
    )
    lengths = pd.DataFrame(
        [[100.0, 110, 120], [200, 210, 220], [300, 300, 300], [500, 500, 500], [50, 60, 70]],
        index=idx,
        columns=list("xyz"),
    )
    symbols = pd.Series(["A", "A", "B", "B", None], index=idx)
    got = C.tximport_gene_lengths(counts, lengths, symbols)
    assert list(got.index) == ["A", "B"]  # c1 dropped by the genes stage
    y = 40 / (10 / 110 + 30 / 210)
    assert got.loc["A", "y"] == pytest.approx(y, rel=1e-14)
    assert got.loc["A", "z"] == pytest.approx(120.0, rel=1e-14)  # only a1 has counts
    # no count in x: geometric mean of the other samples' merged lengths
    assert got.loc["A", "x"] == pytest.approx(np.sqrt(y * 120.0), rel=1e-14)
    # no count anywhere: the mean of the IDs' mean lengths
    assert got.loc["B"].tolist() == pytest.approx([400.0] * 3, rel=1e-14)


def test_missing_lengths_are_an_input_error():
    counts, lengths, _ = _cohort("salmon")
    symbols = count_row_symbols(counts.index, None, None)
    with pytest.raises(InputError, match="no tximport length"):
        C.tximport_gene_lengths(counts, lengths.iloc[1:], symbols)
    with pytest.raises(InputError, match="S6"):
        C.tximport_gene_lengths(counts, lengths.drop(columns="S6"), symbols)


def test_count_row_symbols_follows_the_genes_stage():
    """The rows the genes stage sums are the rows count_row_symbols gives one symbol."""
    table = pd.DataFrame(
        {
            "entrez": ["1", "2", "3"],
            "symbol": ["AAA", "AAA", "BBB"],
            "ensembl": ["ENSG00000000001", "ENSG00000000002", "ENSG00000000003"],
            "gene_type": ["protein-coding"] * 3,
        }
    )
    ids = pd.Index(["ENSG00000000001.4", "ENSG00000000002", "ENSG00000000003", "ENSG00000009999"])
    s = count_row_symbols(ids, table)
    assert s.tolist() == ["AAA", "AAA", "BBB", None]


OFF = Path(__file__).parent / "fixtures" / "deseq2_offsets"
DESIGN = Path(__file__).parent / "fixtures" / "deseq2_design"


@pytest.fixture(scope="module")
def three_levels():
    counts = pd.read_csv(DESIGN / "counts.tsv.gz", sep="\t", index_col=0)
    lengths = pd.read_csv(DESIGN / "avgtxlength.tsv.gz", sep="\t", index_col=0)
    sheet = pd.read_csv(DESIGN / "coldata.tsv", sep="\t").rename(columns={"group": "condition"})
    return counts, lengths.rename_axis("gene"), sheet


def _close_floor(mine, ref, what, floor=1e-8):
    mine, ref = np.asarray(mine, float), np.asarray(ref, float)
    assert np.array_equal(np.isnan(mine), np.isnan(ref)), what
    ok = ~np.isnan(ref)
    err = float(np.max(np.abs(mine[ok] - ref[ok]) / np.maximum(np.abs(ref[ok]), floor)))
    print(f"{what}: max rel err {err:.1e}")
    assert err < REL, what


def test_lrt_with_offsets_matches_r(three_levels):
    """de_ftest's DESeq2 LRT (~ batch + group vs ~ batch) with the tximport offsets."""
    from markerflow.stages.de import cohort_ftest

    counts, lengths, sheet = three_levels
    cfg = {"method": "deseq2", "cooks_filter": True, "independent_filter": True, "alpha": 0.1}
    out = cohort_ftest(counts, sheet, "counts", [], {}, cfg, levels=["A", "B", "C"],
                       avg_tx_length=lengths)  # fmt: skip
    ref = pd.read_csv(OFF / "lrt.tsv.gz", sep="\t", index_col=0).loc[out["gene"]]
    _close_floor(out["stat"], ref["stat"], "LRT stat")
    _close_floor(out["pvalue"], ref["pvalue"], "LRT pvalue")
    calls = set(out["gene"][out["padj"] < 0.1])
    assert calls == set(ref.index[ref["padj"] < 0.1])


def test_shrunken_lfc_with_offsets_matches_r(three_levels):
    counts, lengths, sheet = three_levels
    cfg = {"method": "deseq2", "cooks_filter": True, "independent_filter": True, "alpha": 0.1,
           "lfc_shrink": "normal"}  # fmt: skip
    arrays = {"trend": False, "robust": False, "proportion": 0.01}
    de, _ = cohort_de(counts, sheet, "counts", "C", "B", [], arrays, cfg, cohort="x",
                      levels=["A", "B", "C"], avg_tx_length=lengths)  # fmt: skip
    ref = pd.read_csv(OFF / "shrink_C_vs_B.tsv.gz", sep="\t", index_col=0).loc[de["gene"]]
    _close_floor(de["log2fc_shrunk"], ref["log2FoldChange"], "shrunk log2FoldChange")
    _close_floor(de["se_shrunk"], ref["lfcSE"], "shrunk lfcSE")
