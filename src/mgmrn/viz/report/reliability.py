"""Reliability diagrams: the probability of each test image's top class against how often it
is right, per confidence bin, with the plain softmax (T = 1) and the run's temperature, for
the seen and the unseen classes' images apart (:mod:`mgmrn.evaluation.confidence`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from matplotlib.figure import Figure

from mgmrn.evaluation.confidence import Reliability, candidate_logits, nll, reliability
from mgmrn.viz.report.figure import color, new_figure
from mgmrn.viz.report.page import Section, table
from mgmrn.viz.report.predictions import Predictions
from mgmrn.viz.report.runs import Run

SPLITS = ("seen", "unseen")
HEADER = ("run", "images", "T", "ECE, T = 1", "ECE, T", "NLL, T = 1", "NLL, T")


@dataclass
class Diagram:
    """One group of test images (``split``): its reliability with T = 1 and with the run's
    temperature (``None`` for a run without one), and the NLL of both."""

    split: str
    temperature: Optional[float]
    plain: Reliability
    scaled: Optional[Reliability]
    nll_plain: float
    nll_scaled: Optional[float]


def diagrams(run: Run, preds: Predictions) -> list[Diagram]:
    """The seen and the unseen images' diagrams, ranked as the run ranks (its gamma)."""
    d = preds.data
    temperature = run.saved.temperature
    logits, targets, is_seen = candidate_logits(preds.fused_scores(), preds.labels, d.seen, d.unseen,
                                                float(run.metrics["gamma"]))
    found = []
    for split, mask in zip(SPLITS, (is_seen, ~is_seen)):
        x, y = logits[mask], targets[mask]
        scaled = None if temperature is None else reliability(x, y, temperature)
        found.append(Diagram(split, temperature, reliability(x, y), scaled, nll(x, y),
                             None if temperature is None else nll(x, y, temperature)))
    return found


def _panel(ax, count_ax, diagram: Diagram) -> None:
    """Accuracy against confidence per bin (dots at the bins' mean confidence), and the
    bins' image counts below."""
    centers = 50 * (diagram.plain.edges[:-1] + diagram.plain.edges[1:])
    width = 100 * (diagram.plain.edges[1] - diagram.plain.edges[0])
    ax.plot([0, 100], [0, 100], color="#888888", linestyle="--", linewidth=1, label="perfectly calibrated")
    curves = [("T = 1 (plain softmax)", diagram.plain, 0)]
    if diagram.scaled is not None:
        curves.append((f"T = {diagram.temperature:.3g} (fitted on validation)", diagram.scaled, 1))
    for k, (label, r, i) in enumerate(curves):
        filled = r.counts > 0
        ax.plot(100 * r.confidence[filled], 100 * r.accuracy[filled], "o-", color=color(i), markersize=4,
                label=f"{label}: ECE {r.ece:.1f}")
        offset = (k - (len(curves) - 1) / 2) * width / len(curves)
        count_ax.bar(centers + offset, r.counts, width / len(curves), color=color(i))
    ax.set(title=f"{diagram.split} classes' test images", ylabel="accuracy (%)", xlim=(0, 100), ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    count_ax.set(xlabel="confidence: probability of the top class (%)", ylabel="images", xlim=(0, 100))
    count_ax.grid(axis="y", alpha=0.3)


def draw(found: Sequence[Sequence[Diagram]], labels: Sequence[str]) -> Figure:
    """Per run a row: the seen and unseen panels, each over its bin counts."""
    figure = new_figure(10, 5 * len(found))
    grid = figure.add_gridspec(2 * len(found), 2, height_ratios=[3, 1] * len(found))
    for r, (row, label) in enumerate(zip(found, labels)):
        for c, diagram in enumerate(row):
            ax = figure.add_subplot(grid[2 * r, c])
            _panel(ax, figure.add_subplot(grid[2 * r + 1, c], sharex=ax), diagram)
            if len(found) > 1:
                ax.set_title(f"{label}: {ax.get_title()}")
    return figure


def _cells(label: str, d: Diagram) -> list[object]:
    missing = "-"
    return [f"{label}, {d.split}", int(d.plain.counts.sum()),
            missing if d.temperature is None else f"{d.temperature:.3g}", d.plain.ece,
            missing if d.scaled is None else d.scaled.ece, f"{d.nll_plain:.3f}",
            missing if d.nll_scaled is None else f"{d.nll_scaled:.3f}"]


def section(runs: Sequence[Run], preds: Sequence[Predictions]) -> Section:
    found = [diagrams(r, p) for r, p in zip(runs, preds)]
    rows = [_cells(run.label, d) for run, ds in zip(runs, found) for d in ds]
    plain = [run.label for run, ds in zip(runs, found) if ds[0].temperature is None]
    caption = ("Reliability of the probabilities shown for each class (mgmrn predict, the app): the test images' "
               "top class under the run's ranking (gamma off the seen classes), its probability (x, the mean of "
               "each of 15 equal bins) against the share of right answers in the bin (y), and below, the images "
               "in each bin. T = 1 is the plain softmax of the ranking scores; T the temperature fitted on the "
               "validation split (negative log-likelihood). ECE: the images' mean gap between accuracy and "
               "confidence over the bins (%); NLL: nats per image."
               + (f" Runs without a temperature (saved before one was fitted, or trained without validation): "
                  f"{', '.join(plain)}." if plain else ""))
    return Section("reliability", "Reliability of the probabilities", caption, draw(found, [r.label for r in runs]),
                   table(HEADER, rows))
