"""Figures: every function returns a matplotlib Figure; :func:`markerflow.plots.figure.save_figure` writes it."""
