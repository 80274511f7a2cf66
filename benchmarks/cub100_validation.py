"""Quick comparisons on CUB-100 for choosing settings: selection phase only, judged on validation.

Each call trains the ``cub100`` preset plus ``KEY=VALUE`` overrides with ``train.refit=false``
(heads trained on the training subset, 62 of the 77 seen classes; the other 15 are the
pseudo-unseen validation classes), reports the validation ZSL T1 and H of the epoch chosen
on validation H, and the test figures of that model for the record. Without refit the
model has never seen 15 of the seen classes, so its test S and H are low and not
comparable with ``benchmarks/cub100.py``; choose on the validation columns.

    .venv/bin/python benchmarks/cub100_validation.py full-e12 model.variant=full train.epochs=12
    .venv/bin/python benchmarks/cub100_validation.py --table
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import _bench

DEFAULT_OUT = _bench.RESULTS / "cub100-validation"


def run(name: str, overrides: list[str], out: Path) -> dict:
    from mgmrn.config import load_config
    from mgmrn.engine.trainer import Trainer

    cfg = load_config("cub100", ["train.refit=false", *overrides])
    folder = out / "runs" / name
    start = time.perf_counter()
    m = Trainer(cfg, folder).run()
    rows = [r for r in csv.DictReader((folder / "log.csv").open()) if r["phase"] == "select"]
    best = max(rows, key=lambda r: float(r["val_h"]))
    return {"name": name, "over": overrides, "val_t1": round(float(best["val_zsl_top1"]), 1),
            "val_h": round(float(best["val_h"]), 1), "ep": best["epoch"], "t1": round(m["zsl_top1"], 1),
            "U": round(m["gzsl_unseen"], 1), "S": round(m["gzsl_seen"], 1), "H": round(m["gzsl_h"], 1),
            "sweepH": round(m["test_sweep_h"], 1), "min": round((time.perf_counter() - start) / 60, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", help="run name (its folder under OUT/runs)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--table", action="store_true", help="print the results file as a table")
    args = parser.parse_args()
    results = args.out / "results.jsonl"
    if args.name:
        line = run(args.name, args.overrides, args.out)
        print(json.dumps(line))
        results.parent.mkdir(parents=True, exist_ok=True)
        with results.open("a") as handle:
            handle.write(json.dumps(line) + "\n")
    if args.table or not args.name:
        lines = [json.loads(s) for s in results.read_text().splitlines() if s.strip()]
        print(_bench.table(
            ["run", "overrides", "val T1", "val H", "epoch", "test T1", "U", "S", "H", "test-sweep H", "min"],
            [[r["name"], " ".join(r["over"]), r["val_t1"], r["val_h"], r["ep"], r["t1"], r["U"], r["S"], r["H"],
              r["sweepH"], r["min"]] for r in lines]))


if __name__ == "__main__":
    main()
