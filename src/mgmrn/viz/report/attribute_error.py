"""Fig. 5: mean and standard deviation of the attribute-prediction error |z - a_y| on the seen
and unseen test images, per stage and fused.

The scores compare directions only (Eq. 11, 14: cosines), so each prediction is unit-normalised
and brought to the length of its class's vector before the difference: the error of image i,
attribute s is ``| ||a_y|| z_hat[s] - a_y[s] |``, with z_hat = z / ||z||. The fused prediction is
the normalised sum of the stages' unit predictions: its cosine with a class vector orders the
classes as Eq. 14 does. Mean and standard deviation run over every image and attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from mgmrn.viz.report.figure import color, new_figure
from mgmrn.viz.report.page import Section
from mgmrn.viz.report.predictions import Predictions
from mgmrn.viz.report.runs import Run

SPLITS = ("seen", "unseen")
LARGEST = 15  # attributes shown in the breakdown


def unit(x: np.ndarray) -> np.ndarray:
    """``x`` divided by its L2 norm along the last axis (zero vectors stay zero)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


@dataclass
class ErrorStats:
    """Per split (rows: seen, unseen test images) and part (columns: stages, fused)."""

    parts: list[str]
    mean: np.ndarray  # (2, L + 1)
    sd: np.ndarray  # (2, L + 1)


def errors(preds: Predictions) -> np.ndarray:
    """(N, L + 1, A): every image's error per stage and fused, per attribute (see the module doc)."""
    z = unit(preds.z.astype(np.float64))
    parts = np.concatenate([z, unit(z.sum(1))[:, None]], axis=1)  # (N, L + 1, A)
    a = preds.data.attributes[preds.labels].astype(np.float64)  # (N, A)
    return np.abs(parts * np.linalg.norm(a, axis=-1)[:, None, None] - a[:, None])


@dataclass
class Breakdown:
    """The attributes whose fused mean error differs most between the seen and the unseen
    classes' test images (largest difference first), and those means."""

    names: list[str]
    seen: np.ndarray
    unseen: np.ndarray


def breakdown(preds: Predictions, largest: int = LARGEST) -> Breakdown:
    """The ``largest`` attributes by |mean unseen error - mean seen error| of the fused prediction."""
    fused = errors(preds)[:, -1]
    unseen = np.isin(preds.labels, preds.data.unseen)
    seen_mean, unseen_mean = fused[~unseen].mean(0), fused[unseen].mean(0)
    order = np.argsort(-np.abs(unseen_mean - seen_mean), kind="stable")[:largest]
    return Breakdown([preds.data.attribute_names[i] for i in order], seen_mean[order], unseen_mean[order])


def attribute_errors(preds: Predictions) -> ErrorStats:
    """The statistics of every stage's and the fused prediction's error (see the module doc)."""
    error = errors(preds)
    unseen = np.isin(preds.labels, preds.data.unseen)
    names = [f"stage {l + 1}" for l in range(error.shape[1] - 1)] + ["fused"]
    splits = [error[~unseen], error[unseen]]
    return ErrorStats(names, np.stack([e.mean((0, 2)) for e in splits]), np.stack([e.std((0, 2)) for e in splits]))


def draw(results: Sequence[ErrorStats], labels: Sequence[str]) -> Figure:
    """One panel per run: per part, the seen and unseen bars with their standard deviation."""
    figure = new_figure(4 + 2.5 * len(results), 4)
    axes = figure.subplots(1, len(results), squeeze=False, sharey=True)[0]
    for ax, r, label in zip(axes, results, labels):
        x = np.arange(len(r.parts))
        for k, split in enumerate(SPLITS):
            ax.bar(x + (k - 0.5) * 0.4, r.mean[k], 0.4, yerr=r.sd[k], capsize=3, color=color(k), label=split)
        ax.set_xticks(x, r.parts, fontsize=9)
        ax.set(title=label, ylabel="|z - a_y| (mean, sd)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=9)
    return figure


def draw_breakdown(found: Sequence[Breakdown], labels: Sequence[str]) -> Figure:
    """One panel per run: per attribute, the seen and unseen images' mean error."""
    rows = max(len(b.names) for b in found)
    figure = new_figure(7 * len(found), 1.2 + 0.32 * rows)
    axes = figure.subplots(1, len(found), squeeze=False)[0]
    for ax, b, label in zip(axes, found, labels):
        y = np.arange(len(b.names))
        for k, (split, values) in enumerate(zip(SPLITS, (b.seen, b.unseen))):
            ax.barh(y + (k - 0.5) * 0.4, values, 0.4, color=color(k), label=split)
        ax.set_yticks(y, b.names, fontsize=9)
        ax.invert_yaxis()
        ax.set(title=label, xlabel="mean |z - a_y| of the fused prediction")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=9)
    return figure


def breakdown_section(runs: Sequence[Run], preds: Sequence[Predictions]) -> Section:
    caption = (f"The {LARGEST} attributes whose mean prediction error (fused prediction, as in Fig. 5) differs "
               "most between the test images of the seen and of the unseen classes, largest difference first.")
    return Section("attribute-breakdown", "Attribute-prediction error by attribute (Fig. 5, detail)", caption,
                   draw_breakdown([breakdown(p) for p in preds], [r.label for r in runs]))


def section(runs: Sequence[Run], preds: Sequence[Predictions]) -> Section:
    caption = ("Mean and standard deviation of the attribute-prediction error |z - a_y| on the test images of "
               "the seen and the unseen classes, per stage and fused (each prediction normalised and scaled to "
               "its class vector's length, as the cosine scores compare them).")
    return Section("attribute-error", "Attribute-prediction error (Fig. 5)", caption,
                   draw([attribute_errors(p) for p in preds], [r.label for r in runs]))
