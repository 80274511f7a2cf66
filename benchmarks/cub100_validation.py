"""Choosing settings on CUB-100's validation split: each preset option against the preset without it.

Every run trains a preset plus overrides with ``train.refit=false``: heads trained on the
training subset (58 of the 73 seen classes; the other 15 are the pseudo-unseen validation
classes). It reports the validation ZSL T1 and H of the epoch chosen on validation H, and the
test figures of that model for the record only (without refit the model never saw 15 of the
seen classes, so its test S and H are low and not comparable with ``benchmarks/cub100.py``).

Settings (``--settings``, default all): ``cub100`` and ``cub100-tuned`` as they are, and each
with one of its choices undone. An option stays in its preset when removing it costs more
than the seed spread on validation T1 or H (the paired per-seed differences' mean exceeds
the larger of the two settings' standard deviations) and costs nothing beyond it on the
other. Runs already in the results file are skipped; several invocations share the work.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cub100_validation.py --seeds 0,1,2   # twice, side by side
    .venv/bin/python benchmarks/cub100_validation.py --table
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path
from typing import Any

import _bench
from _paired import paired

DEFAULT_OUT = _bench.RESULTS / "cub100-validation"

# name: (preset, overrides, the setting it is compared with)
SETTINGS: dict[str, tuple[str, list[str], str]] = {
    "cub100": ("cub100", [], ""),
    "cub100 with Eq. 12 (plain MSE, weight 1)": ("cub100", ["loss.ar_weight=1", "loss.ar_normalize=false"], "cub100"),
    "cub100-tuned": ("cub100-tuned", [], "cub100"),
    # Today's cub100-tuned, under the name it was first measured by: results files from before
    # the test-time flip left the code hold "cub100-tuned" runs with the flip on. In a new
    # results file it is not trained again: it reads cub100-tuned's runs (twin()).
    "cub100-tuned without the test-time flip": ("cub100-tuned", [], "cub100-tuned"),
    "cub100-tuned with Eq. 7's concatenation": ("cub100-tuned", ["model.fusion_tokens=concat"], "cub100-tuned"),
    "cub100-tuned without self-calibration": ("cub100-tuned", ["loss.sc_weight=0"], "cub100-tuned"),
    "cub100-tuned with decoder width 512": ("cub100-tuned", ["model.hidden=512"], "cub100-tuned"),
    "cub100-tuned with L = 4": ("cub100-tuned", ["model.stages=4"], "cub100-tuned without the test-time flip"),
    "cub100-tuned without the fusion drop-path": ("cub100-tuned", ["model.fusion_drop=0"], "cub100-tuned"),
}


def twin(name: str) -> str:
    """The first setting that trains exactly what ``name`` does (``name`` itself if none)."""
    return next(n for n in SETTINGS if SETTINGS[n][:2] == SETTINGS[name][:2])


def run(name: str, seed: int, out: Path) -> dict[str, Any]:
    """Train one setting with one seed (selection phase only) and read its chosen epoch."""
    from mgmrn.config import load_config
    from mgmrn.training.trainer import Trainer

    preset, overrides, _ = SETTINGS[name]
    cfg = load_config(preset, ["train.refit=false", *overrides, f"seed={seed}"])
    folder = out / "runs" / f"{_bench.slug(name)}-seed{seed}"
    start = time.perf_counter()
    m = Trainer(cfg, folder).run(overwrite=True)
    rows = [r for r in csv.DictReader((folder / "log.csv").open()) if r["phase"] == "select"]
    best = max(rows, key=lambda r: float(r["val_h"]))
    return {"name": name, "seed": seed, "preset": preset, "over": overrides,
            "val_t1": float(best["val_zsl_top1"]), "val_h": float(best["val_h"]), "ep": int(best["epoch"]),
            "t1": m["zsl_top1"], "U": m["gzsl_unseen"], "S": m["gzsl_seen"], "H": m["gzsl_h"],
            "sweepH": m["test_sweep_h"], "min": (time.perf_counter() - start) / 60,
            "machine": _bench.machine(), "command": _bench.command()}


def load(results: Path) -> list[dict[str, Any]]:
    return [json.loads(s) for s in results.read_text().splitlines() if s.strip()] if results.is_file() else []


def mean_sd(values: list[float]) -> str:
    sd = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.1f}{sd}"


def verdict(runs: dict[int, dict], ref: dict[int, dict]) -> tuple[str, str, str]:
    """Paired differences (this setting minus its reference, seed by seed) on validation T1 and
    H with their 95% intervals (benchmarks/_paired.py), and which of the two is better."""
    diffs = [paired({s: r[k] for s, r in runs.items()}, {s: r[k] for s, r in ref.items()}) for k in ("val_t1", "val_h")]
    if any(d is None or len(d.seeds) < 2 for d in diffs):
        return "", "", "too few seeds"
    words = {d.verdict for d in diffs}
    if "A better" in words and "B better" not in words:
        word = "this setting better (interval excludes zero)"
    elif "B better" in words and "A better" not in words:
        word = "reference better (interval excludes zero)"
    else:
        word = "level (intervals hold zero)" if words == {"level"} else "mixed"
    return diffs[0].cell(), diffs[1].cell(), word


def summary(lines: list[dict[str, Any]]) -> str:
    by_name: dict[str, dict[int, dict]] = {}
    for r in lines:
        by_name.setdefault(r["name"], {})[r["seed"]] = r
    def runs_of(name: str) -> dict[int, dict]:  # its own runs, else its twin's
        return by_name.get(name) or by_name.get(twin(name), {})

    rows = []
    for name in [n for n in SETTINGS if runs_of(n)]:
        runs = runs_of(name)
        ref_name = SETTINGS[name][2]
        dt1, dh, word = verdict(runs, runs_of(ref_name)) if ref_name else ("", "", "")
        rows.append([name, " ".join(SETTINGS[name][1]) or "-", ",".join(map(str, sorted(runs))),
                     mean_sd([r["val_t1"] for r in runs.values()]), mean_sd([r["val_h"] for r in runs.values()]),
                     ref_name or "-", dt1, dh, word, f"{statistics.mean(r['min'] for r in runs.values()):.1f}"])
    return _bench.table(["setting", "overrides", "seeds", "val T1", "val H", "compared with", "ΔT1 [95%]", "ΔH [95%]",
                         "verdict", "min/run"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="", help="';'-separated setting names (default: all)")
    parser.add_argument("--seeds", default="0,1,2", help="comma list of seeds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--table", action="store_true", help="print the results file as a table and exit")
    args = parser.parse_args()
    results = args.out / "results.jsonl"
    if not args.table:
        names = [n for n in args.settings.split(";") if n] or list(SETTINGS)
        unknown = [n for n in names if n not in SETTINGS]
        if unknown:
            raise SystemExit(f"unknown settings {unknown}; known: {list(SETTINGS)}")
        for seed in [int(s) for s in args.seeds.split(",")]:
            for name in [n for n in names if twin(n) == n or twin(n) not in names]:
                done = {(r["name"], r["seed"]) for r in load(results)}
                if (name, seed) in done or not _bench.claim(args.out, f"{name}-seed{seed}"):
                    continue
                print(f"=== {name} seed {seed}", flush=True)
                line = run(name, seed, args.out)
                results.parent.mkdir(parents=True, exist_ok=True)
                with results.open("a") as handle:
                    handle.write(json.dumps(line) + "\n")
    lines = load(results)
    print(summary(lines))
    if lines:
        print(f"\n{_bench.machine_line(lines[-1]['machine'])}")
    print(f"reproduce: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cub100_validation.py --seeds 0,1,2 --out {args.out}")


if __name__ == "__main__":
    main()
