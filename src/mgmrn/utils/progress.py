"""Progress bars on a terminal only: logs written to a file or a pipe stay short.

Written to a file or a pipe, stderr gets no bar at all (the trainer prints one line per
epoch, the feature cache one line per extraction). On a terminal a bar whose description
ends in ``i/n`` (epoch i of n, as :func:`mgmrn.training.loop.train_epoch` names it) also
shows the ETA of the whole run: the phase's remaining epochs, validation included, and the
epochs the run expects after the phase (:func:`expect_later_epochs`), at the phase's pace.
"""

from __future__ import annotations

import re
import sys
import time
from typing import Any, Iterable

from tqdm import tqdm

_EPOCH = re.compile(r"^(.*?)\s*(\d+)/(\d+)$")


def on_terminal() -> bool:
    """Whether stderr (where bars go) is a terminal."""
    return sys.stderr.isatty()


class EpochClock:
    """The time left in a run, from the wall-clock time spent on its current phase so far;
    ``later``: the epochs expected after the phase."""

    def __init__(self) -> None:
        self.phase: str | None = None
        self.epoch = self.first = self.epochs = self.later = 0
        self.start = 0.0

    def begin(self, phase: str, epoch: int, epochs: int, now: float) -> None:
        """Epoch ``epoch`` (1-based) of ``epochs`` of ``phase`` starts at ``now``; a new
        phase, or an epoch that does not follow the last one, restarts the clock."""
        if phase != self.phase or epoch <= self.epoch:
            self.phase, self.first, self.start = phase, epoch, now
        self.epoch, self.epochs = epoch, epochs

    def left(self, fraction: float, now: float) -> float | None:
        """Seconds left in the run when ``fraction`` of the current epoch is done; None
        before anything is done."""
        done = self.epoch - self.first + fraction
        if done <= 0:
            return None
        return (now - self.start) / done * (self.epochs - self.epoch + 1 - fraction + self.later)


_CLOCK = EpochClock()


def expect_later_epochs(epochs: int) -> None:
    """Tell the run's ETA how many epochs the run expects after the current phase."""
    _CLOCK.later = max(0, epochs)


class _EpochBar(tqdm):
    """A bar that also shows the run's ETA (``{run_left}`` in its format)."""

    @property
    def format_dict(self) -> dict[str, Any]:
        values = super().format_dict
        left = _CLOCK.left(self.n / self.total, time.monotonic()) if self.total else None
        values["run_left"] = "?" if left is None else tqdm.format_interval(left)
        return values


def progress(iterable: Iterable, desc: str, *, unit: str = "batch", total: int | None = None,
             leave: bool = False) -> tqdm:
    """``iterable`` with a bar on a terminal, without one elsewhere (``set_postfix`` and
    ``write`` work in both cases)."""
    match = _EPOCH.match(desc)
    if not on_terminal() or match is None:
        return tqdm(iterable, desc=desc, unit=unit, total=total, leave=leave, dynamic_ncols=True,
                    disable=not on_terminal())
    _CLOCK.begin(match.group(1), int(match.group(2)), int(match.group(3)), time.monotonic())
    return _EpochBar(iterable, desc=desc, unit=unit, total=total, leave=leave, dynamic_ncols=True,
                     bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
                                " run ETA {run_left}")
