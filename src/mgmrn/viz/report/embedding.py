"""Fig. 6: t-SNE of the visual features of 9 seen and 9 unseen test classes, one panel per run.

The features are those the class scores are computed from: each stage's predicted attribute
vector z_l (Eq. 10), unit-normalised (Eq. 11 and 14 take cosines) and concatenated over the
stages. The classes (at random, with a fixed seed) and their images (up to 20 each) are the
same for every run of the same data set, so that the panels compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from mgmrn.viz.report.attribute_error import unit
from mgmrn.viz.report.figure import COLORS, new_figure
from mgmrn.viz.report.page import Section
from mgmrn.viz.report.predictions import Predictions
from mgmrn.viz.report.runs import Run
from mgmrn.viz.report.tsne import tsne

CLASSES, IMAGES, SEED = 9, 20, 0


def features(z: np.ndarray) -> np.ndarray:
    """(N, L * A): the unit-normalised predictions of every stage, side by side."""
    return unit(z.astype(np.float64)).reshape(len(z), -1)


def choose(labels: np.ndarray, classes: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Rows of up to ``IMAGES`` test images of each of up to ``CLASSES`` of ``classes``."""
    rng = np.random.default_rng(seed)
    present = np.intersect1d(classes, labels)
    picked = np.sort(rng.choice(present, min(CLASSES, present.size), replace=False))
    rows = [rng.choice(np.flatnonzero(labels == c), min(IMAGES, int((labels == c).sum())), replace=False)
            for c in picked]
    return np.sort(np.concatenate(rows))


@dataclass
class Panel:
    """One t-SNE: ``points`` (n, 2) of the images of ``split`` classes, and their labels."""

    run: str
    split: str
    points: np.ndarray
    labels: np.ndarray
    names: dict[int, str]  # class index -> name


def panels(run: Run, preds: Predictions) -> list[Panel]:
    """The seen and the unseen classes' t-SNE of ``run``."""
    found = []
    for split, classes in (("seen", preds.data.seen), ("unseen", preds.data.unseen)):
        rows = choose(preds.labels, classes)
        labels = preds.labels[rows]
        names = {int(c): preds.data.classes[c] for c in np.unique(labels)}
        found.append(Panel(run.label, split, tsne(features(preds.z[rows])), labels, names))
    return found


def draw(found: Sequence[Panel], runs: int) -> Figure:
    """Rows: seen, unseen classes; columns: runs."""
    figure = new_figure(3.2 * runs + 2.4, 6.4)
    axes = figure.subplots(2, runs, squeeze=False)
    for i, panel in enumerate(found):
        ax = axes[i % 2, i // 2]
        for k, (c, name) in enumerate(panel.names.items()):
            at = panel.labels == c
            ax.scatter(*panel.points[at].T, s=10, color=COLORS[k % len(COLORS)], label=name)
        ax.set_title(f"{panel.run}: {panel.split} classes", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if i // 2 == runs - 1:
            ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return figure


def section(runs: Sequence[Run], preds: Sequence[Predictions]) -> Section:
    found = [panel for run, p in zip(runs, preds) for panel in panels(run, p)]
    caption = (f"t-SNE of the visual features (each stage's predicted attribute vector, normalised, "
               f"concatenated) of up to {IMAGES} test images of {CLASSES} seen and {CLASSES} unseen classes "
               "chosen at random; one column per run, the same classes and images in each.")
    return Section("tsne", "t-SNE of the visual features (Fig. 6)", caption, draw(found, len(runs)))
