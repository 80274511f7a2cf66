"""Xian et al.'s five classic zero-shot methods (ESZSL, ALE, DeViSE, SJE, SAE) on CUB-100, on
the same features and protocol: the average-pooled last stage of the frozen Lite0 (the
``cub100`` preset's feature cache, 320-d), hyperparameters chosen by ZSL top-1 on the
validation split's held-out seen classes, the GZSL gamma chosen on validation, a refit on all
training images, the test metrics of :func:`mgmrn.metrics.evaluate` (``mgmrn.baselines.zoo``
lists each method's grid). ALE, DeViSE and SJE are trained by SGD from a seeded start: one run
per seed; ESZSL and SAE are closed forms: one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/baselines.py --seeds 0,1,2 --out benchmarks/results/baselines
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


def cub100_task(preset: str, overrides: list[str]) -> Any:
    """The :class:`~mgmrn.baselines.protocol.Task` of the preset's data on its cached last stage, pooled."""
    import torch

    from mgmrn.baselines.protocol import Split, Task
    from mgmrn.config import load_config
    from mgmrn.data.build import build_data
    from mgmrn.engine.inputs import Inputs
    from mgmrn.engine.trainer import build_model

    cfg = load_config(preset, overrides)
    data = build_data(cfg.data)
    cache = Inputs.create(cfg, data, build_model(cfg, data), torch.device("cpu")).cached.cache
    last = cache.arrays[-1]  # (N, C, h, w) float16, memory-mapped

    def split(*groups: list) -> Split:
        samples = [s for g in groups for s in g]
        rows = np.asarray([cache.row[p] for p, _ in samples])
        order = np.argsort(rows)  # read the memory map in file order
        pooled = np.empty((len(rows), last.shape[1]), np.float64)
        pooled[order] = np.asarray(last[rows[order]], np.float32).mean((2, 3))
        return Split(pooled, np.asarray([y for _, y in samples]))

    v = data.val
    return Task(np.asarray(data.attributes, np.float64), np.isin(np.arange(len(data.classes)), data.seen),
                np.asarray(v.val_seen_classes), np.asarray(v.val_unseen_classes), split(v.train_sub),
                split(v.val_seen, v.val_unseen), split(data.train), split(data.test_seen, data.test_unseen))


def cell(values: list[float]) -> str:
    return f"{values[0]:.1f}" if len(values) == 1 else f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cub100")
    parser.add_argument("--set", nargs="*", default=[], help="config overrides of the preset (its data, its cache)")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the SGD-trained methods")
    parser.add_argument("--methods", default="ESZSL,ALE,DeViSE,SJE,SAE")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/baselines"))
    args = parser.parse_args()

    from mgmrn.baselines.protocol import run_protocol
    from mgmrn.baselines.zoo import METHODS, STOCHASTIC

    info = _bench.machine()
    print(_bench.machine_line(info))
    print("command:", _bench.command())
    start = time.perf_counter()
    task = cub100_task(args.preset, args.set)
    print(f"features: {task.train.features.shape[1]}-d, read in {time.perf_counter() - start:.0f} s")
    seeds = [int(s) for s in args.seeds.split(",")]
    results: list[dict[str, Any]] = []
    for name in args.methods.split(","):
        for seed in seeds if name in STOCHASTIC else [0]:
            began = time.perf_counter()
            result = run_protocol(*METHODS[name](seed), task)
            result.update(method=name, seed=seed, seconds=time.perf_counter() - began)
            results.append(result)
            m = result["metrics"]
            print(f"{name} seed {seed}: " + ", ".join(f"{k} {m[k]:.1f}" for k in KEYS) +
                  f"; val ZSL T1 {result['val_zsl_top1']:.1f}; {result['hyperparameters']}; {result['seconds']:.0f} s")
            _bench.write_json(args.out / "results.json", {"machine": info, "command": _bench.command(),
                                                          "results": results})
    rows = []
    for name in dict.fromkeys(r["method"] for r in results):
        mine = [r for r in results if r["method"] == name]
        rows.append([name, ",".join(str(r["seed"]) for r in mine) if name in STOCHASTIC else "-",
                     *(cell([r["metrics"][k] for r in mine]) for k in KEYS),
                     cell([r["val_zsl_top1"] for r in mine])])
    print(_bench.table(["method", "seeds", "ZSL T1", "GZSL U", "GZSL S", "GZSL H", "AUSUC", "test-sweep H",
                        "val ZSL T1"], rows))


if __name__ == "__main__":
    main()
