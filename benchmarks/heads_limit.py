"""The frozen heads' training step against its own limit: how close to the machine's matrix rate.

At a preset (default ``cub100``: Lite0 stage maps at 224x224, L = 3, 312 attributes), one
training step of the heads on cached stage maps (forward, Eq. 13's loss, backward, AdamW
step), in float32 or bf16, batch 32. It reports:

* the step's FLOPs per image (``torch.utils.flop_counter``, forward and backward) and the
  measured images/s, hence the achieved GFLOP/s;
* the limit: every matrix product the step runs (recorded with their shapes), timed alone as
  ``torch.mm`` / ``torch.bmm`` of the same sizes and dtype, summed; the step can be no faster
  than that. The share of the step's time that is its matrix products at the machine's own
  rate is the efficiency; the rest is elementwise work, softmax, layout and Python;
* where the rest goes: the profiler's top operators by self CPU time.

Times are CPU seconds of this process (``time.process_time``, the fastest of ``--repeats``):
other work on the machine does not inflate them; with several threads they are the threads'
sum, so compare limits at one thread.

    .venv/bin/python benchmarks/heads_limit.py --threads 1
    .venv/bin/python benchmarks/heads_limit.py --threads 2 --amp bf16
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Callable

import _bench
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from mgmrn.config import load_config
from mgmrn.runtime.precision import autocast
from mgmrn.training.losses import Criterion
from mgmrn.training.optim import build_optimizer
from mgmrn.training.profile import build_for_profile

ATTRIBUTES, WORD_DIM, SEEN = 312, 300, 73
MATMULS = {"mm", "bmm", "addmm"}


class MatmulShapes(TorchDispatchMode):
    """Records the operand shapes and dtype of every matrix product dispatched."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        name = func.__name__.split(".")[0]
        if name in MATMULS:
            a, b = (args[1], args[2]) if name == "addmm" else (args[0], args[1])
            self.seen[(name, tuple(a.shape), tuple(b.shape), a.dtype)] += 1
        return func(*args, **(kwargs or {}))


def seconds(fn: Callable[[], object], repeats: int) -> float:
    """The minimum CPU time of ``fn`` over ``repeats`` calls, after one warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def matmul_limit(shapes: Counter, repeats: int) -> float:
    """Seconds the recorded matrix products take alone, each as torch.mm/bmm of its sizes."""
    total = 0.0
    for (name, a_shape, b_shape, dtype), count in shapes.items():
        a, b = torch.randn(a_shape, dtype=dtype), torch.randn(b_shape, dtype=dtype)
        op = torch.bmm if name == "bmm" else torch.mm
        total += count * seconds(lambda: op(a, b), repeats)
    return total


def make_step(args: argparse.Namespace) -> tuple[Callable[[], None], int]:
    """The heads' training step on random stage maps of a batch, and the batch size."""
    cfg = load_config(args.preset, ["model.pretrained=none", f"train.amp={args.amp}", *args.set])
    torch.manual_seed(0)
    model = build_for_profile(cfg, ATTRIBUTES, WORD_DIM).train()
    model.backbone.requires_grad_(False)
    size = cfg.data.image_size
    with torch.no_grad():
        maps = [m.contiguous() for m in model.backbone(torch.randn(args.batch, 3, size, size))]
    labels = torch.randint(0, SEEN, (args.batch,))
    criterion = Criterion.for_run(cfg, torch.rand(SEEN + 27, ATTRIBUTES), range(SEEN), model.num_stages)
    optimizer = build_optimizer(model, cfg.train)
    device = torch.device("cpu")

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, cfg.train.amp):
            z = model(maps)
        criterion(z, labels).backward()
        optimizer.step()

    return step, args.batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cub100")
    parser.add_argument("--amp", default="none", choices=["none", "bf16"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--set", nargs="*", default=[], help="config overrides")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(_bench.machine_line(_bench.machine()))
    step, batch = make_step(args)
    step_s = seconds(step, args.repeats)
    with FlopCounterMode(display=False) as flops:
        step()
    recorder = MatmulShapes()
    with recorder:
        step()
    limit_s = matmul_limit(recorder.seen, args.repeats)
    gflop = flops.get_total_flops() / 1e9
    print(f"{args.preset}, {args.amp}, batch {batch}, {args.threads} threads: step {step_s * 1e3:.1f} ms "
          f"({batch / step_s:.1f} img/s); {gflop / batch:.3f} GFLOP/img forward+backward, "
          f"{gflop / step_s:.1f} GFLOP/s achieved")
    print(f"its {sum(recorder.seen.values())} matrix products alone, at this machine's torch.mm rate: "
          f"{limit_s * 1e3:.1f} ms ({gflop / limit_s:.1f} GFLOP/s); the step is {limit_s / step_s:.0%} "
          f"matrix products at that rate, {step_s / limit_s:.2f}x its limit")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
    print("reproduce:", _bench.command())


if __name__ == "__main__":
    main()
