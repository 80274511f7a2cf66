"""How many CPU threads torch uses, decided before torch loads (``mgmrn --threads``, ``MGMRN_THREADS``).

torch's default, one thread per core, makes every parallel region wait for the thread whose
core another process has taken: beside other work a step runs several times, even hundreds
of times, slower than on one thread (benchmarks/cpu_threads.py). mgmrn's default is as many
threads as the cores that are free when the command starts: the usable cores less the ones
other processes kept busy over a 0.1 s sample of ``/proc/stat``, at least one (on an idle
machine, every core). OpenMP keeps its default (spinning) wait, which is fastest when every
thread has its core; ``OMP_WAIT_POLICY=PASSIVE`` trades a little idle speed for less harm
from work that starts later.

``--threads N`` or ``MGMRN_THREADS=N`` sets N threads; ``OMP_NUM_THREADS`` is respected;
``MGMRN_THREADS=torch`` leaves torch's own defaults. This module imports no torch: it runs
before torch loads, when ``OMP_NUM_THREADS`` still sizes OpenMP's pool.
"""

from __future__ import annotations

import functools
import os
import sys
import time

from mgmrn.errors import UserError

SAMPLE_S = 0.1


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) clock ticks of all cores since boot, from ``/proc/stat``; None elsewhere."""
    try:
        with open("/proc/stat") as handle:
            fields = [float(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(sample_s: float = SAMPLE_S) -> float:
    """How many cores other processes kept busy over the last ``sample_s`` seconds (this
    process sleeps meanwhile); 0 where ``/proc/stat`` is missing."""
    before = _cpu_times()
    if before is None:
        return 0.0
    time.sleep(sample_s)
    after = _cpu_times()
    if after is None or after[1] <= before[1]:
        return 0.0
    share = (after[0] - before[0]) / (after[1] - before[1])
    return share * (os.cpu_count() or 1)


@functools.cache
def choose_threads() -> int:
    """The free cores when first asked: usable cores less the busy ones, at least one."""
    return max(1, min(usable_cores(), round(usable_cores() - busy_cores())))


def configure(threads: int | None = None) -> int | None:
    """Set torch's CPU threads as the module doc says (``threads``: ``--threads``); returns the
    number set (None: left to torch or to ``OMP_NUM_THREADS``). Call it before torch loads."""
    setting = str(threads) if threads else os.environ.get("MGMRN_THREADS", "auto")
    if setting == "torch":
        return None
    if setting == "auto" and "OMP_NUM_THREADS" in os.environ:
        return None
    if setting != "auto" and not (setting.isdigit() and int(setting) > 0):
        raise UserError(f"MGMRN_THREADS must be a positive number of threads, auto or torch, got '{setting}'")
    count = choose_threads() if setting == "auto" else int(setting)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)
    else:
        os.environ["OMP_NUM_THREADS"] = str(count)
    return count
