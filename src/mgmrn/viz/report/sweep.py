"""Fig. 4: ZSL T1 and H against L or N_p, when the runs differ only there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from matplotlib.figure import Figure

from mgmrn.config import to_dict
from mgmrn.viz.report.figure import color, new_figure
from mgmrn.viz.report.page import Section
from mgmrn.viz.report.runs import Run, differences

SWEPT = {"model.stages": "L (granularity levels)", "model.prototypes": "N_p (parts per granularity level)"}


@dataclass
class Sweep:
    """The runs' metrics (``metrics.json``) in order of the swept key's value."""

    key: str
    values: list[int]
    zsl_top1: list[float]
    gzsl_h: list[float]


def sweep(runs: Sequence[Run]) -> Sweep | None:
    """None unless there are several runs whose configs differ in one key of ``SWEPT`` only,
    with one whole number per run."""
    diffs = differences([to_dict(r.cfg) for r in runs])
    keys = list(diffs[0])
    if len(runs) < 2 or len(keys) != 1 or keys[0] not in SWEPT:
        return None
    values = [d[keys[0]] for d in diffs]
    if not all(isinstance(v, int) for v in values):
        return None
    ordered = sorted(zip(values, runs), key=lambda pair: pair[0])
    return Sweep(keys[0], [v for v, _ in ordered], [float(r.metrics["zsl_top1"]) for _, r in ordered],
                 [float(r.metrics["gzsl_h"]) for _, r in ordered])


def draw(found: Sweep) -> Figure:
    figure = new_figure(5.5, 4)
    ax = figure.add_subplot()
    ax.plot(found.values, found.zsl_top1, "o-", color=color(0), label="ZSL T1")
    ax.plot(found.values, found.gzsl_h, "s-", color=color(1), label="H")
    ax.set_xticks(found.values)
    ax.set(xlabel=SWEPT[found.key], ylabel="accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    return figure


def section(runs: Sequence[Run], preds: Sequence[object]) -> Section | None:
    found = sweep(runs)
    if found is None:
        return None
    caption = f"ZSL top-1 and H (metrics.json) of the runs, which differ only in {found.key}."
    return Section("sweep", "L and N_p (Fig. 4)", caption, draw(found))
