"""CPU threads (``mgmrn.utils.threads``): the free cores, set before torch loads; ``--threads``,
``MGMRN_THREADS`` and ``OMP_NUM_THREADS`` override, OpenMP's wait policy is left as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mgmrn.utils.threads import choose_threads, usable_cores

PROBE = """
import os, sys
from mgmrn.utils.threads import configure
chosen = configure({arg})
import torch
print(chosen, torch.get_num_threads(), os.environ.get("OMP_WAIT_POLICY"), "torch" in sys.modules)
"""


def probe(arg: str = "None", **env: str) -> list[str]:
    """``configure(arg)`` in a fresh process with ``env``: chosen, torch threads, wait policy."""
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MGMRN_THREADS")}
    done = subprocess.run([sys.executable, "-c", PROBE.format(arg=arg)], env={**clean, **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_default_takes_the_free_cores_and_leaves_the_wait_policy():
    chosen, threads, policy, _ = probe()
    assert policy == "None" and chosen == threads and 1 <= int(threads) <= usable_cores()


def test_threads_asked_for_are_set_and_omp_settings_respected():
    assert probe("1")[:3] == ["1", "1", "None"]
    assert probe(MGMRN_THREADS="1")[:2] == ["1", "1"]
    assert probe(OMP_NUM_THREADS="1", OMP_WAIT_POLICY="ACTIVE")[:3] == ["None", "1", "ACTIVE"]
    assert probe(MGMRN_THREADS="torch")[2] == "None"  # torch's own defaults: nothing set


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_busy_cores_are_left_to_their_owners():
    """With every core kept busy by another process, one thread."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(usable_cores())]
    try:
        choose_threads.cache_clear()
        assert choose_threads() == 1
    finally:
        for loop in loops:
            loop.kill()
        choose_threads.cache_clear()


def test_the_threads_option_reaches_torch_and_bad_values_are_one_line(capsys):
    from mgmrn.cli.main import main

    assert main(["profile", "demo", "--threads", "1", "--iters", "1", "--speed-batch", "1", "--json",
                 "--attributes", "8", "--word-dim", "4", "--set", "data.image_size=32"]) == 0
    assert json.loads(capsys.readouterr().out)["threads"] == 1
    env = {**os.environ, "MGMRN_THREADS": "many"}
    done = subprocess.run([sys.executable, "-m", "mgmrn", "profile", "demo", "--iters", "0"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "MGMRN_THREADS" in done.stderr
