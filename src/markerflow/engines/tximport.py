"""Transcript -> gene summarisation as tximport does it (numpy in, numpy out).

Port of ``summarizeToGene`` (list method), ``replaceMissingLength`` and
``makeCountsFromAbundance`` of tximport 1.26.1 (Soneson, Love & Robinson 2015, F1000Research 4:1521),
for transcript-level input with a transcript -> gene table (``txOut = FALSE``):

- transcripts absent from ``tx2gene`` are dropped; a transcript listed twice keeps its first gene
  (``cleanTx2Gene``);
- gene counts and abundances are sums over the gene's transcripts (``rowsum``); genes come out in
  sorted order of their IDs (R's factor levels; IDs compared as code points, which equals R's order
  for the ASCII identifiers of Ensembl/GENCODE/RefSeq);
- gene length = abundance-weighted mean of the transcripts' effective lengths,
  ``rowsum(abundance * length) / rowsum(abundance)``. Where a gene has zero abundance in a sample
  the ratio is NaN and tximport's rule replaces it: if the gene is NaN in every sample, by the mean
  over its transcripts of the per-transcript mean length across samples (``aveLengthSampGene``);
  otherwise by the geometric mean of the gene's non-NaN lengths in the other samples;
- ``countsFromAbundance = "lengthScaledTPM"``: ``abundance * rowMeans(length)`` rescaled per sample
  to the original library size (column sum of the gene counts); ``"scaledTPM"``: the abundance
  rescaled the same way; ``"no"``: the summed counts.

Grouping is vectorised (``np.add.reduceat`` over transcripts ordered by gene); no loop over genes.
Deviation: none known for this path (inferential replicates, ``varReduce``, ``txOut``,
``ignoreTxVersion``/``ignoreAfterBar`` and RSEM/stringtie/alevin input are not ported).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COUNTS_FROM_ABUNDANCE = ("no", "scaledTPM", "lengthScaledTPM")


@dataclass
class GeneSummary:
    """tximport's gene-level list: ``genes`` x samples matrices."""

    genes: np.ndarray  # gene IDs (str), sorted
    counts: np.ndarray
    abundance: np.ndarray
    length: np.ndarray
    counts_from_abundance: str
    n_tx_dropped: int  # transcripts of the files absent from tx2gene


def gene_index(
    tx_ids: np.ndarray, tx2gene_tx: np.ndarray, tx2gene_gene: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per transcript of the files: its gene code (-1 if not in tx2gene) and the gene IDs.

    The first row of a transcript listed twice in ``tx2gene`` wins (tximport's ``cleanTx2Gene``).
    Gene codes index the sorted gene IDs that have at least one transcript in the files (R's
    ``droplevels``).
    """
    tx_tab = np.asarray(tx2gene_tx).astype(str)
    gene_tab = np.asarray(tx2gene_gene).astype(str)
    _, first = np.unique(tx_tab, return_index=True)
    first.sort()
    tx_tab, gene_tab = tx_tab[first], gene_tab[first]
    order = np.argsort(tx_tab, kind="stable")
    tx_sorted = tx_tab[order]
    tx = np.asarray(tx_ids).astype(str)
    pos = np.searchsorted(tx_sorted, tx)
    pos_c = np.minimum(pos, len(tx_sorted) - 1)
    found = (len(tx_sorted) > 0) & (tx_sorted[pos_c] == tx)
    gene_of_tx = np.where(found, gene_tab[order][pos_c], "")
    genes, codes = np.unique(gene_of_tx[found], return_inverse=True)
    out = np.full(len(tx), -1, dtype=np.int64)
    out[found] = codes
    return out, genes


def _group_sum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values, starts, axis=0)


def summarize_to_gene(
    counts: np.ndarray,
    abundance: np.ndarray,
    length: np.ndarray,
    gene_code: np.ndarray,
    genes: np.ndarray,
    counts_from_abundance: str = "no",
) -> GeneSummary:
    """tximport ``summarizeToGene``: transcripts x samples matrices -> genes x samples.

    ``gene_code`` (from :func:`gene_index`) maps each transcript row to a row of ``genes``; rows
    with code -1 are dropped.
    """
    if counts_from_abundance not in COUNTS_FROM_ABUNDANCE:
        raise ValueError(f"counts_from_abundance must be one of {COUNTS_FROM_ABUNDANCE}")
    counts = np.asarray(counts, dtype=np.float64)
    abundance = np.asarray(abundance, dtype=np.float64)
    length = np.asarray(length, dtype=np.float64)
    keep = np.asarray(gene_code) >= 0
    code = np.asarray(gene_code)[keep]
    order = np.argsort(code, kind="stable")  # R's rowsum adds rows in their file order
    code = code[order]
    c, a, ln = (m[keep][order] for m in (counts, abundance, length))
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    n_tx = np.diff(np.r_[starts, len(code)])
    gene_counts = _group_sum(c, starts)
    gene_abundance = _group_sum(a, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        gene_length = _group_sum(a * ln, starts) / gene_abundance
    ave_length_gene = (
        _group_sum(ln.mean(axis=1), starts) / n_tx
    )  # tapply(rowMeans(len), gene, mean)
    gene_length = replace_missing_length(gene_length, ave_length_gene)
    if counts_from_abundance != "no":
        gene_counts = counts_from_abundance_matrix(
            gene_counts, gene_abundance, gene_length, counts_from_abundance
        )
    return GeneSummary(
        genes=np.asarray(genes)[code[starts]],
        counts=gene_counts,
        abundance=gene_abundance,
        length=gene_length,
        counts_from_abundance=counts_from_abundance,
        n_tx_dropped=int((~keep).sum()),
    )


def replace_missing_length(length: np.ndarray, ave_length_gene: np.ndarray) -> np.ndarray:
    """tximport ``replaceMissingLength``: NaN gene lengths (zero abundance in that sample).

    A gene NaN in every sample takes ``ave_length_gene``; otherwise each NaN takes the geometric
    mean of the gene's non-NaN lengths.
    """
    out = length.copy()
    nan = np.isnan(out)
    if not nan.any():
        return out
    all_nan = nan.all(axis=1)
    n_ok = (~nan).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_sum = np.where(nan, 0.0, np.log(np.where(nan, 1.0, out))).sum(axis=1)
        geo = np.exp(log_sum / n_ok)
    fill = np.where(all_nan, ave_length_gene, geo)
    return np.where(nan, fill[:, None], out)


def counts_from_abundance_matrix(
    counts: np.ndarray, abundance: np.ndarray, length: np.ndarray, method: str
) -> np.ndarray:
    """tximport ``makeCountsFromAbundance``: abundance-based counts with each sample's library size.

    ``lengthScaledTPM``: ``abundance * rowMeans(length)``; ``scaledTPM``: ``abundance``; each column
    then scaled by ``colSums(counts) / colSums(new)``.
    """
    if method == "lengthScaledTPM":
        new = abundance * length.mean(axis=1, keepdims=True)
    elif method == "scaledTPM":
        new = abundance.copy()
    else:
        raise ValueError("expecting 'lengthScaledTPM' or 'scaledTPM'")
    return new * (counts.sum(axis=0) / new.sum(axis=0))
