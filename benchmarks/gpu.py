"""GPU training throughput and peak memory at the paper preset: our heads, the reference heads, the bare backbone.

At the ``cub`` preset (ResNet-101, 448x448, L=3, N_p=7; random weights), batch 32, bf16
autocast, channels_last, SGD as in the paper: training images/s (after warm-up, timed with
CUDA synchronisation) and peak allocated GPU memory of one training step, for

* ``paper``: Mg-MRN with our head design (joint one-pass loss, Eq. 13);
* ``reference``: Mg-MRN with ``model.head_design=reference`` (same joint schedule);
* ``reference+per-stage``: the reference heads with the reference per-stage schedule
  (L forward/backward passes and L optimiser steps per batch; with ``--per-stage``);
* ``backbone``: the bare ResNet-101 trunk (loss: the mean of its stage maps).

Without CUDA it exits with a message; ``--device cpu`` runs the same logic on the CPU to test
it (use tiny settings: ``--device cpu --size 64 --batch 2 --iters 1 --warmup 1``).

    .venv/bin/python benchmarks/gpu.py                 # on a CUDA machine (a few minutes)
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import _bench
import torch

from mgmrn.config import load_config
from mgmrn.training.losses import Criterion
from mgmrn.training.optim import build_optimizer
from mgmrn.training.profile import build_for_profile

ATTRIBUTES, WORD_DIM, SEEN = 312, 300, 150


def measure(args: argparse.Namespace, row: str, device: torch.device) -> dict[str, float]:
    design = "reference" if row.startswith("reference") else "paper"
    schedule = "per-stage" if row.endswith("per-stage") else "joint"
    overrides = [f"model.head_design={design}", f"train.stage_updates={schedule}", f"data.image_size={args.size}"]
    cfg = load_config(args.preset, overrides + list(args.set))
    torch.manual_seed(0)
    model = build_for_profile(cfg, ATTRIBUTES, WORD_DIM).to(device)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    net = model.backbone if row == "backbone" else model
    optimizer = build_optimizer(model, cfg.train) if row != "backbone" else torch.optim.SGD(
        net.parameters(), lr=cfg.train.lr, momentum=cfg.train.momentum, weight_decay=cfg.train.weight_decay)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device).to(memory_format=fmt)
    labels = torch.randint(0, SEEN, (args.batch,), device=device)
    criterion = Criterion(cfg.loss, cfg.model.scale, torch.rand(SEEN, ATTRIBUTES, device=device), range(SEEN), [None])
    amp = (torch.autocast(device.type, dtype=torch.bfloat16) if args.amp == "bf16"
           else contextlib.nullcontext())

    def losses() -> torch.Tensor:
        with amp:
            out = net(x)
        if row == "backbone":
            return sum(f.float().mean() for f in out).reshape(1)
        return criterion.stage_losses(out, labels)

    def step() -> None:
        if schedule == "joint":
            picks = [lambda l: l.sum()]
        else:
            picks = [lambda l, i=i: l[i] for i in range(model.num_stages)]
        for pick in picks:
            loss = pick(losses())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(args.iters):
        step()
    sync()
    seconds = time.perf_counter() - start
    out = {"img_s": args.batch * args.iters / seconds, "step_ms": 1000 * seconds / args.iters,
           "params_m": sum(p.numel() for p in net.parameters()) / 1e6}
    if device.type == "cuda":
        out["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    del model, net, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (to test the script)")
    parser.add_argument("--preset", default="cub")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra config overrides")
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--iters", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed training steps first")
    parser.add_argument("--amp", default="bf16", choices=("bf16", "none"))
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    parser.add_argument("--rows", default="paper,reference,backbone",
                        help="comma list of paper, reference, reference+per-stage, paper+per-stage, backbone")
    parser.add_argument("--per-stage", action="store_true", help="add the reference+per-stage row")
    parser.add_argument("--json", default=str(_bench.RESULTS / "gpu.json"))
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu.py: no CUDA device here (torch.cuda.is_available() is False); nothing measured. "
                 "Run it on a CUDA machine, or test the logic with: "
                 ".venv/bin/python benchmarks/gpu.py --device cpu --size 64 --batch 2 --iters 1 --warmup 1")
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    rows = args.rows.split(",") + (["reference+per-stage"] if args.per_stage else [])
    info = _bench.machine()
    results: dict[str, object] = {"machine": info, "command": _bench.command(), "rows": {}}
    table = []
    backbone_rate = None
    for row in rows:
        r = measure(args, row, device)
        results["rows"][row] = r  # type: ignore[index]
        _bench.write_json(Path(args.json), results)
        print(f"{row}: {r}", flush=True)
        if row == "backbone":
            backbone_rate = r["img_s"]
    for row, r in results["rows"].items():  # type: ignore[union-attr]
        ratio = "-" if backbone_rate is None else f"{backbone_rate / r['img_s']:.2f}x"
        peak = f"{r['peak_gib']:.1f}" if "peak_gib" in r else "- (CPU)"
        table.append([row, f"{r['params_m']:.1f}", f"{r['img_s']:.1f}", f"{r['step_ms']:.0f}", ratio, peak])
    name = info.get("gpu", info["cpu"]) if device.type == "cuda" else f"CPU ({info['cpu']}): logic test only"
    print(f"\nTraining at preset '{args.preset}' ({args.size}x{args.size}), batch {args.batch}, "
          f"amp {args.amp}, channels_last {args.channels_last}, {args.iters} timed steps after {args.warmup} "
          f"warm-up; device: {name}")
    print(_bench.table(["row", "params (M)", "train img/s", "step ms", "time vs backbone", "peak GiB"], table))
    print(f"\n{_bench.machine_line(info)}")
    print(f"reproduce: {_bench.command()}")


if __name__ == "__main__":
    main()
