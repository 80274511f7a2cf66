"""Figures drawn with matplotlib's Agg canvas (no pyplot, no display) and written as PNG and SVG."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mgmrn.utils.io import atomic_open

DPI = 100
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")  # one per run, in order (matplotlib's tab10)


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` x ``height`` inches on an Agg canvas, laid out to fit."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def color(i: int) -> str:
    """The colour of the ``i``-th run."""
    return COLORS[i % len(COLORS)]


def write_figure(figure: Figure, folder: Path, name: str) -> bytes:
    """``folder/name.png`` and ``folder/name.svg``, each written atomically; returns the PNG."""
    files = {}
    for fmt in ("png", "svg"):
        buffer = io.BytesIO()
        metadata = {"Software": "mgmrn"} if fmt == "png" else {"Date": None}  # no time stamp in the SVG
        figure.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
        files[fmt] = buffer.getvalue()
        with atomic_open(folder / f"{name}.{fmt}", "wb") as handle:
            handle.write(files[fmt])
    return files["png"]
