"""tximport port: gene counts, abundances and lengths equal R's tximport 1.26 to 1e-10.

Fixtures: tests/fixtures/tximport (make_fixtures.py writes 6 salmon + 6 kallisto files,
make_fixtures.R runs tximport on them in both countsFromAbundance modes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerflow.engines.tximport import replace_missing_length
from markerflow.errors import InputError
from markerflow.io.quant import find_quant_files, read_quant_file, read_tx2gene
from markerflow.stages.tximport import gene_frames, summarise_folder, uses_lengths

FIX = Path(__file__).parent / "fixtures" / "tximport"
TOL = 1e-10


def _r(kind: str, mode: str, what: str) -> pd.DataFrame:
    return pd.read_csv(FIX / f"{kind}_{mode}_{what}.tsv", sep="\t", index_col=0,
                       float_precision="round_trip")  # fmt: skip


@pytest.mark.parametrize("kind", ["salmon", "kallisto"])
@pytest.mark.parametrize("mode", ["no", "lengthScaledTPM"])
def test_matches_r_tximport(kind, mode):
    summary, samples = summarise_folder(FIX / kind, kind, FIX / "tx2gene.tsv", mode)
    assert samples == [f"{kind[0].upper()}{j}" for j in range(1, 7)]
    assert summary.n_tx_dropped == 3
    for what in ("counts", "abundance", "length"):
        ref = _r(kind, mode, what)
        assert list(summary.genes) == list(ref.index)
        assert list(ref.columns) == samples
        got = getattr(summary, what)
        np.testing.assert_allclose(got, ref.to_numpy(), rtol=TOL, atol=0, err_msg=what)


def test_zero_abundance_lengths_follow_tximport():
    summary, _ = summarise_folder(FIX / "salmon", "salmon", FIX / "tx2gene.tsv", "no")
    genes = list(summary.genes)
    g7 = summary.length[genes.index("G0007")]  # zero everywhere: mean transcript length
    assert np.all(g7 == g7[0])
    g3 = summary.length[genes.index("G0003")]  # zero in sample 2: geometric mean of the others
    others = np.delete(g3, 1)
    assert g3[1] == pytest.approx(np.exp(np.log(others).mean()), rel=1e-14)


def test_replace_missing_length_rules():
    length = np.array([[np.nan, np.nan], [2.0, np.nan], [1.0, 3.0]])
    out = replace_missing_length(length, np.array([7.0, 0.0, 0.0]))
    np.testing.assert_array_equal(out, [[7.0, 7.0], [2.0, 2.0], [1.0, 3.0]])


def test_gene_frames_round_counts_and_keep_lengths_for_no():
    summary, samples = summarise_folder(FIX / "kallisto", "kallisto", FIX / "tx2gene.tsv", "no")
    counts, lengths = gene_frames(summary, samples)
    assert counts.dtypes.unique().tolist() == [np.dtype(np.int64)]
    np.testing.assert_array_equal(counts.to_numpy(), np.rint(summary.counts))
    assert lengths.index.equals(counts.index)
    np.testing.assert_array_equal(lengths.to_numpy(), summary.length)
    assert uses_lengths(None) and uses_lengths("no") and not uses_lengths("lengthScaledTPM")


def test_sample_subset_and_order():
    summary, samples = summarise_folder(
        FIX / "salmon", "salmon", FIX / "tx2gene.tsv", "no", samples=["S3", "S1"]
    )
    assert samples == ["S3", "S1"]
    ref = _r("salmon", "no", "counts")
    np.testing.assert_allclose(summary.counts, ref[["S3", "S1"]].to_numpy(), rtol=TOL)


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(InputError, match="no salmon quantification files"):
        find_quant_files(tmp_path, "salmon")
    with pytest.raises(InputError, match="unknown quant_type"):
        find_quant_files(tmp_path, "rsem")
    with pytest.raises(InputError, match="have no salmon file"):
        summarise_folder(FIX / "salmon", "salmon", FIX / "tx2gene.tsv", samples=["S1", "X9"])
    bad = tmp_path / "quant.sf"
    bad.write_text("Name\tLength\tEffectiveLength\tTPM\tNumReads\nT1\t10\t5\t-1\t3\n")
    with pytest.raises(InputError, match="line 2"):
        read_quant_file(bad, "salmon")
    with pytest.raises(InputError, match="not a kallisto file"):
        read_quant_file(bad, "kallisto")
    other = tmp_path / "t2g.tsv"
    other.write_text("X1\tG1\nX2\tG2\n")
    with pytest.raises(InputError, match="none of the transcripts"):
        summarise_folder(FIX / "salmon", "salmon", other)


def test_tx2gene_header_detection(tmp_path):
    path = tmp_path / "t2g.tsv"
    path.write_text("ENST0001.1\tENSG1\nENST0002.1\tENSG1\n")
    assert len(read_tx2gene(path)) == 2
    assert len(read_tx2gene(FIX / "tx2gene.tsv")) == 335  # 336 lines minus the header


def test_study_checks_tximport_cohorts(monkeypatch):
    from markerflow.io.study import check_study, read_cohort_sheet

    monkeypatch.chdir(FIX)
    row = {"cohort": "t", "role": "discovery", "source": "tximport", "data_type": "counts",
           "matrix": "salmon", "samples": "samples.tsv", "quant_type": "salmon",
           "tx2gene": "tx2gene.tsv", "condition_column": "condition", "case_values": "case",
           "control_values": "control"}  # fmt: skip

    def check(r):
        config = {"study": {}, "cohorts": [r]}
        return check_study(config, read_cohort_sheet([r]), base=FIX)

    assert check(row)[0].quant_type == "salmon"
    with pytest.raises(InputError, match="needs `tx2gene`"):
        check({**row, "tx2gene": None})
    with pytest.raises(InputError, match="folder 'nope' does not exist"):
        check({**row, "matrix": "nope"})
    with pytest.raises(InputError, match="counts_from_abundance"):
        check({**row, "counts_from_abundance": "scaledTPM"})
