"""Statistical engines (limma, DESeq2, ComBat, PCA): numpy arrays in, numpy arrays out; no pandas, no I/O."""
