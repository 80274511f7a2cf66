"""CPU threads under a controlled background load: what makes mgmrn's work fast on a shared machine.

Each measurement is a fresh process (so OpenMP's settings apply before torch loads) running
one workload, beside N background processes that each keep one core busy (a Python loop):

* ``heads``: the ``cub100`` heads' training step in float32 (stage maps of a 32-image batch,
  forward, backward, AdamW), as in a frozen-backbone run; seconds a step;
* ``extract``: the Lite0 backbone on a batch of 64 images at 224x224 (feature extraction and
  evaluation from images); seconds a batch;
* ``predict``: the ``cub100`` model on one image at a time, as ``mgmrn predict --batch-size 1``
  and the web app run it; seconds an image;
* ``demo``: the whole command ``mgmrn train demo --set train.epochs=2`` (imports, the cached
  demo set and feature cache, two epochs with validation, refit, test); seconds.

Settings: torch's defaults (as many threads as cores, OpenMP's default waiting), OpenMP's
passive waiting, one thread (active and passive waiting), and ``mgmrn``'s own choice (no
variable set: what the ``mgmrn`` command decides at start-up, ``mgmrn.utils.threads``). Each
cell is the median of ``--repeats`` runs.

    .venv/bin/python benchmarks/cpu_threads.py                       # loads 0, 1, 2; every workload
    .venv/bin/python benchmarks/cpu_threads.py --loads 0 2 --workloads heads predict
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _bench

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "torch default": {"MGMRN_THREADS": "torch"},
    "passive wait": {"MGMRN_THREADS": "torch", "OMP_WAIT_POLICY": "PASSIVE"},
    "bounded spin": {"MGMRN_THREADS": "torch", "GOMP_SPINCOUNT": "20000"},
    "1 thread": {"MGMRN_THREADS": "torch", "OMP_NUM_THREADS": "1"},
    "1 thread, passive": {"MGMRN_THREADS": "torch", "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"},
    "mgmrn default": {},
}
# Each workload: a Python body that sets up, then prints the seconds of its timed part.
SETUP = """
import sys, time
from mgmrn.utils.threads import configure
print("threads", configure())  # before torch loads, as the mgmrn command does
import torch
from mgmrn.config import load_config
from mgmrn.training.profile import build_for_profile
cfg = load_config("cub100", ["model.pretrained=none"])
torch.manual_seed(0)
model = build_for_profile(cfg, 312, 300)
def timed(fn, n):
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    print((time.perf_counter() - start) / n)
"""
WORKLOADS = {
    "heads": SETUP + """
model.train()
model.backbone.requires_grad_(False)
with torch.no_grad():
    maps = model.backbone(torch.randn(32, 3, 224, 224))
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
def step():
    opt.zero_grad()
    model.forward_maps(maps).pow(2).mean().backward()
    opt.step()
timed(step, 6)
""",
    "extract": SETUP + """
model.eval()
x = torch.randn(64, 3, 224, 224)
with torch.no_grad():
    timed(lambda: model.backbone(x), 2)
""",
    "predict": SETUP + """
model.eval()
x = torch.randn(1, 3, 224, 224)
with torch.no_grad():
    timed(lambda: model(x), 30)
""",
}
DEMO = ["-m", "mgmrn", "train", "demo", "--set", "train.epochs=2", "--overwrite", "--output"]


def busy(n: int) -> list[subprocess.Popen]:
    """``n`` processes that each keep one core busy."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def measure(workload: str, env: dict[str, str], out: Path, timeout: float) -> float:
    """Seconds of one run of ``workload`` in a fresh process with ``env`` added (inf when it
    took more than ``timeout`` seconds and was stopped)."""
    try:
        return _measure(workload, env, out, timeout)
    except subprocess.TimeoutExpired:
        return float("inf")


def _measure(workload: str, env: dict[str, str], out: Path, timeout: float) -> float:
    full = {k: v for k, v in os.environ.items()
            if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MGMRN_THREADS")}
    full.update(env)
    if workload == "demo":
        start = time.perf_counter()
        subprocess.run([sys.executable, *DEMO, str(out / "demo")], env=full, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
        return time.perf_counter() - start
    done = subprocess.run([sys.executable, "-c", WORKLOADS[workload]], env=full, check=True, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, nargs="+", default=[0, 1, 2], help="background busy processes")
    parser.add_argument("--workloads", nargs="+", default=[*WORKLOADS, "demo"], choices=[*WORKLOADS, "demo"])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/mgmrn-cpu-threads"))
    parser.add_argument("--timeout", type=float, default=90, help="seconds after which a run is stopped (> in the table)")
    args = parser.parse_args()
    print(_bench.machine_line(_bench.machine()))
    if "demo" in args.workloads:  # the demo set and its feature cache, once, outside the timings
        measure("demo", {}, args.out, 600)
    rows = []
    for load in args.loads:
        background = busy(load)
        try:
            for name in args.settings:
                cells = [statistics.median(measure(w, SETTINGS[name], args.out, args.timeout)
                                           for _ in range(args.repeats)) for w in args.workloads]
                rows.append([load, name, *(f"{c:.3f}" if c < float("inf") else f"> {args.timeout:.0f} (stopped)"
                                           for c in cells)])
                print(" | ".join(map(str, rows[-1])), flush=True)
        finally:
            for process in background:
                process.kill()
    print(_bench.table(["busy processes", "setting", *(f"{w} (s)" for w in args.workloads)], rows))
    print("reproduce:", _bench.command())


if __name__ == "__main__":
    main()
