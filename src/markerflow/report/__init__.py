"""The human-readable summary page of a run."""
