"""Fig. 3: the seen-unseen accuracy curve of the fused score over the whole gamma sweep."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from mgmrn.engine.metrics import ausuc_from_curve, critical_gammas, gamma_sweep
from mgmrn.viz.report.figure import color, new_figure
from mgmrn.viz.report.page import Section
from mgmrn.viz.report.predictions import Predictions
from mgmrn.viz.report.runs import Run


@dataclass
class Curve:
    """GZSL (U, S) in % at every operating point, from gamma = -inf (U = 0) up (S = 0); the
    area under it; the run's gamma and its point."""

    gammas: np.ndarray
    unseen: np.ndarray
    seen: np.ndarray
    ausuc: float
    gamma: float
    chosen: tuple[float, float]


def curve(preds: Predictions, gamma: float) -> Curve:
    """The curve through one gamma below all critical gammas and every critical gamma
    (:func:`mgmrn.engine.metrics.critical_gammas`), with the point of ``gamma``."""
    args = (preds.fused_scores(), preds.labels, preds.data.seen, preds.data.unseen)
    sweep = gamma_sweep(*args, np.concatenate([[-np.inf], critical_gammas(*args)]))
    at = gamma_sweep(*args, [gamma])
    area = 100 * ausuc_from_curve(sweep.unseen, sweep.seen)
    return Curve(sweep.gammas, 100 * sweep.unseen, 100 * sweep.seen, area, gamma,
                 (100 * float(at.unseen[0]), 100 * float(at.seen[0])))


def draw(curves: Sequence[Curve], labels: Sequence[str]) -> Figure:
    figure = new_figure(6.5, 5.5)
    ax = figure.add_subplot()
    for i, (c, label) in enumerate(zip(curves, labels)):
        ax.plot(c.unseen, c.seen, color=color(i), label=f"{label} (AUSUC {c.ausuc:.1f})")
        ax.plot(*c.chosen, "o", color=color(i), markeredgecolor="black")
        ax.annotate(f"gamma {c.gamma:.3g}", c.chosen, textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set(xlabel="unseen accuracy U (%)", ylabel="seen accuracy S (%)", xlim=(0, 100), ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return figure


def section(runs: Sequence[Run], preds: Sequence[Predictions]) -> Section:
    curves = [curve(p, float(r.metrics["gamma"])) for r, p in zip(runs, preds)]
    caption = ("GZSL accuracy on the seen classes against the unseen classes as the gamma subtracted from the "
               "seen classes' scores sweeps from minus to plus infinity (fused score); the legend gives the "
               "area under each curve (AUSUC), the dot the run's gamma.")
    return Section("seen-unseen", "Seen-unseen curve (Fig. 3)", caption, draw(curves, [r.label for r in runs]))
