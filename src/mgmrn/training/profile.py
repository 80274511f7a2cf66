"""Parameters, FLOPs (``torch.utils.flop_counter``) and CPU throughput of a model."""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mgmrn.config import Config
from mgmrn.models.mgmrn import MgMRN


def count_flops(fn: Callable[[], object]) -> int:
    """Total FLOPs (2 per multiply-accumulate) of running ``fn`` once."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def build_for_profile(cfg: Config, n_attributes: int, word_dim: int, device: str = "cpu") -> MgMRN:
    """An Mg-MRN with random weights and random attribute vectors (weights do not change cost)."""
    model_cfg = dataclasses.replace(cfg.model, pretrained="none")
    with torch.device(device):
        vectors = torch.randn(n_attributes, word_dim) if word_dim else None
        return MgMRN(model_cfg, n_attributes, vectors)


def flops_per_image(cfg: Config, n_attributes: int, word_dim: int, batch: int) -> dict[str, float]:
    """Backbone and head GFLOPs per image, counted on the meta device (no real compute)."""
    model = build_for_profile(cfg, n_attributes, word_dim, device="meta").eval()
    size = cfg.data.image_size
    x = torch.empty(batch, 3, size, size, device="meta")
    with torch.no_grad():
        maps = model.backbone(x)
        backbone = count_flops(lambda: model.backbone(x))
        heads = count_flops(lambda: model.forward_maps(maps))
    return {"backbone_gflops": backbone / batch / 1e9, "head_gflops": heads / batch / 1e9}


def parameter_counts(model: MgMRN) -> dict[str, int]:
    """Trainable + buffer-free parameter counts of the whole model, backbone and heads."""
    backbone = sum(p.numel() for p in model.backbone.parameters())
    total = sum(p.numel() for p in model.parameters())
    return {"params": total, "backbone_params": backbone, "head_params": total - backbone}


def _time_pair(a: Callable[[], None], b: Callable[[], None], iters: int) -> tuple[float, float]:
    """Seconds per call of ``a`` and of ``b``: one warm-up each, then ``iters`` alternating
    calls; the minimum of each (as ``timeit`` advises: other load only ever adds time)."""
    a()
    b()
    ta, tb = [], []
    for _ in range(iters):
        for fn, times in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return min(ta), min(tb)


def precision_steps(model: MgMRN, image_size: int, batch: int, iters: int, frozen: bool) -> dict[str, float]:
    """Images/s of a training step (forward and backward) in float32 and under bf16 autocast,
    timed alternately in the same process: what ``train.amp`` chooses between on a CPU. With
    ``frozen`` the step is the heads' on stage maps computed once, as in a frozen-backbone run."""
    x = torch.randn(batch, 3, image_size, image_size)
    model.train()
    with torch.no_grad():
        maps = model.backbone(x) if frozen else None
    forward = (lambda: model.forward_maps(maps)) if frozen else (lambda: model(x))

    def step(bf16: bool) -> Callable[[], None]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                z = forward()
            z.float().pow(2).mean().backward()
        return run

    t32, t16 = _time_pair(step(False), step(True), iters)
    return {"train_float32_img_s": batch / t32, "train_bfloat16_img_s": batch / t16}


def throughput(model: MgMRN, image_size: int, batch: int, iters: int, train: bool) -> dict[str, float]:
    """Images/s of the whole model and of the bare backbone, inference (and training steps),
    timed alternately in the same process."""
    x = torch.randn(batch, 3, image_size, image_size)
    backbone: nn.Module = model.backbone
    out: dict[str, float] = {}
    model.eval()
    with torch.no_grad():
        t_model, t_backbone = _time_pair(lambda: model(x), lambda: backbone(x), iters)
    out["infer_model_img_s"], out["infer_backbone_img_s"] = batch / t_model, batch / t_backbone
    if train:
        model.train()

        def model_step() -> None:
            model.zero_grad(set_to_none=True)
            model(x).float().pow(2).mean().backward()

        def backbone_step() -> None:
            backbone.zero_grad(set_to_none=True)
            sum(f.float().mean() for f in backbone(x)).backward()

        t_model, t_backbone = _time_pair(model_step, backbone_step, iters)
        out["train_model_img_s"], out["train_backbone_img_s"] = batch / t_model, batch / t_backbone
    return out
