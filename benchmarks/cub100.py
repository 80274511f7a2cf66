"""Zero-shot accuracy on real CUB-100 (pretrained EfficientNet-Lite0, 224x224, frozen backbone).

Rows (groups, pick with ``--groups``):

* ``eszsl``: ESZSL (closed form) on the average-pooled last-stage Lite0 features from the
  feature cache (``mgmrn.baselines.features``, ``protocol``: as ``benchmarks/baselines.py``);
  (gamma, lambda) in {10^-3..10^6}^2 (``--eszsl-exponents``) chosen by ZSL top-1 on the validation
  split (pseudo-unseen classes), then refit on all training images; the GZSL gamma is
  chosen on the validation split (model fit on ``train_sub``), as the trainer does.
* ``ablation``: Table III rows, ``model.variant`` = baseline, mgm-no-rfm, mgm (region
  pooling ``paper`` = Eq. 2 literal, and ``region``), mrm-no-scab, full (and full with
  ``region`` pooling).
* ``stages``: the full model with L in ``--L`` (L = 3, the preset's, is the ``full`` row).
* ``prototypes``: the full model with N_p in ``--np`` (N_p = 5, the preset's, is ``full``).
* ``options``: ``model.head_design=reference`` and ``train.stage_updates=per-stage``.
* ``finetune``: the full model trained end to end from the pretrained backbone (images with
  the training augmentation instead of cached maps; backbone lr 1e-4, heads 1e-3, AdamW,
  cosine), in epoch counts that fit a CPU: 5 epochs from random heads (BatchNorm on batch
  statistics, and on running statistics with ``train.freeze_bn=true``), and 10 epochs of
  heads alone on cached maps followed by 4 or 10 end to end (``train.frozen_epochs=10``,
  14 or 20 in all: the cosine schedule has decayed the learning rates to 19% or 50% when
  fine-tuning starts) with ``train.freeze_bn=true`` (batch statistics change Lite0's
  features so much that trained heads' loss goes from 1.8 to 7.9,
  ``benchmarks/bn_statistics.py``); the 4-epoch row is the ``cub100-ft`` preset. The best
  frozen ablation, ``mrm-no-scab``, gets the same 10 + 4 and 10 + 10 schedules.
* ``diagnostics``: the full model and the baseline with ``model.attribute_embedding=free``
  (one learnable C-d vector per attribute, as the reference code), the full model with
  ``train.lr=0.003``.

Every Mg-MRN row is one ``Trainer(cfg, output).run()`` of the ``cub100`` preset
(``train.freeze_backbone=true``: heads trained on cached stage maps) plus ``--set``
overrides common to all rows, then the row's own overrides and ``seed=<s>``. Metrics are the
trainer's: ZSL T1, GZSL U / S / H with the validation-calibrated gamma (the default),
AUSUC, and the test-sweep H (gamma chosen on the test set: optimistic, for comparison with
the reference protocol only). A third table puts each row's validation ZSL T1 and H (at the
chosen epoch, from the run's ``log.csv``) beside its test T1 and H. Runs already in the
results file are skipped, so the script can be rerun to add seeds or groups.

    .venv/bin/python benchmarks/cub100.py --groups ablation --seeds 0
    .venv/bin/python benchmarks/cub100.py --table-only
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
import traceback
from pathlib import Path
from typing import Any

import _bench
from _paired import paired

DEFAULT_OUT = _bench.RESULTS / "cub100"
KEYS = ("zsl_top1", "gzsl_unseen", "gzsl_seen", "gzsl_h", "ausuc", "test_sweep_h")
PAIRED_KEYS = {"zsl_top1": "ZSL T1", "gzsl_h": "H", "ausuc": "AUSUC", "test_sweep_h": "test-sweep H"}
# Table III's comparisons: the full model against each ablation, and SCAB's own step
DEFAULT_PAIRS = ("full - mrm-no-scab;full - mgm;full - mgm-no-rfm;full - baseline;mrm-no-scab - mgm;"
                 "full, linear probe then fine-tune - mrm-no-scab, linear probe then fine-tune")


def rows_for(group: str, args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(row name, overrides) of a group."""
    if group == "ablation":
        return [
            ("baseline", ["model.variant=baseline"]),
            ("mgm-no-rfm", ["model.variant=mgm-no-rfm"]),
            ("mgm (paper pooling)", ["model.variant=mgm", "model.region_pooling=paper"]),
            ("mgm (region pooling)", ["model.variant=mgm", "model.region_pooling=region"]),
            ("mrm-no-scab", ["model.variant=mrm-no-scab"]),
            ("full", ["model.variant=full"]),
            ("full (region pooling)", ["model.variant=full", "model.region_pooling=region"]),
        ]
    if group == "stages":
        return [(f"full L={l}", ["model.variant=full", f"model.stages={l}"]) for l in args.L if l != 3]
    if group == "prototypes":
        return [(f"full N_p={p}", ["model.variant=full", f"model.prototypes={p}"]) for p in args.np if p != 5]
    if group == "diagnostics":
        return [
            ("full, free attribute vectors", ["model.variant=full", "model.attribute_embedding=free"]),
            ("baseline, free attribute vectors", ["model.variant=baseline", "model.attribute_embedding=free"]),
            ("mgm-no-rfm, free attribute vectors", ["model.variant=mgm-no-rfm", "model.attribute_embedding=free"]),
            ("full, lr 0.003", ["model.variant=full", "train.lr=0.003"]),
        ]
    if group == "finetune":  # end to end from the pretrained backbone, in epochs that fit a CPU
        ft = ["model.variant=full", "train.freeze_backbone=false", "train.lr=0.0001", "train.head_lr=0.001"]
        return [
            ("full, fine-tuned end to end", [*ft, "train.epochs=5"]),
            ("full, fine-tuned end to end, BatchNorm frozen", [*ft, "train.epochs=5", "train.freeze_bn=true"]),
            ("full, linear probe then fine-tune", [*ft, "train.epochs=14", "train.frozen_epochs=10",
                                                   "train.freeze_bn=true"]),
            ("full, linear probe then fine-tune 10 epochs", [*ft, "train.epochs=20", "train.frozen_epochs=10",
                                                             "train.freeze_bn=true"]),
            ("mrm-no-scab, linear probe then fine-tune",
             [*ft, "model.variant=mrm-no-scab", "train.epochs=14", "train.frozen_epochs=10", "train.freeze_bn=true"]),
            ("mrm-no-scab, linear probe then fine-tune 10 epochs",
             [*ft, "model.variant=mrm-no-scab", "train.epochs=20", "train.frozen_epochs=10", "train.freeze_bn=true"]),
        ]
    if group == "options":
        return [
            ("full, reference head design", ["model.variant=full", "model.head_design=reference"]),
            ("full, per-stage schedule", ["model.variant=full", "train.stage_updates=per-stage"]),
        ]
    raise SystemExit(f"unknown group {group}")


def load_results(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_result(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(result, default=float) + "\n")


def run_mgmrn(name: str, overrides: list[str], seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from mgmrn.config import load_config
    from mgmrn.training.trainer import Trainer

    all_overrides = [*args.set, *overrides, f"seed={seed}"]  # a row's own overrides win
    cfg = load_config(args.preset, all_overrides)
    output = args.out / "runs" / f"{_bench.slug(name)}-seed{seed}"
    start = time.perf_counter()
    metrics = Trainer(cfg, output).run(overwrite=True)  # a stopped run starts again
    return {"metrics": {k: metrics[k] for k in (*KEYS, "gamma", "selected_epoch")},
            "stages": metrics.get("stages"), "overrides": all_overrides, "output": str(output),
            "seconds": time.perf_counter() - start}


def run_eszsl(args: argparse.Namespace) -> dict[str, Any]:
    """ESZSL on the pooled last stage of the cached backbone maps, with the features and protocol
    of ``benchmarks/baselines.py`` (``mgmrn.baselines``)."""
    from mgmrn.baselines.features import feature_task
    from mgmrn.baselines.protocol import run_protocol
    from mgmrn.baselines.zoo import eszsl
    from mgmrn.config import load_config
    from mgmrn.data.build import build_data

    start = time.perf_counter()
    cfg = load_config(args.preset, args.set)
    task = feature_task(cfg, build_data(cfg.data), "last-stage")
    exponents = range(args.eszsl_exponents[0], args.eszsl_exponents[1] + 1)
    result = run_protocol(*eszsl(exponents)(0), task)
    chosen = result["hyperparameters"]
    return {"metrics": {k: result["metrics"][k] for k in (*KEYS, "gamma")},
            "eszsl": {"gamma": chosen["gamma"], "lambda": chosen["lam"], "val_zsl_top1": result["val_zsl_top1"],
                      "feature_dim": int(task.train.features.shape[1]), "exponents": list(exponents)},
            "overrides": list(args.set), "seconds": time.perf_counter() - start}


def validation_scores(run: dict[str, Any]) -> tuple[float, float] | None:
    """Validation ZSL T1 and H at the run's chosen epoch (its log.csv's selection phase), or
    None when the run folder is gone or the run had no validation."""
    log = Path(run.get("output") or "") / "log.csv"
    if not log.is_file():
        return None
    with log.open(newline="") as handle:
        chosen = [r for r in csv.DictReader(handle)
                  if r["phase"] == "select" and r["epoch"] == str(run["metrics"].get("selected_epoch"))]
    return (float(chosen[0]["val_zsl_top1"]), float(chosen[0]["val_h"])) if chosen else None


def aggregate(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order: list[str] = []
    by_name: dict[str, list[dict[str, Any]]] = {}
    seen_runs = set()
    for r in results:
        if "metrics" not in r or (r["row"], r["seed"]) in seen_runs:
            continue  # failed, or a duplicate of a run already counted
        seen_runs.add((r["row"], r["seed"]))
        if r["row"] not in by_name:
            order.append(r["row"])
        by_name.setdefault(r["row"], []).append(r)
    out = []
    for name in order:
        runs = by_name[name]
        row: dict[str, Any] = {"row": name, "group": runs[0]["group"], "seeds": sorted(r["seed"] for r in runs),
                               "minutes": statistics.mean(r["seconds"] for r in runs) / 60}
        values = {k: [r["metrics"][k] for r in runs] for k in KEYS}
        values["gap"] = [r["metrics"]["test_sweep_h"] - r["metrics"]["gzsl_h"] for r in runs]
        stages = [r.get("stages") or [] for r in runs]
        row["stages"] = [[s[l]["zsl_top1"] for s in stages] for l in range(len(stages[0]))] if all(stages) else []
        if row["stages"]:
            values["over_best_stage"] = [r["metrics"]["zsl_top1"] - max(s["zsl_top1"] for s in st)
                                         for r, st in zip(runs, stages)]
        val = [validation_scores(r) for r in runs]
        if all(val):
            values["val_zsl_top1"], values["val_h"] = [list(v) for v in zip(*val)]
        row["values"] = values
        out.append(row)
    groups = ["eszsl", "ablation", "diagnostics", "prototypes", "stages", "options", "finetune"]
    ns = argparse.Namespace(L=[1, 2, 3, 4, 5], np=list(range(1, 10)))
    canonical = [name for g in groups[1:] for name, _ in rows_for(g, ns)]

    def key(r: dict[str, Any]) -> tuple[int, int]:
        g = groups.index(r["group"]) if r["group"] in groups else len(groups)
        return g, canonical.index(r["row"]) if r["row"] in canonical else len(canonical)

    return sorted(out, key=key)


def cell(values: list[float]) -> str:
    """Mean, and ± the standard deviation over seeds when there are several."""
    sd = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.1f}{sd}"


def print_table(rows: list[dict[str, Any]], header: str) -> None:
    """The headline table: test metrics and the optimism gap (test-sweep H minus calibrated H)."""
    print(header)
    print(_bench.table(
        ["row", "seeds", "ZSL T1", "GZSL U", "GZSL S", "GZSL H", "AUSUC", "test-sweep H", "gap", "min/run"],
        [[r["row"], len(r["seeds"]), *(cell(r["values"][k]) for k in KEYS), cell(r["values"]["gap"]),
          f"{r['minutes']:.1f}"] for r in rows]))


def print_stage_table(rows: list[dict[str, Any]]) -> None:
    """Each stage's own ZSL T1 (its scores alone, finest stage first) against the sum (Eq. 14)."""
    staged = [r for r in rows if r["stages"]]
    if not staged:
        return
    print("\nper stage: ZSL T1 of each stage's own scores (finest first) and of their sum (Eq. 14)")
    print(_bench.table(
        ["row", "seeds", "stages' ZSL T1", "sum's ZSL T1", "sum minus best stage"],
        [[r["row"], len(r["seeds"]), " / ".join(cell(v) for v in r["stages"]), cell(r["values"]["zsl_top1"]),
          cell(r["values"]["over_best_stage"])] for r in staged]))


def print_validation_table(rows: list[dict[str, Any]]) -> None:
    """What the validation split (the held-out seen classes that choose epoch and gamma) says
    of each row, beside the test ZSL T1 and H: the figures a setting is chosen on."""
    checked = [r for r in rows if "val_h" in r["values"]]
    if not checked:
        return
    print("\nvalidation (pseudo-unseen seen classes, at the chosen epoch) against test")
    print(_bench.table(
        ["row", "seeds", "val ZSL T1", "val H", "test ZSL T1", "test H"],
        [[r["row"], len(r["seeds"]), *(cell(r["values"][k]) for k in ("val_zsl_top1", "val_h", "zsl_top1", "gzsl_h"))]
         for r in checked]))


def per_seed(results: list[dict[str, Any]], row: str, key: str) -> dict[int, float]:
    """``key`` of each seed's run of ``row`` (the first run of a seed counts)."""
    out: dict[int, float] = {}
    for r in results:
        if r.get("row") == row and "metrics" in r:
            out.setdefault(r["seed"], r["metrics"][key])
    return out


def print_paired_table(results: list[dict[str, Any]], pairs: str) -> None:
    """Each pair ``A - B`` run on the same seeds: per-seed differences of ZSL T1 and H, and for
    every metric the mean difference with its 95% Student t interval (benchmarks/_paired.py)."""
    lines = []
    for pair in filter(None, (p.strip() for p in pairs.split(";"))):
        a, b = (side.strip() for side in pair.split(" - ", 1))
        diffs = {k: paired(per_seed(results, a, k), per_seed(results, b, k)) for k in PAIRED_KEYS}
        if diffs["zsl_top1"] is None or len(diffs["zsl_top1"].seeds) < 2:
            continue
        each = " / ".join(f"{t:+.1f}, {h:+.1f}" for t, h in zip(diffs["zsl_top1"].diffs, diffs["gzsl_h"].diffs))
        lines.append([pair, ",".join(map(str, diffs["zsl_top1"].seeds)), each,
                      *(diffs[k].cell() for k in PAIRED_KEYS), diffs["zsl_top1"].verdict + " / " + diffs["gzsl_h"].verdict])
    if lines:
        print("\npaired by seed, A - B: mean [95% Student t interval]; 'A better' when the interval excludes zero")
        print(_bench.table(["A - B", "seeds", "per seed (T1, H)", *PAIRED_KEYS.values(), "T1 / H"], lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", default="eszsl,ablation,prototypes,stages,options",
                        help="comma list of eszsl, ablation, stages, prototypes, options, diagnostics, finetune")
    parser.add_argument("--rows", default="", help="';'-separated row names to run (default: all in the groups)")
    parser.add_argument("--seeds", default="0", help="comma list of seeds (e.g. 0,1,2)")
    parser.add_argument("--np", default="1,3,5,7,9", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--L", default="1,2,3,4,5", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--eszsl-exponents", default="-3,6", type=lambda s: [int(x) for x in s.split(",")],
                        help="ESZSL grid: gamma, lambda in 10^lo..10^hi (default -3,6)")
    parser.add_argument("--preset", default="cub100")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overrides for every Mg-MRN row (e.g. train.epochs=10)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder (runs.jsonl, runs.csv, runs/)")
    parser.add_argument("--budget-min", type=float, default=0, help="stop starting new runs after this many minutes")
    parser.add_argument("--table-only", action="store_true", help="print the table of the results file and exit")
    parser.add_argument("--pairs", default=DEFAULT_PAIRS,
                        help="';'-separated 'A - B' row pairs compared seed by seed (default: Table III's)")
    args = parser.parse_args()
    args.set = ["train.freeze_backbone=true", *args.set]
    results_file = args.out / "runs.jsonl"
    info = _bench.machine()
    started = time.perf_counter()
    if not args.table_only:
        done = {(r["row"], r["seed"], tuple(r.get("set", []))) for r in load_results(results_file) if "metrics" in r}
        wanted = set(filter(None, args.rows.split(";")))
        seeds = [int(s) for s in args.seeds.split(",")]
        plan = [(group, name, overrides, 0 if group == "eszsl" else seed)  # ESZSL is deterministic: once
                for seed in seeds for group in args.groups.split(",")
                for name, overrides in ([("ESZSL (pooled last stage)", [])] if group == "eszsl" else rows_for(group, args))
                if (not wanted or name in wanted) and (group != "eszsl" or seed == seeds[0])]
        for group, name, overrides, seed in plan:  # seed by seed: a stopped invocation leaves whole seeds
            done |= {(r["row"], r["seed"], tuple(r.get("set", [])))
                     for r in load_results(results_file) if "metrics" in r}  # other processes
            if (name, seed, tuple(args.set)) in done or not _bench.claim(args.out, f"{name}-seed{seed}"):
                continue
            if args.budget_min and time.perf_counter() - started > 60 * args.budget_min:
                print(f"budget of {args.budget_min} min spent: not starting {name} seed {seed}")
                continue
            print(f"=== {name}  seed {seed}  ({(time.perf_counter() - started) / 60:.1f} min)", flush=True)
            record: dict[str, Any] = {"row": name, "group": group, "seed": seed,
                                      "set": args.set, "machine": info, "command": _bench.command()}
            try:
                record.update(run_eszsl(args) if group == "eszsl" else run_mgmrn(name, overrides, seed, args))
            except Exception as exc:  # record and go on with the other rows
                traceback.print_exc()
                record["error"] = f"{type(exc).__name__}: {exc}"
            append_result(results_file, record)
            if "metrics" in record:
                m = record["metrics"]
                print(f"--- {name} seed {seed}: " + "  ".join(f"{k} {m[k]:.1f}" for k in KEYS)
                      + f"  ({record['seconds'] / 60:.1f} min)", flush=True)
    results = load_results(results_file)
    rows = aggregate(results)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "runs.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "group", "seed", *KEYS, "seconds", "overrides"])
        for r in results:
            if "metrics" in r:
                writer.writerow([r["row"], r["group"], r["seed"], *(f"{r['metrics'][k]:.2f}" for k in KEYS),
                                 f"{r['seconds']:.0f}", " ".join(r.get("overrides", []))])
    errors = [r for r in results if "error" in r]
    print_table(rows, f"\nCUB-100, preset '{args.preset}', frozen pretrained Lite0 (feature cache), "
                      f"common overrides: {' '.join(args.set)}; mean ± sd over the seeds counted")
    print_stage_table(rows)
    print_validation_table(rows)
    print_paired_table(results, args.pairs)
    for r in errors:
        print(f"FAILED: {r['row']} seed {r['seed']}: {r['error']}")
    print(f"\n{_bench.machine_line(info)}")
    print(f"this invocation: {(time.perf_counter() - started) / 60:.1f} min; results in {results_file} and runs.csv")
    print(f"reproduce: {_bench.command()}")


if __name__ == "__main__":
    main()
