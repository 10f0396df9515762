"""Reading and writing: tables and matrices, GEO files and downloads, GMT gene sets, the study config and sheets."""
