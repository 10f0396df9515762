"""Summarise a folder of salmon/kallisto files to gene counts and average transcript lengths."""

import _markerflow_path  # noqa: F401  (first: use this checkout's library)

from markerflow.io.tables import write_matrix
from markerflow.runner import script_context
from markerflow.stages.tximport import gene_frames, summarise_folder

with script_context(snakemake):
    p = snakemake.params
    summary, samples = summarise_folder(
        p.folder, p.quant_type, snakemake.input.tx2gene, p.counts_from_abundance
    )
    counts, lengths = gene_frames(summary, samples)
    write_matrix(counts, snakemake.output.counts)
    write_matrix(lengths, snakemake.output.lengths)
