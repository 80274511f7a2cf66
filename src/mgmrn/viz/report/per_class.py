"""Per-class ZSL accuracy of the unseen classes (sorted), the most frequent confusions, and the
unseen classes' confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from mgmrn.evaluation.metrics import zsl_confusion
from mgmrn.viz.report.figure import color, new_figure
from mgmrn.viz.report.page import Section, table
from mgmrn.viz.report.predictions import Predictions
from mgmrn.viz.report.runs import Run

CONFUSIONS = 10  # pairs shown


@dataclass
class Confusion:
    """Images of ``true`` ranked first for ``predicted`` (among the unseen classes)."""

    true: str
    predicted: str
    images: int
    share: float  # % of the images of ``true``


@dataclass
class PerClass:
    """ZSL top-1 (%) of every unseen class with test images, worst first; the confusions."""

    names: list[str]
    top1: np.ndarray
    images: np.ndarray
    confusions: list[Confusion]


def per_class(preds: Predictions, top: int = CONFUSIONS) -> PerClass:
    """From the fused scores' ZSL predictions (argmax over the unseen classes only)."""
    unseen = preds.data.unseen
    names = [preds.data.classes[c] for c in unseen]
    counts = zsl_confusion(preds.fused_scores(), preds.labels, unseen)
    total = counts.sum(1)
    present = np.flatnonzero(total)
    top1 = 100 * np.diag(counts)[present] / total[present]
    order = present[np.argsort(top1, kind="stable")]
    wrong = counts.copy()
    np.fill_diagonal(wrong, 0)
    pairs = np.argsort(-wrong, axis=None, kind="stable")[:top]
    confusions = [Confusion(names[i], names[j], int(wrong[i, j]), float(100 * wrong[i, j] / total[i]))
                  for i, j in zip(*np.unravel_index(pairs, wrong.shape)) if wrong[i, j]]
    return PerClass([names[i] for i in order], 100 * np.diag(counts)[order] / total[order], total[order], confusions)


def draw(results: Sequence[PerClass], labels: Sequence[str]) -> Figure:
    """Per run, a row: the sorted bars, and the confusions."""
    rows = max(len(r.names) for r in results)
    figure = new_figure(12, len(results) * (1 + 0.3 * rows))
    axes = figure.subplots(len(results), 2, squeeze=False)
    for i, (r, label) in enumerate(zip(results, labels)):
        bars, pairs = axes[i]
        bars.barh(range(len(r.names)), r.top1, color=color(i))
        bars.set_yticks(range(len(r.names)), r.names, fontsize=9)
        bars.axvline(float(r.top1.mean()), color="black", linewidth=1, linestyle="--")
        bars.set(xlabel="ZSL top-1 (%)", xlim=(0, 100), title=f"{label}: unseen classes (mean {r.top1.mean():.1f})")
        pairs.barh(range(len(r.confusions)), [c.share for c in r.confusions], color=color(i), alpha=0.6)
        pairs.set_yticks(range(len(r.confusions)), [f"{c.true} -> {c.predicted}" for c in r.confusions], fontsize=9)
        pairs.invert_yaxis()
        pairs.set(xlabel="share of the true class's images (%)", title="most frequent confusions")
    return figure


@dataclass
class Matrix:
    """The unseen classes' ZSL confusion counts (rows: true class, columns: predicted), the
    classes in the order of their top-1, worst first."""

    names: list[str]
    counts: np.ndarray

    def shares(self) -> np.ndarray:
        """Each row as % of its images (0 for a class without test images)."""
        total = self.counts.sum(1, keepdims=True)
        return np.divide(100 * self.counts, total, out=np.zeros(self.counts.shape), where=total > 0)


def matrix(preds: Predictions) -> Matrix:
    """From the fused scores' ZSL predictions, rows and columns worst class first."""
    unseen = preds.data.unseen
    counts = zsl_confusion(preds.fused_scores(), preds.labels, unseen)
    total = np.maximum(counts.sum(1), 1)
    order = np.argsort(np.diag(counts) / total, kind="stable")
    return Matrix([preds.data.classes[unseen[i]] for i in order], counts[np.ix_(order, order)])


def draw_matrices(found: Sequence[Matrix], labels: Sequence[str]) -> Figure:
    """One heat map per run (rows as % of the class's images), with a colour bar."""
    side = max(len(m.names) for m in found)
    size = 3 + 0.3 * side
    figure = new_figure(size + 2, size * len(found))
    for i, (m, label) in enumerate(zip(found, labels)):
        ax = figure.add_subplot(len(found), 1, i + 1)
        image = ax.imshow(m.shares(), cmap="viridis", vmin=0, vmax=100)
        ticks = range(len(m.names))
        ax.set_xticks(ticks, m.names, rotation=90, fontsize=9)
        ax.set_yticks(ticks, m.names, fontsize=9)
        ax.set(xlabel="predicted as (among the unseen classes)", ylabel="true class", title=label)
        figure.colorbar(image, ax=ax, shrink=0.8, label="% of the true class's images")
    return figure


def confusion_section(runs: Sequence[Run], preds: Sequence[Predictions]) -> Section:
    found = [matrix(p) for p in preds]
    caption = ("ZSL confusion matrix of the unseen classes: each test image of an unseen class ranked among the "
               "unseen classes by the fused score; row i, column j is the share of class i's images ranked "
               "first for class j (the diagonal: each class's top-1). Classes worst first.")
    return Section("confusion", "Confusion matrix of the unseen classes", caption,
                   draw_matrices(found, [r.label for r in runs]))


def section(runs: Sequence[Run], preds: Sequence[Predictions]) -> Section:
    results = [per_class(p) for p in preds]
    html = "".join(f"<p>{run.label}: most frequent confusions</p>" + table(
        ("true class", "predicted as", "images", "share of its images (%)"),
        [(c.true, c.predicted, c.images, c.share) for c in r.confusions]) for run, r in zip(runs, results))
    caption = ("ZSL top-1 of each unseen class (its test images ranked among the unseen classes by the fused "
               "score), worst first; the dashed line is their mean, the ZSL T1. Beside: the pairs of unseen "
               "classes most often confused (true -> predicted).")
    return Section("per-class", "Per-class accuracy and confusions", caption,
                   draw(results, [r.label for r in runs]), html)
