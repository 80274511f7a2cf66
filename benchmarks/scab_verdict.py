"""Does SCAB help? Table III's two steps paired by seed, in every regime run.

Reads the results folders of ``benchmarks/cub100.py`` (one per regime: the preset at 224,
``model.stages=2``, ``model.head_design=reference``, ``data.image_size=448``...), and prints
one table: for each regime, the per-seed differences ``full - mrm-no-scab`` (what SCAB's
masks add) and ``mrm-no-scab - mgm`` (what plain fusion adds), each as the mean with its
95% Student t interval over the seeds both rows ran (``benchmarks/_paired.py``), on ZSL T1,
GZSL H and AUSUC, and on the validation split's ZSL T1 and H (at each run's chosen epoch:
what a preset decision may use). A second table gives each row's mean test ZSL T1 and H and
each stage's own ZSL T1 (finest first).

    .venv/bin/python benchmarks/scab_verdict.py \\
        --regime "224, L=3=benchmarks/results/cub100-paper" \\
        --regime "224, L=2=benchmarks/results/cub100-L2"
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import _bench
from _paired import Paired, paired
from cub100 import load_results, per_seed, validation_scores

MGM = "mgm (paper pooling)"
STEPS = (("full", "mrm-no-scab", "SCAB"), ("mrm-no-scab", MGM, "fusion"))
METRICS = (("zsl_top1", "T1"), ("gzsl_h", "H"), ("ausuc", "AUSUC"), ("val_zsl_top1", "val T1"), ("val_h", "val H"))


def values(results: list[dict[str, Any]], row: str, key: str) -> dict[int, float]:
    """``key`` per seed: a test metric, or ``val_zsl_top1`` / ``val_h`` from the run's log."""
    if not key.startswith("val_"):
        return per_seed(results, row, key)
    out: dict[int, float] = {}
    for r in results:
        if r.get("row") == row and "metrics" in r and r["seed"] not in out:
            scores = validation_scores(r)
            if scores is not None:
                out[r["seed"]] = scores[0] if key == "val_zsl_top1" else scores[1]
    return out


def located(folder: Path) -> list[dict[str, Any]]:
    """A results folder's runs, each ``output`` pointing into the folder's ``runs/`` (the
    results file holds paths relative to where the benchmark ran)."""
    results = load_results(folder / "runs.jsonl")
    for r in results:
        if r.get("output"):
            r["output"] = str(folder / "runs" / Path(r["output"]).name)
    return results


def step_cells(results: list[dict[str, Any]], a: str, b: str) -> tuple[str, list[str]]:
    """The seeds and one ``mean [low, high]`` cell per metric of ``a - b``."""
    diffs: list[Paired | None] = [paired(values(results, a, k), values(results, b, k)) for k, _ in METRICS]
    seeds = diffs[0].seeds if diffs[0] else []
    cells = [d.cell() + (" *" if d.verdict != "level" else "") if d and len(d.seeds) > 1 else "-" for d in diffs]
    return ",".join(map(str, seeds)), cells


def row_cells(results: list[dict[str, Any]], row: str) -> list[str]:
    """Mean test T1 and H over the row's seeds, and each stage's own mean T1."""
    runs = {r["seed"]: r for r in results if r.get("row") == row and "metrics" in r}
    if not runs:
        return ["-", "-", "-", "-"]
    mean = lambda key: f"{statistics.mean(r['metrics'][key] for r in runs.values()):.1f}"  # noqa: E731
    stages = [r.get("stages") or [] for r in runs.values()]
    own = " / ".join(f"{statistics.mean(s[l]['zsl_top1'] for s in stages):.1f}" for l in range(len(stages[0])))
    return [str(len(runs)), mean("zsl_top1"), mean("gzsl_h"), own if all(stages) else "-"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", action="append", required=True, metavar="NAME=FOLDER",
                        help="a regime's name and its benchmarks/cub100.py results folder (repeatable)")
    args = parser.parse_args()
    regimes = [(name, located(Path(folder))) for name, folder in (r.rsplit("=", 1) for r in args.regime)]
    names = [label for _, label in METRICS]
    lines = [[name, what, *step_cells(results, a, b)[:1], *step_cells(results, a, b)[1]]
             for name, results in regimes for a, b, what in STEPS]
    print("paired by seed, A - B: mean [95% Student t interval]; * the interval excludes zero")
    print(_bench.table(["regime", "step", "seeds", *names], lines))
    rows = [[name, row, *row_cells(results, row)] for name, results in regimes for row in (MGM, "mrm-no-scab", "full")]
    print("\nmeans over seeds: test ZSL T1 and H, each stage's own ZSL T1 (finest first)")
    print(_bench.table(["regime", "row", "seeds", "ZSL T1", "H", "stages' ZSL T1"], rows))
    print(f"\nreproduce: {_bench.command()}")


if __name__ == "__main__":
    main()
