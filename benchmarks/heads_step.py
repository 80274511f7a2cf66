"""Before/after of two speed changes to the heads' training step, in one process.

At the paper preset (``cub``: ResNet-101 stage maps at 448x448, L=3, N_p=7, random
weights), one training step of the heads alone (forward, backward into the stage maps as
when the backbone trains) is timed for:

* ``current``: the library as it is;
* ``rfm-assignments``: Eq. (2) through the assignments, ``f * (sum_m a_m) / M`` (how it was
  computed before: the written order factored, the same function), instead of its closed
  form ``f / M``;
* ``pointwise-strided-grad``: the 1x1 projections without the contiguous input gradient
  (the gradient reaches pooling's backward with channels-last strides);
* ``both``: the two old behaviours together (the code before the change).

The variants are called in turn, ``--iters`` times after one warm-up each, and the minimum
per variant is kept.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/heads_step.py --batch 8
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import _bench
import torch
from torch import Tensor, nn

from mgmrn.config import load_config
from mgmrn.models.common import Pointwise
from mgmrn.models.rfm import RegionFeatureMining
from mgmrn.training.profile import build_for_profile

ATTRIBUTES, WORD_DIM = 312, 300
CURRENT_POINTWISE = Pointwise.forward
CURRENT_RFM = RegionFeatureMining.forward


def strided_grad_pointwise(self: Pointwise, x: Tensor) -> Tensor:
    """The projection as it was: a matrix product over positions, gradient left strided."""
    return nn.Linear.forward(self, x.movedim(1, -1)).movedim(-1, 1)


def rfm_through_assignments(self: RegionFeatureMining, f: Tensor) -> Tensor:
    """Eq. (2) as it was computed: ``f * (sum_m a_m) / M`` with the assignments of Eq. (1)."""
    a = self.assignments(f)
    return f * a.sum(1, keepdim=True) / a.shape[1]


def use(variant: str) -> None:
    """Install the variant's code paths (class-level, so every stage's modules follow)."""
    old_rfm = variant in ("rfm-assignments", "both")
    old_pointwise = variant in ("pointwise-strided-grad", "both")
    RegionFeatureMining.forward = rfm_through_assignments if old_rfm else CURRENT_RFM
    Pointwise.forward = strided_grad_pointwise if old_pointwise else CURRENT_POINTWISE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    info = _bench.machine()
    cfg = load_config("cub", ["model.pretrained=none"])
    torch.manual_seed(0)
    model = build_for_profile(cfg, ATTRIBUTES, WORD_DIM).train()
    size = cfg.data.image_size
    with torch.no_grad():
        maps = [f.clone().requires_grad_(True) for f in model.backbone(torch.randn(args.batch, 3, size, size))]

    def step() -> None:
        model.zero_grad(set_to_none=True)
        for f in maps:
            f.grad = None
        model.forward_maps(maps).float().pow(2).mean().backward()

    variants = ["current", "rfm-assignments", "pointwise-strided-grad", "both"]
    runs: dict[str, Callable[[], None]] = {v: (lambda v=v: (use(v), step())) for v in variants}
    times: dict[str, list[float]] = {v: [] for v in variants}
    for run in runs.values():
        run()
    for _ in range(args.iters):
        for v, run in runs.items():
            start = time.perf_counter()
            run()
            times[v].append(time.perf_counter() - start)
    use("current")
    best = {v: min(t) for v, t in times.items()}
    rows = [[v, f"{best[v]:.3f}", f"{best[v] / best['current']:.2f}x"] for v in variants]
    print(_bench.table(["variant", "heads training step (s)", "time vs current"], rows))
    print(f"\npreset cub, batch {args.batch}, {args.iters} timed steps per variant after 1 warm-up, minimum kept")
    print(_bench.machine_line(info))
    print("command:", _bench.command())


if __name__ == "__main__":
    main()
