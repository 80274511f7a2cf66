"""How well the probabilities are calibrated: the temperature each run fitted on its validation
split, and the test images' expected calibration error (ECE, 15 bins, %) and negative
log-likelihood (NLL, nats per image) with the plain softmax (T = 1) and with that temperature,
seen and unseen classes' images apart. Reads the runs' ``metrics.json`` (``probabilities``,
written by ``mgmrn train``) and prints one row per run, then mean ± standard deviation.

    for seed in 0 1 2; do
        mgmrn train cub100 --set seed=$seed --set train.amp=none --output runs/calibration/seed$seed
    done
    .venv/bin/python benchmarks/calibration.py runs/calibration/seed*
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

import _bench

SIDES = ("seen", "unseen", "all")


def row(metrics: dict[str, Any]) -> dict[str, float]:
    """The figures of one run, flat."""
    p = metrics["probabilities"]
    out = {"zsl_top1": metrics["zsl_top1"], "gzsl_h": metrics["gzsl_h"], "ausuc": metrics["ausuc"],
           "gamma": metrics["gamma"], "temperature": p["temperature"]}
    for side in SIDES:
        for key in ("ece_uncalibrated", "ece", "nll_uncalibrated", "nll", "test_fitted_temperature"):
            out[f"{side}.{key}"] = p[side][key]
    return out


def cells(values: list[float], digits: int) -> str:
    """One value, or mean ± sd over runs."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run directories of mgmrn train")
    args = parser.parse_args()
    rows = {run.name: row(json.loads((run / "metrics.json").read_text())) for run in args.runs}
    print(_bench.machine_line(_bench.machine()))
    print(f"command: {_bench.command()}\n")
    groups = [*rows.items(), ("mean ± sd", None)]

    def column(key: str, digits: int) -> list[str]:
        return [cells([r[key]] if r else [v[key] for v in rows.values()], digits) for _, r in groups]

    names = [name for name, _ in groups]
    print(_bench.table(["run", "ZSL T1", "H", "AUSUC", "gamma", "T (validation)"],
                       list(zip(names, column("zsl_top1", 1), column("gzsl_h", 1), column("ausuc", 1),
                                column("gamma", 2), column("temperature", 2)))))
    for side in SIDES:
        print(f"\ntest images of the {side} classes" if side != "all" else "\nall test images")
        print(_bench.table(["run", "ECE, T = 1", "ECE, T", "NLL, T = 1", "NLL, T", "T these images alone would fit"],
                           list(zip(names, column(f"{side}.ece_uncalibrated", 1), column(f"{side}.ece", 1),
                                    column(f"{side}.nll_uncalibrated", 3), column(f"{side}.nll", 3),
                                    column(f"{side}.test_fitted_temperature", 2)))))
    ratio = [r["all.ece"] / r["all.ece_uncalibrated"] for r in rows.values()]
    print(f"\nECE with T / ECE with T = 1, all test images: {', '.join(f'{x:.3f}' for x in ratio)} "
          f"(target: at most 1/3)")


if __name__ == "__main__":
    main()
