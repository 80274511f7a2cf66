"""Paired comparison of two settings run on the same seeds: the one rule every benchmark uses.

"A beats B" on a metric means the 95% Student t interval of the per-seed differences A - B
(same seeds, n - 1 degrees of freedom) excludes zero.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class Paired:
    """Per-seed differences A - B, their mean and its 95% interval."""

    seeds: list[int]
    diffs: list[float]

    @property
    def mean(self) -> float:
        return statistics.mean(self.diffs)

    @property
    def half_width(self) -> float:
        """Half the interval: t(0.975, n - 1) times the standard error (inf with one seed)."""
        n = len(self.diffs)
        if n < 2:
            return float("inf")
        return float(stats.t.ppf(0.5 + LEVEL / 2, n - 1)) * statistics.stdev(self.diffs) / n ** 0.5

    @property
    def interval(self) -> tuple[float, float]:
        return self.mean - self.half_width, self.mean + self.half_width

    @property
    def verdict(self) -> str:
        """``A better``, ``B better`` or ``level`` (the interval holds zero)."""
        low, high = self.interval
        return "A better" if low > 0 else "B better" if high < 0 else "level"

    def cell(self) -> str:
        """``+1.2 [+0.3, +2.1]``."""
        low, high = self.interval
        return f"{self.mean:+.1f} [{low:+.1f}, {high:+.1f}]"


def paired(a: dict[int, float], b: dict[int, float]) -> Paired | None:
    """A - B over the seeds both have (None if none)."""
    seeds = sorted(set(a) & set(b))
    return Paired(seeds, [a[s] - b[s] for s in seeds]) if seeds else None
