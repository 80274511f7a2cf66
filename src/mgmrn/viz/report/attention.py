"""Fig. 7: where the model looks for an unseen test image's strongest attributes.

For a few test images of unseen classes (one per class, classes spread over the unseen ones),
:func:`mgmrn.viz.attention.explain` finds the attributes that add most to the true class's
score (among the unseen classes, as in ZSL) with the first run's model; each run's attention
for those attributes, every stage's summed (:func:`mgmrn.viz.attention.all_stages`, as the
paper fuses them), is drawn over the image beside it. Each stage's own maps
(:func:`mgmrn.viz.attention.render`) are written beside the report.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure

from mgmrn.inference.classes import ClassSet
from mgmrn.inference.predictor import Predictor
from mgmrn.viz.attention import (
    Explanation,
    all_stages,
    colorize,
    explain,
    overlay,
    render,
)
from mgmrn.viz.report.figure import new_figure
from mgmrn.viz.report.page import Section
from mgmrn.viz.report.predictions import Predictions
from mgmrn.viz.report.runs import Run

IMAGES, ATTRIBUTES = 3, 4


@dataclass
class Row:
    """One run's explanation of one image (its ``predicted_class``: among the unseen classes)."""

    run: str
    explanation: Explanation


def images(preds: Predictions) -> list[tuple[str, str]]:
    """(path, class name) of the first test image of ``IMAGES`` unseen classes spread over them."""
    d = preds.data
    classes = sorted({y for _, y in d.test_unseen})
    picked = [classes[int(i)] for i in np.unique(np.linspace(0, len(classes) - 1, IMAGES).round())]
    return [(next(p for p, y in d.test_unseen if y == c), d.classes[c]) for c in picked]


def _unseen(run: Run, preds: Predictions) -> tuple[Predictor, ClassSet]:
    """The run's predictor and its unseen classes, the ones an explanation ranks among (ZSL)."""
    return Predictor(run.saved), ClassSet.of_run(run.saved, [preds.data.classes[c] for c in preds.data.unseen])


def rows(runs: Sequence[Run], preds: Sequence[Predictions]) -> list[Row]:
    """Per image, one row per run that knows its class (the first run chooses the attributes)."""
    predictors = [_unseen(r, p) for r, p in zip(runs, preds)]
    found = []
    for path, name in images(preds[0]):
        first = explain(predictors[0][0], path, classes=predictors[0][1], class_name=name, top_k=ATTRIBUTES)
        for i, (run, (predictor, unseen)) in enumerate(zip(runs, predictors)):
            if name in unseen.names:
                e = first if i == 0 else explain(predictor, path, classes=unseen, class_name=name,
                                                 attributes=first.attributes)
                found.append(Row(run.label, e))
    return found


COLOURS = ListedColormap(colorize(np.linspace(0, 1, 256)[None])[0] / 255.0)  # the maps' colour scale


def draw(found: Sequence[Row], tile: int = 160) -> Figure:
    """A row per explanation: the image, then each attribute's map with its part of the score;
    the colour bar at the right."""
    columns = 1 + max(len(r.explanation.attributes) for r in found)
    figure = new_figure(2.6 * columns + 1, 3.1 * len(found))
    axes = figure.subplots(len(found), columns, squeeze=False)
    for ax_row, row in zip(axes, found):
        e = row.explanation
        crop = e.crop.resize((tile, tile))
        ax_row[0].imshow(crop)
        title = f"{row.run}\ntrue: {e.class_name}\npredicted: {e.predicted_class}"
        ax_row[0].set_title("\n".join(textwrap.fill(t, 26) for t in title.split("\n")), fontsize=9)
        for ax, heat, name, part in zip(ax_row[1:], all_stages(e), e.attributes, e.contributions):
            ax.imshow(overlay(crop, heat - heat.min(), float(heat.max() - heat.min())))  # its own range
            ax.set_title("\n".join(textwrap.wrap(name, 24)) + f"\n{part:+.2f} to the score", fontsize=9)
        for ax in ax_row:
            ax.axis("off")
    bar = figure.colorbar(ScalarMappable(Normalize(0, 1), COLOURS), ax=axes, shrink=0.5, ticks=[0, 1])
    bar.ax.set_yticklabels(["min", "max"], fontsize=9)
    bar.set_label("attention (each map from its minimum to its maximum)", fontsize=9)
    return figure


def _png(row: Row) -> bytes:
    buffer = io.BytesIO()
    render(row.explanation).save(buffer, format="PNG", compress_level=1)  # fast; files a little larger
    return buffer.getvalue()


def section(runs: Sequence[Run], preds: Sequence[Predictions]) -> Section:
    found = rows(runs, preds)
    files = {f"attention-stages-{i + 1}.png": _png(r) for i, r in enumerate(found)}
    links = ", ".join(f'<a href="{name}">{name}</a>' for name in files)
    caption = ("Attention (Eq. 8) of every stage, summed, for the attributes that add most to the true class's "
               "score, on test images of unseen classes; the title gives each attribute's part of the score "
               "(Eq. 14) and the class predicted among the unseen classes. Each map is drawn from its own "
               "minimum to its maximum.")
    html = (f'<p class="note">Each stage\'s own and SCAB-token maps, per row, each on its own scale and captioned '
            f"with its share of the stage's attention: {links}</p>")
    return Section("attention", "Attention (Fig. 7)", caption, draw(found), html, files)
