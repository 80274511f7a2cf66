"""The backbone's inference on a CPU in the two memory formats: images per second and whether the maps differ.

Feature-cache extraction and ``mgmrn predict`` run the backbone in inference. This times
EfficientNet-Lite0's forward pass (``torch.no_grad``, float32, a fixed random batch) with the
input and weights in the contiguous (NCHW) format and in channels-last (NHWC), at each image
size, with ``--threads`` torch threads, and reports each format's rate, their ratio, and the
largest difference between the two formats' stage maps (0: the same numbers).

    .venv/bin/python benchmarks/memory_format.py --sizes 224,448 --threads 1
"""

from __future__ import annotations

import argparse
import time

import _bench
import torch

from mgmrn.models.backbone import build_backbone


def rate(net: torch.nn.Module, x: torch.Tensor, seconds: float) -> float:
    """Images per second of ``net(x)`` over at least ``seconds`` (after one warm-up pass)."""
    net(x)
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        net(x)
        n += 1
    return n * x.shape[0] / (time.perf_counter() - start)


@torch.no_grad()
def measure(name: str, size: int, batch: int, seconds: float) -> list[str]:
    """One table row: contiguous and channels-last rates, their ratio, the maps' largest difference."""
    torch.manual_seed(0)
    net = build_backbone(name, 3).eval()
    x = torch.randn(batch, 3, size, size)
    plain_maps, plain = net(x), rate(net, x, seconds)
    net, x = net.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    last_maps, last = net(x), rate(net, x, seconds)
    diff = max((a - b).abs().max().item() for a, b in zip(plain_maps, last_maps))
    return [str(size), f"{plain:.1f}", f"{last:.1f}", f"{last / plain:.2f}x", f"{diff:.1e}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="tf_efficientnet_lite0")
    parser.add_argument("--sizes", default="224,448", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0, help="time per measurement")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure(args.backbone, size, args.batch, args.seconds) for size in args.sizes]
    print(f"{args.backbone} inference, float32, batch {args.batch}, images per second")
    print(_bench.table(["size", "contiguous", "channels-last", "ratio", "largest map difference"], rows))
    print(f"\n{_bench.machine_line(_bench.machine())}")
    print(f"reproduce: {_bench.command()}")


if __name__ == "__main__":
    main()
