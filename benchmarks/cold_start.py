"""Cold start of the command line: the time to help, to refuse bad arguments, and to classify one image.

Each command runs in a fresh process; the commands take turns, ``--repeats`` times, so that
the machine's load weighs on all alike, and each one's median wall time is compared with
``python -c "import torch"``. Targets (issue 20): ``mgmrn --help`` and a bad-argument error
in at most half the time of importing torch; ``mgmrn predict RUN IMAGE`` in the time of
importing what prediction needs (``python -c "import mgmrn.inference.predictor"``, a fresh process
like the others: its start and exit included) plus the model's own work (loading the
checkpoint, building the model, classifying the image; timed inside one more process).

The run is the ``--preset`` model trained for one epoch on a tiny set shaped like CUB (312
attributes, 224x224 images; see ``_tiny_run.py``).

    .venv/bin/python benchmarks/cold_start.py                    # about a minute
    .venv/bin/python benchmarks/cold_start.py --repeats 9 --preset cub100
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench
from _tiny_run import MGMRN, run_images, tiny_run

NEEDS = "import mgmrn.cli.main, mgmrn.cli.predict, mgmrn.inference.predictor"  # what predict imports
WORK = f"""{NEEDS}
import time
start = time.perf_counter()
assert mgmrn.cli.main.main(["predict", {{run!r}}, {{image!r}}]) == 0
print(time.perf_counter() - start)
"""


def wall(argv: list[str], status: int) -> tuple[float, str]:
    """Wall time of ``argv`` in a fresh process (which must exit with ``status``), and its output."""
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    spent = time.perf_counter() - start
    if proc.returncode != status:
        raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}, not {status}: {proc.stderr[-500:]}")
    return spent, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (median taken)")
    parser.add_argument("--preset", default="cub100-tuned", help="the model predict loads (default cub100-tuned)")
    parser.add_argument("--work", type=Path, help="folder for the tiny run (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = tiny_run(args.preset, args.work or Path(tmp))
        image = run_images(run)[0]
        work = WORK.format(run=str(run), image=image)
        rows = {
            "python -c 'import torch'": ([sys.executable, "-c", "import torch"], 0),
            "mgmrn --help": ([*MGMRN, "--help"], 0),
            "mgmrn predict (no arguments: usage error)": ([*MGMRN, "predict"], 2),
            "mgmrn predict RUN IMAGE --top-k 0 (refused)": ([*MGMRN, "predict", str(run), image, "--top-k", "0"], 2),
            "python -c 'import mgmrn.inference.predictor' (what predict needs)": ([sys.executable, "-c", NEEDS], 0),
            "mgmrn predict RUN IMAGE": ([*MGMRN, "predict", str(run), image], 0),
        }
        times: dict[str, list[float]] = {name: [] for name in rows}
        works: list[float] = []
        for _ in range(args.repeats):  # interleaved, so that the machine's load drifts over all alike
            for name, (argv, status) in rows.items():
                times[name].append(wall(argv, status)[0])
            works.append(float(wall([sys.executable, "-c", work], 0)[1].split()[-1]))
    medians = {name: statistics.median(t) for name, t in times.items()}
    torch_s = medians["python -c 'import torch'"]
    width = max(map(len, rows))
    print(f"median of {args.repeats} fresh processes each; ratio: to importing torch")
    for name, t in medians.items():
        print(f"  {name:<{width}}  {t:6.2f} s  {t / torch_s:5.2f}x")
    needs, work = medians["python -c 'import mgmrn.inference.predictor' (what predict needs)"], statistics.median(works)
    print(f"  predict's imports {needs:.2f} s + the model's own work (checkpoint, model, one image) {work:.2f} s "
          f"= {needs + work:.2f} s, against mgmrn predict's {medians['mgmrn predict RUN IMAGE']:.2f} s")
    print(_bench.machine_line(_bench.machine()))
    print(f"reproduce: {_bench.command()}")


if __name__ == "__main__":
    main()
