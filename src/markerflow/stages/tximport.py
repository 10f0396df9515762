"""The tximport stage: a folder of salmon/kallisto files -> gene counts (+ average lengths).

Reads the files (:mod:`markerflow.io.quant`), summarises transcripts to genes as tximport 1.26
does (:func:`markerflow.engines.tximport.summarize_to_gene`) and returns what ingest reads:

- gene counts rounded to integers (``round()``, half to even like R), as
  ``DESeqDataSetFromTximport`` does (DESeq2 1.38: ``round(txi$counts)``) and as the tximport
  vignette does for ``lengthScaledTPM`` counts passed to ``DESeqDataSetFromMatrix``;
- with ``countsFromAbundance = "no"``, the gene x sample average transcript length matrix, used as
  DESeq2 normalisation offsets (``DESeqDataSetFromTximport``'s ``avgTxLength``). With
  ``lengthScaledTPM`` the length bias is already in the counts and no lengths are written
  (tximport vignette); the length file is still written (see :func:`gene_frames`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from markerflow.engines.tximport import COUNTS_FROM_ABUNDANCE, GeneSummary, gene_index
from markerflow.engines.tximport import summarize_to_gene as _summarize
from markerflow.errors import InputError, name_first
from markerflow.io.quant import read_quant_folder, read_tx2gene

log = logging.getLogger(__name__)


def summarise_folder(
    folder: str | Path,
    quant_type: str,
    tx2gene: str | Path,
    counts_from_abundance: str = "no",
    samples: list[str] | None = None,
) -> tuple[GeneSummary, list[str]]:
    """tximport(files, type=quant_type, tx2gene=..., countsFromAbundance=...) on a folder.

    Returns the gene summary and the sample names (sub-folder / file names, or ``samples``).
    """
    if counts_from_abundance not in COUNTS_FROM_ABUNDANCE:
        raise InputError(
            f"counts_from_abundance {counts_from_abundance!r} is not supported",
            hint="use `no` or `lengthScaledTPM` (or `scaledTPM`)",
        )
    quant = read_quant_folder(folder, quant_type, samples)
    table = read_tx2gene(tx2gene, quant.transcripts)
    code, genes = gene_index(quant.transcripts, table["tx"].to_numpy(), table["gene"].to_numpy())
    if (code < 0).all():
        raise InputError(
            f"none of the transcripts of the {quant_type} files are in the tx2gene table "
            f"(files: {name_first(list(quant.transcripts[:3]))}; table: "
            f"{name_first(list(table['tx'].iloc[:3]))})",
            path=tx2gene,
            hint="use the tx2gene table of the transcriptome the samples were quantified "
            "against (transcript versions must match)",
        )
    summary = _summarize(
        quant.counts, quant.abundance, quant.length, code, genes, counts_from_abundance
    )
    if summary.n_tx_dropped:
        log.warning("transcripts missing from tx2gene: %d (dropped)", summary.n_tx_dropped)
    log.info(
        "tximport (%s, countsFromAbundance=%s): %d transcripts x %d samples -> %d genes",
        quant_type,
        counts_from_abundance,
        len(quant.transcripts),
        len(quant.samples),
        len(summary.genes),
    )
    return summary, quant.samples


def gene_frames(summary: GeneSummary, samples: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rounded integer counts and tximport's length matrix (both index ``feature_id``).

    The lengths are DESeq2 offsets only with ``countsFromAbundance = "no"`` (:func:`uses_lengths`);
    they are returned in every mode so the workflow's file set does not depend on the mode.
    """
    index = pd.Index(summary.genes.astype(str), name="feature_id")
    counts = pd.DataFrame(np.rint(summary.counts).astype(np.int64), index=index, columns=samples)
    lengths = pd.DataFrame(summary.length, index=index, columns=samples)
    return counts, lengths


def uses_lengths(counts_from_abundance: str | None) -> bool:
    """Whether DESeq2 takes the average transcript lengths as offsets (tximport vignette)."""
    return (counts_from_abundance or "no") == "no"
