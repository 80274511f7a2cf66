"""Time of ``mgmrn report`` on a CUB-100 run: the first report (which computes the test
predictions and keeps them in ``RUN/report_cache.npz``) and a second one (which reuses them).

Each report runs as the command a user types, in a fresh process (imports included). The
run is copied first (``model.pt``, ``metrics.json``, ``log.csv``, ``config.yaml``), so that
the run itself is left as it is. Target (issue 23): at most a minute per report on the
2-core development machine.

The run: ``--run DIR``, a finished CUB-100 run; without it, a small one is trained here:
the ``cub100`` preset on all of CUB-100's classes and test images (what the report's time
depends on) but with ``train.max_batches`` batches per epoch and one epoch, from the feature
cache that cub100 runs share.

    .venv/bin/python benchmarks/report_speed.py --run /path/to/cub100-run
    .venv/bin/python benchmarks/report_speed.py                            # trains the small run
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench

CUB100 = Path(__file__).resolve().parents[2] / "shared" / "data" / "cub100"
MGMRN = [sys.executable, "-m", "mgmrn"]
RUN_FILES = ("model.pt", "metrics.json", "log.csv", "config.yaml")


def small_run(folder: Path, batches: int) -> Path:
    """``folder/run``: cub100 trained for one epoch of ``batches`` batches (select and refit)."""
    sets = [f"data.root={CUB100}", "train.epochs=1", f"train.max_batches={batches}"]
    subprocess.run([*MGMRN, "train", "cub100", "--output", str(folder / "run"), "--set", *sets], check=True,
                   stdout=subprocess.DEVNULL)
    return folder / "run"


def timed_report(run: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) of one ``mgmrn report RUN`` in a fresh
    process: the CPU time hardly depends on what else the machine runs, the wall time does."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([*MGMRN, "report", str(run)], check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - start, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished CUB-100 run (default: train a small one)")
    parser.add_argument("--batches", type=int, default=2, help="batches per epoch of the small run (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = args.run or small_run(Path(tmp), args.batches)
        run = Path(tmp) / "copy"
        run.mkdir()
        for name in RUN_FILES:
            shutil.copy2(source / name, run / name)
        first, second = timed_report(run), timed_report(run)
        figures = len(list((run / "report").glob("*.svg")))
    print(_bench.machine_line(_bench.machine()))
    print(f"command: {_bench.command()}")
    print(f"run: {args.run or f'cub100, 1 epoch of {args.batches} batches (trained here)'}; {figures} figures")
    print(f"load average over the last minute: {os.getloadavg()[0]:.1f}")
    rows = [(name, f"{wall:.1f}", f"{cpu:.1f}") for name, (wall, cpu) in
            (("first (computes the test predictions)", first), ("second (reuses report_cache.npz)", second))]
    print(_bench.table(("report", "seconds", "CPU seconds"), rows))


if __name__ == "__main__":
    main()
