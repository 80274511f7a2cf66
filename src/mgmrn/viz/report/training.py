"""The training curves of ``log.csv``: loss and validation H per epoch, the selected epoch marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mgmrn.viz.report.figure import color, new_figure
from mgmrn.viz.report.page import Section
from mgmrn.viz.report.runs import Run

STYLES = {"select": "-", "refit": "--", "final": "-"}


@dataclass
class Phase:
    """One training phase's rows of the log (``val_h``: empty when it did not validate)."""

    name: str
    epochs: list[int]
    loss: list[float]
    val_h: list[float]


@dataclass
class Selected:
    """The epoch of the selected model (``metrics.json``'s ``phase`` and ``selected_epoch``),
    its loss, and the validation H of that epoch count in the validated phase (None without)."""

    phase: str
    epoch: int
    loss: float
    val_h: float | None


def phases(run: Run) -> list[Phase]:
    """The log's phases, in order."""
    found: dict[str, Phase] = {}
    for row in run.log:
        phase = found.setdefault(row["phase"], Phase(row["phase"], [], [], []))
        phase.epochs.append(int(row["epoch"]))
        phase.loss.append(float(row["loss"]))
        if row.get("val_h"):
            phase.val_h.append(float(row["val_h"]))
    return list(found.values())


def selected(run: Run, found: Sequence[Phase]) -> Selected | None:
    """Where the selected model is in the log (None if ``metrics.json`` does not say)."""
    name, epoch = run.metrics.get("phase"), run.metrics.get("selected_epoch")
    trained = [p for p in found if p.name == name and epoch in p.epochs]
    if not trained:
        return None
    loss = trained[0].loss[trained[0].epochs.index(epoch)]
    validated = [p for p in found if p.val_h and epoch in p.epochs]
    val_h = validated[0].val_h[validated[0].epochs.index(epoch)] if validated else None
    return Selected(name, epoch, loss, val_h)


def draw(runs: Sequence[Run]) -> Figure:
    figure = new_figure(11, 4)
    loss_ax, h_ax = figure.subplots(1, 2)
    for i, run in enumerate(runs):
        found = phases(run)
        for phase in found:
            style = dict(color=color(i), linestyle=STYLES.get(phase.name, ":"))
            loss_ax.plot(phase.epochs, phase.loss, label=f"{run.label}: {phase.name}", **style)
            if phase.val_h:
                h_ax.plot(phase.epochs, phase.val_h, label=f"{run.label}: {phase.name}", **style)
        chosen = selected(run, found)
        if chosen is not None:
            loss_ax.plot(chosen.epoch, chosen.loss, "*", color=color(i), markersize=14, markeredgecolor="black")
            if chosen.val_h is not None:
                h_ax.plot(chosen.epoch, chosen.val_h, "*", color=color(i), markersize=14, markeredgecolor="black")
    loss_ax.set(xlabel="epoch", ylabel="training loss (Eq. 13, per image)", title="loss")
    h_ax.set(xlabel="epoch", ylabel="validation H (%)", title="validation H (held-out seen classes)")
    for ax in (loss_ax, h_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    return figure


def section(runs: Sequence[Run], preds: Sequence[object]) -> Section:
    caption = ("Training loss and validation H per epoch, from log.csv (solid: the phase that selects the epoch "
               "on validation, dashed: the refit on all training images); the star marks the selected model.")
    return Section("training", "Training curves", caption, draw(runs))
