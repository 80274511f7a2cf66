"""The benchmarks' paired comparison (benchmarks/_paired.py): per-seed differences and their
95% Student t interval, checked against values computed by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _paired import paired  # noqa: E402


def test_the_interval_is_students_on_the_per_seed_differences():
    # differences 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653: half width 4.302653 / sqrt(3)
    p = paired({0: 11.0, 1: 12.0, 2: 13.0, 7: 99.0}, {0: 10.0, 1: 10.0, 2: 10.0, 5: 0.0})
    assert p is not None and p.seeds == [0, 1, 2] and p.diffs == [1.0, 2.0, 3.0]
    assert p.half_width == pytest.approx(4.302653 / 3 ** 0.5, rel=1e-6)
    assert p.verdict == "level" and p.cell() == "+2.0 [-0.5, +4.5]"


def test_a_consistent_difference_is_a_win_for_either_side():
    a, b = {s: 70.0 + 0.1 * s for s in range(5)}, {s: 69.0 + 0.1 * s + 0.05 * (s % 2) for s in range(5)}
    assert paired(a, b).verdict == "A better" and paired(b, a).verdict == "B better"


def test_one_shared_seed_decides_nothing_and_none_gives_none():
    assert paired({0: 1.0}, {0: 0.0}).verdict == "level"
    assert paired({0: 1.0}, {1: 0.0}) is None
