"""Vectorised gamma sweep + exact AUSUC against the per-gamma re-scoring loop.

Realistic size by default: 4,000 test images x 200 classes (150 seen, 50 unseen, interleaved
global indices), scores summed over 3 stages of cosines scaled by 20, 2,001 gammas. Checks
that both give the same numbers, prints timings, their ratio, machine info and the command.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from typing import Callable

import numpy as np
from _bench import cpu_name

from mgmrn.evaluation import metrics as m


def make_scores(images: int, classes: int, seed: int) -> tuple[np.ndarray, ...]:
    """Scores of L=3 stages of scaled cosines, biased towards seen classes, as a model's are."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(classes)
    seen, unseen = np.sort(order[: 3 * classes // 4]), np.sort(order[3 * classes // 4 :])
    is_seen = rng.random(images) < 0.4
    labels = np.where(is_seen, rng.choice(seen, images), rng.choice(unseen, images))
    cosines = np.clip(rng.normal(0.2, 0.15, (3, images, classes)), -1, 1)
    cosines[:, np.arange(images), labels] += 0.25
    cosines[:, :, seen] += 0.1
    return 20 * np.clip(cosines, -1, 1).sum(axis=0), labels, seen, unseen


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Fastest wall time of ``repeats`` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--gammas", type=int, default=2001)
    parser.add_argument("--repeats", type=int, default=3, help="best of N for the vectorised code")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = make_scores(args.images, args.classes, args.seed)
    critical = m.critical_gammas(*data)
    grid = np.linspace(critical[0] - 1, critical[-1] + 1, args.gammas)
    exact = m.exact_gamma_grid(*data)

    t_sweep, fast = best_time(lambda: m.gamma_sweep(*data, grid), args.repeats)
    t_ausuc, fast_area = best_time(lambda: m.ausuc(*data), args.repeats)
    t_loop, slow = best_time(lambda: m.gamma_sweep_loop(*data, grid), 1)
    t_loop_area, slow_curve = best_time(lambda: m.gamma_sweep_loop(*data, exact), 1)
    slow_area = m.ausuc_from_curve(slow_curve.unseen, slow_curve.seen)

    diff = max(float(np.abs(a - b).max()) for a, b in zip(fast[1:], slow[1:]))
    area_diff = abs(fast_area - slow_area)
    identical = diff == 0 and area_diff == 0
    best = int(np.argmax(fast.h))

    print(
        f"{args.images} images x {args.classes} classes ({len(data[2])} seen, "
        f"{len(data[3])} unseen); {args.gammas} gammas; {exact.size} operating points for AUSUC"
    )
    print(f"{'task':<34}{'vectorised s':>14}{'loop s':>12}{'ratio':>10}")
    rows = [
        (f"sweep over {args.gammas} gammas", t_sweep, t_loop),
        (f"exact AUSUC ({exact.size} points)", t_ausuc, t_loop_area),
        ("total", t_sweep + t_ausuc, t_loop + t_loop_area),
    ]
    for name, fast_s, slow_s in rows:
        print(f"{name:<34}{fast_s:>14.4f}{slow_s:>12.3f}{slow_s / fast_s:>9.0f}x")
    print(f"best H {100 * fast.h[best]:.4f} at gamma {fast.gammas[best]:.4f}; "
          f"AUSUC {100 * fast_area:.4f} (loop {100 * slow_area:.4f})")
    print(f"max |vectorised - loop| over U, S, H: {diff:.3g}; AUSUC: {area_diff:.3g}; "
          f"bit-identical: {identical}")
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, numpy {np.__version__}"
    )
    command = ["python", "benchmarks/bench_calibration.py"] + [
        f"--{key}={value}" for key, value in vars(args).items()
    ]
    print(f"reproduce: {shlex.join(command)}  (from the repository root, .venv/bin/python)")
    if diff > 1e-12 or area_diff > 1e-12:
        sys.exit("vectorised and loop results differ")


if __name__ == "__main__":
    main()
