"""Fig. 3: the seen-unseen accuracy curves of the fused score and of each stage's over the whole
gamma sweep, with the run's gamma and the uncalibrated point (gamma = 0)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from mgmrn.evaluation.metrics import ausuc_from_curve, critical_gammas, gamma_sweep
from mgmrn.viz.report.figure import color, new_figure
from mgmrn.viz.report.page import Section
from mgmrn.viz.report.predictions import Predictions
from mgmrn.viz.report.runs import Run


@dataclass
class Curve:
    """GZSL (U, S) in % at every operating point, from gamma = -inf (U = 0) up (S = 0); the
    area under it; the run's gamma and its point; the point of gamma = 0 (uncalibrated)."""

    gammas: np.ndarray
    unseen: np.ndarray
    seen: np.ndarray
    ausuc: float
    gamma: float
    chosen: tuple[float, float]
    uncalibrated: tuple[float, float]


def curve(preds: Predictions, gamma: float, scores: np.ndarray | None = None) -> Curve:
    """The curve of ``scores`` (default: the fused scores) through one gamma below all critical
    gammas and every critical gamma (:func:`mgmrn.evaluation.metrics.critical_gammas`), with the
    points of ``gamma`` and of 0."""
    args = (preds.fused_scores() if scores is None else scores, preds.labels, preds.data.seen, preds.data.unseen)
    sweep = gamma_sweep(*args, np.concatenate([[-np.inf], critical_gammas(*args)]))
    at = gamma_sweep(*args, [gamma, 0.0])
    area = 100 * ausuc_from_curve(sweep.unseen, sweep.seen)
    return Curve(sweep.gammas, 100 * sweep.unseen, 100 * sweep.seen, area, gamma,
                 (100 * float(at.unseen[0]), 100 * float(at.seen[0])),
                 (100 * float(at.unseen[1]), 100 * float(at.seen[1])))


def stage_curves(run: Run, preds: Predictions) -> list[Curve]:
    """Each stage's curve, its point at the stage's validation gamma (at the run's gamma for a
    run saved without per-stage gammas)."""
    scores = preds.stage_scores()
    gammas = run.saved.stage_gammas or [float(run.metrics["gamma"])] * scores.shape[1]
    return [curve(preds, float(g), scores[:, l]) for l, g in enumerate(gammas)]


STAGE_STYLES = (":", "-.", (0, (5, 2)), (0, (1, 3)), (0, (3, 1, 1, 1, 1, 1)))  # stage 1, 2, ...


def draw(curves: Sequence[Curve], stages: Sequence[Sequence[Curve]], labels: Sequence[str]) -> Figure:
    """Per run (a colour): the fused curve (solid, its gamma a dot, gamma = 0 a cross) and each
    stage's (thinner, dashed by stage; its gamma a small dot)."""
    figure = new_figure(10, 6.5)
    ax = figure.add_subplot()
    for i, (c, own, label) in enumerate(zip(curves, stages, labels)):
        ax.plot(c.unseen, c.seen, color=color(i), linewidth=2, label=f"{label}: fused (AUSUC {c.ausuc:.1f})")
        for l, s in enumerate(own):
            ax.plot(s.unseen, s.seen, color=color(i), linewidth=1, alpha=0.7, linestyle=STAGE_STYLES[l % 5],
                    label=f"{label}: stage {l + 1} (AUSUC {s.ausuc:.1f})")
            ax.plot(*s.chosen, "o", color=color(i), markersize=4, alpha=0.7)
        ax.plot(*c.chosen, "o", color=color(i), markersize=8, markeredgecolor="black")
        ax.annotate(f"gamma {c.gamma:.3g}", c.chosen, textcoords="offset points", xytext=(6, 6), fontsize=9)
        ax.plot(*c.uncalibrated, "X", color=color(i), markersize=9, markeredgecolor="black",
                label=f"{label}: gamma = 0 (uncalibrated)")
    ax.set(xlabel="unseen accuracy U (%)", ylabel="seen accuracy S (%)", xlim=(0, 100), ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.set_aspect("equal")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, frameon=False)
    return figure


def section(runs: Sequence[Run], preds: Sequence[Predictions]) -> Section:
    curves = [curve(p, float(r.metrics["gamma"])) for r, p in zip(runs, preds)]
    stages = [stage_curves(r, p) for r, p in zip(runs, preds)]
    caption = ("GZSL accuracy on the seen classes against the unseen classes as the gamma subtracted from the "
               "seen classes' scores sweeps from minus to plus infinity: the fused score (thick) and each "
               "stage's own (thin, dashed); the legend gives the area under each curve (AUSUC). Large dots: the "
               "run's gamma, chosen on validation; small dots: each stage's own validation gamma; crosses: "
               "gamma = 0, the uncalibrated scores.")
    return Section("seen-unseen", "Seen-unseen curves (Fig. 3)", caption,
                   draw(curves, stages, [r.label for r in runs]))
