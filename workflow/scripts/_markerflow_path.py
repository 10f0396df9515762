"""Make scripts import the markerflow library of this checkout (src/), ahead of any installed copy.

Snakemake appends the scripts directory to ``sys.path``; importing this module first puts
``<project>/src`` at the front, locally and inside cluster jobs alike.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)
