"""The matplotlib setup of every figure (Agg backend) and the one way to write a figure.

Figure functions (``markerflow.plots.<stage>``) return a :class:`matplotlib.figure.Figure` and never
write; scripts pass it to :func:`save_figure`. Stage modules never import matplotlib, so a job that
draws nothing does not pay for loading it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from markerflow.io.tables import atomic_path

#: No creation date or software version in PNG metadata, so figures are byte-reproducible.
PNG_METADATA = {"Software": None}


def save_figure(fig: Figure, path: str | Path) -> None:
    """Write ``fig`` as PNG (120 dpi, tight box) atomically, without a timestamp, and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight", metadata=PNG_METADATA)
    plt.close(fig)
