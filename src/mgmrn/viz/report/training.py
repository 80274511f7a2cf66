"""The training curves of ``log.csv``: loss, learning rate, and validation ZSL T1, U, S and H
per epoch, the selected epoch marked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mgmrn.viz.report.figure import color, new_figure
from mgmrn.viz.report.page import Section
from mgmrn.viz.report.runs import Run

STYLES = {"select": "-", "refit": "--", "final": "-"}
VALIDATION = {"val_zsl_top1": ("ZSL T1", ":"), "val_unseen": ("U", "-."), "val_seen": ("S", (0, (5, 2))),
              "val_h": ("H", "-")}  # log column -> label, line style


@dataclass
class Phase:
    """One training phase's rows of the log (``val_h``: empty when it did not validate;
    ``val``: each validation metric the log has, by its column)."""

    name: str
    epochs: list[int]
    loss: list[float]
    val_h: list[float]
    lr: list[float] = field(default_factory=list)
    val: dict[str, list[float]] = field(default_factory=dict)


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
        if row.get("lr"):
            phase.lr.append(float(row["lr"]))
        if row.get("val_h"):
            phase.val_h.append(float(row["val_h"]))
        for key in VALIDATION:
            if row.get(key):
                phase.val.setdefault(key, []).append(float(row[key]))
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


def _validation(ax, phase: Phase, run: str, colour: str) -> None:
    """The phase's validation metrics, one line style each."""
    for key, values in phase.val.items():
        name, style = VALIDATION[key]
        ax.plot(phase.epochs, values, color=colour, linestyle=style, linewidth=2 if key == "val_h" else 1,
                label=f"{run}: {name}")


def draw(runs: Sequence[Run]) -> Figure:
    figure = new_figure(15, 4.5)
    loss_ax, lr_ax, h_ax = figure.subplots(1, 3)
    for i, run in enumerate(runs):
        found = phases(run)
        for phase in found:
            style = dict(color=color(i), linestyle=STYLES.get(phase.name, ":"))
            loss_ax.plot(phase.epochs, phase.loss, label=f"{run.label}: {phase.name}", **style)
            if phase.lr:
                lr_ax.plot(phase.epochs, phase.lr, label=f"{run.label}: {phase.name}", **style)
            _validation(h_ax, phase, run.label, color(i))
        chosen = selected(run, found)
        if chosen is not None:
            loss_ax.plot(chosen.epoch, chosen.loss, "*", color=color(i), markersize=14, markeredgecolor="black")
            if chosen.val_h is not None:
                h_ax.plot(chosen.epoch, chosen.val_h, "*", color=color(i), markersize=14, markeredgecolor="black")
    loss_ax.set(xlabel="epoch", ylabel="training loss (Eq. 13, per image)", title="loss")
    lr_ax.set(xlabel="epoch", ylabel="learning rate (first parameter group)", title="learning rate")
    h_ax.set(xlabel="epoch", ylabel="validation accuracy (%, held-out seen classes)",
             title="validation ZSL T1, GZSL U, S, H")
    for ax in (loss_ax, lr_ax, h_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=9)
    return figure


def section(runs: Sequence[Run], preds: Sequence[object]) -> Section:
    caption = ("Training loss, learning rate, and validation ZSL top-1, GZSL U, S and H (at each epoch's best-H "
               "gamma) per epoch, from log.csv (loss and learning rate: solid for the phase that selects the "
               "epoch on validation, dashed for the refit on all training images); the star marks the selected "
               "model.")
    return Section("training", "Training curves", caption, draw(runs))
