"""One module per workflow stage (named after its rule): pandas in, pandas out, calling engines, io and model."""
