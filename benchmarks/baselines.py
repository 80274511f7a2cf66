"""Xian et al.'s five classic zero-shot methods (ESZSL, ALE, DeViSE, SJE, SAE) on CUB-100, on
the same features and protocol: pooled features of the frozen Lite0 (``mgmrn.baselines.features``:
``last-stage``, the average-pooled last stage of the ``cub100`` preset's feature cache, 320-d;
``classifier``, the ImageNet classifier's pooled 1280-d input, cached alike), hyperparameters
chosen by ZSL top-1 on the validation split's held-out seen classes, the GZSL gamma chosen on
validation, a refit on all training images, the test metrics of :func:`mgmrn.metrics.evaluate`
(``mgmrn.baselines.zoo`` lists each method's grid). ALE, DeViSE and SJE are trained by SGD
from a seeded start: one run per seed; ESZSL and SAE are closed forms: one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/baselines.py --features last-stage,classifier --seeds 0,1,2 --out benchmarks/results/baselines
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench  # noqa: E402

KEYS = ("zsl_top1", "gzsl_unseen", "gzsl_seen", "gzsl_h", "ausuc", "test_sweep_h")


def cub100_task(preset: str, overrides: list[str], kind: str) -> Any:
    """The :class:`~mgmrn.baselines.protocol.Task` of the preset's data on its pooled features of ``kind``."""
    from mgmrn.baselines.features import feature_task
    from mgmrn.config import load_config
    from mgmrn.data.build import build_data

    cfg = load_config(preset, overrides)
    return feature_task(cfg, build_data(cfg.data), kind)


def cell(values: list[float]) -> str:
    return f"{values[0]:.1f}" if len(values) == 1 else f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cub100")
    parser.add_argument("--set", nargs="*", default=[], help="config overrides of the preset (its data, its cache)")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the SGD-trained methods")
    parser.add_argument("--methods", default="ESZSL,ALE,DeViSE,SJE,SAE")
    parser.add_argument("--features", default="last-stage,classifier", help="comma list of feature kinds")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/baselines"))
    args = parser.parse_args()

    from mgmrn.baselines.protocol import run_protocol
    from mgmrn.baselines.zoo import METHODS, STOCHASTIC

    info = _bench.machine()
    print(_bench.machine_line(info))
    print("command:", _bench.command())
    seeds = [int(s) for s in args.seeds.split(",")]
    results: list[dict[str, Any]] = []
    rows = []
    for kind in args.features.split(","):
        start = time.perf_counter()
        task = cub100_task(args.preset, args.set, kind)
        dim = task.train.features.shape[1]
        print(f"{kind} features: {dim}-d, read in {time.perf_counter() - start:.0f} s")
        for name in args.methods.split(","):
            mine = []
            for seed in seeds if name in STOCHASTIC else [0]:
                began = time.perf_counter()
                result = run_protocol(*METHODS[name](seed), task)
                result.update(features=kind, dim=dim, method=name, seed=seed, seconds=time.perf_counter() - began)
                mine.append(result)
                m = result["metrics"]
                print(f"{kind} {name} seed {seed}: " + ", ".join(f"{k} {m[k]:.1f}" for k in KEYS) +
                      f"; val ZSL T1 {result['val_zsl_top1']:.1f}; {result['hyperparameters']}; "
                      f"{result['seconds']:.0f} s")
                _bench.write_json(args.out / "results.json", {"machine": info, "command": _bench.command(),
                                                              "results": [*results, *mine]})
            results += mine
            rows.append([f"{kind} ({dim}-d)", name, ",".join(str(r["seed"]) for r in mine) if name in STOCHASTIC else "-",
                         *(cell([r["metrics"][k] for r in mine]) for k in KEYS),
                         cell([r["val_zsl_top1"] for r in mine])])
    print(_bench.table(["features", "method", "seeds", "ZSL T1", "GZSL U", "GZSL S", "GZSL H", "AUSUC", "test-sweep H",
                        "val ZSL T1"], rows))


if __name__ == "__main__":
    main()
