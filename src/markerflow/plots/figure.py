"""The matplotlib setup of every figure (Agg backend), the one way to write a figure, the two
palettes every figure uses (condition levels; cohorts/batches) and the label placement.

Figure functions (``markerflow.plots.<stage>``) return a :class:`matplotlib.figure.Figure` and never
write; scripts pass it to :func:`save_figure`. Stage modules never import matplotlib, so a job that
draws nothing does not pay for loading it.

Figures are made by :func:`subplots`: ``pyplot.subplots`` without pyplot. A figure on the Agg
canvas is what pyplot's Agg backend makes too, so the pixels are the same; pyplot itself (its
global figure registry, backend selection and the modules it loads, ~0.13 s CPU of a job's start-up,
issue 20) is imported only when a module asks for ``markerflow.plots.figure.plt``.
"""

from __future__ import annotations

import io
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import matplotlib
import numpy as np

matplotlib.use("Agg")
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from markerflow.io.tables import atomic_path


def __getattr__(name: str) -> Any:
    """``plt`` (matplotlib.pyplot), imported on first use: figure modules use :func:`subplots`."""
    if name == "plt":
        import matplotlib.pyplot

        return matplotlib.pyplot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def subplots(
    nrows: int = 1,
    ncols: int = 1,
    *,
    sharex: bool | Literal["none", "all", "row", "col"] = False,
    sharey: bool | Literal["none", "all", "row", "col"] = False,
    squeeze: bool = True,
    width_ratios: Sequence[float] | None = None,
    height_ratios: Sequence[float] | None = None,
    subplot_kw: dict[str, Any] | None = None,
    gridspec_kw: dict[str, Any] | None = None,
    **fig_kw: Any,
) -> tuple[Figure, Any]:
    """``matplotlib.pyplot.subplots`` without pyplot: ``Figure(**fig_kw)`` on an Agg canvas (as
    pyplot's Agg backend makes it) and ``Figure.subplots`` with the other arguments."""
    fig = Figure(**fig_kw)
    FigureCanvasAgg(fig)  # the renderer place_labels measures text with, as under pyplot
    axes = fig.subplots(
        nrows,
        ncols,
        sharex=sharex,
        sharey=sharey,
        squeeze=squeeze,
        width_ratios=width_ratios,
        height_ratios=height_ratios,
        subplot_kw=subplot_kw,
        gridspec_kw=gridspec_kw,
    )
    return fig, axes


#: No creation date or software version in PNG metadata, so figures are byte-reproducible.
PNG_METADATA = {"Software": None}


def save_figure(fig: Figure, path: str | Path) -> None:
    """Write ``fig`` as PNG (120 dpi, tight box) atomically, without a timestamp, and close it.

    The image is stored with a 256-colour palette (Pillow's median cut, no dithering): a plot
    uses far fewer colours than that, the file is about a third of the RGBA one, and the
    summary page and Snakemake's report, which embed every figure, stay small.

    The figure is rendered to raw RGBA (its size read off the canvas's renderer, checked against
    the buffer's length) instead of an RGBA PNG that would be decoded at once: the same pixels
    without a zlib round trip (~60 ms of a 1,600 x 800 figure, issue 20); if the size cannot be
    read, through the PNG as before.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="rgba", dpi=120, bbox_inches="tight")
    renderer = getattr(fig.canvas, "renderer", None)
    size = (int(renderer.width), int(renderer.height)) if renderer is not None else (0, 0)
    raw = buffer.getvalue()
    if size[0] * size[1] * 4 == len(raw) and raw:
        image = Image.frombuffer("RGBA", size, raw, "raw", "RGBA", 0, 1)
    else:  # pragma: no cover  (a backend without an Agg renderer)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight", metadata=PNG_METADATA)
        buffer.seek(0)
        image = Image.open(buffer)
        image.load()
    if "matplotlib.pyplot" in sys.modules:  # a figure made with pyplot: out of its registry
        sys.modules["matplotlib.pyplot"].close(fig)
    with image:
        paletted = image.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    with atomic_path(path) as tmp:
        paletted.save(tmp, format="PNG", optimize=True)


# --- the two palettes of every figure ---------------------------------------------------------

#: Condition levels: case red, control blue (as in the volcano's up/down and the summary page's
#: per-gene panels), further levels in this order.
CASE_COLOUR = "#c0392b"
CONTROL_COLOUR = "#2e86c1"
OTHER_LEVEL_COLOURS = ("#e67e22", "#8e44ad", "#16a085", "#7f8c8d", "#b7950b", "#34495e")
#: Cohorts and batches (Okabe-Ito's green, orange, sky blue and pink, then purple, brown, lime and
#: teal): never a condition colour, never grey (grey is "not significant").
BATCH_COLOURS = ("#009e73", "#e69f00", "#56b4e9", "#cc79a7", "#5d3a9b", "#8c564b", "#7fb800",
                 "#006d77")  # fmt: skip
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def condition_colours(
    levels: Sequence[str], case: str | None = None, control: str | None = None
) -> dict[str, str]:
    """One colour per condition level: ``case`` red, ``control`` blue, the other levels (in the
    order given) from :data:`OTHER_LEVEL_COLOURS`. Without case/control, levels named like a
    control (control, healthy, normal, ...) are blue and the first other level is red, so a QC plot
    of asthma/control colours as the comparison's plots do."""
    levels = [str(v) for v in dict.fromkeys(levels)]
    colours: dict[str, str] = {}
    if control is None:
        control = next((v for v in levels if v.lower() in CONTROL_NAMES), None)
    if case is None:
        case = next((v for v in levels if v != control), None)
    if case is not None:
        colours[case] = CASE_COLOUR
    if control is not None:
        colours[control] = CONTROL_COLOUR
    others = [v for v in levels if v not in colours]
    for i, level in enumerate(others):
        colours[level] = OTHER_LEVEL_COLOURS[i % len(OTHER_LEVEL_COLOURS)]
    return {v: colours[v] for v in levels}


#: Level names taken for the control side when a plot is not told which one it is.
CONTROL_NAMES = ("control", "controls", "healthy", "normal", "hc", "ctrl", "healthy control")


def batch_colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per cohort or batch, the same in every figure: a name's colour is
    :data:`BATCH_COLOURS` at crc32(name) mod its length, so GSE27011 has one colour whether a
    figure shows one cohort or five; names that collide within one figure take the next free
    colour (resolved in sorted order, so the same set of names always gets the same colours)."""
    names = [str(v) for v in dict.fromkeys(names)]
    taken: dict[int, str] = {}
    chosen: dict[str, str] = {}
    k = len(BATCH_COLOURS)
    for name in sorted(names):
        slot = zlib.crc32(name.encode("utf-8")) % k
        for step in range(k):
            if (slot + step) % k not in taken or len(taken) >= k:
                slot = (slot + step) % k
                break
        taken.setdefault(slot, name)
        chosen[name] = BATCH_COLOURS[slot]
    return {v: chosen[v] for v in names}


def count_noun(n: int, noun: str) -> str:
    """``1 gene``, ``2 genes`` (the plural by adding "s")."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def place_labels(
    ax: Axes, x: Sequence[float], y: Sequence[float], labels: Sequence[str], fontsize: float = 7
) -> None:
    """Label points without overlaps: a simple greedy repel (no new dependency).

    Labels are placed in the order given (most important first). Each tries positions around its
    point, nearest first (8 directions at growing distances); the first whose text box (measured
    by the renderer) overlaps no label already placed and stays inside the axes is used, and a
    thin line joins a label moved away to its point. A label with no free place is left out
    rather than drawn over another. Positions are computed in display units of the final axis
    limits (the caller draws the data first) and stored in data coordinates.
    """
    ax.autoscale_view()
    fig = ax.figure
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg canvas
    to_px = ax.transData
    scale = fig.dpi / 72.0
    bbox = ax.get_window_extent(renderer)
    pad = 1.5 * scale
    placed: list[tuple[float, float, float, float]] = []
    points = to_px.transform(np.column_stack([np.asarray(x, float), np.asarray(y, float)]))
    directions = [(1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]
    for (px, py), label in zip(points, labels, strict=True):
        probe = ax.text(0, 0, str(label), fontsize=fontsize)
        extent = probe.get_window_extent(renderer)
        probe.remove()
        w, h = extent.width + 2 * pad, extent.height + 2 * pad
        choice = None
        for radius in (3, 8, 15, 24, 36, 50, 68, 90):
            for dx, dy in directions:
                cx = px + dx * (radius * scale + w / 2) if dx else px
                cy = py + dy * (radius * scale + h / 2) if dy else py
                box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                inside = (box[0] >= bbox.x0 and box[2] <= bbox.x1 and box[1] >= bbox.y0
                          and box[3] <= bbox.y1)  # fmt: skip
                if inside and not any(
                    box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                    for b in placed
                ):
                    choice = (box, radius)
                    break
            if choice:
                break
        if choice is None:
            continue
        box, radius = choice
        placed.append(box)
        inverse = to_px.inverted()
        tx, ty = inverse.transform(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
        data_xy = inverse.transform((px, py))
        ax.annotate(str(label), xy=(float(data_xy[0]), float(data_xy[1])),
                    xytext=(float(tx), float(ty)), textcoords="data", fontsize=fontsize,
                    ha="center", va="center",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.4", "shrinkA": 0,
                                "shrinkB": 2} if radius > 3 else None)  # fmt: skip
