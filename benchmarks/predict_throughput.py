"""Throughput of ``mgmrn predict`` over many images against the bare backbone's forward pass.

Both read the same images through the same loader (``mgmrn.data.images.load_batches``: decoded
and transformed in threads, a batch ahead) at the same batch size; one runs the backbone
alone, the other :meth:`Predictor.stream` (backbone, heads, scores, probabilities, ranking).
The files are read once beforehand (both then read them from the page cache) and both are
warmed up on one batch; then the images are taken in chunks of ``--chunk``, each classified
by both, in alternating order, so that a busy moment of the machine weighs on both sides
alike. Target
(issue 20): predict within 1.2x of the backbone's time.

Images: ``--images`` (a folder, searched recursively; default the CUB-100 images in
``../shared/data/cub100/images``, repeated up to ``--count`` if fewer), else images generated
by the demo's synthetic set generator at 224x224.

    .venv/bin/python benchmarks/predict_throughput.py               # 1,000 images
    .venv/bin/python benchmarks/predict_throughput.py --count 300   # quicker
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import _bench
import torch
from _tiny_run import tiny_run

from mgmrn.data.images import find_images, load_batches
from mgmrn.data.synthetic import SyntheticConfig, generate_synthetic
from mgmrn.inference.predictor import Predictor

CUB100_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cub100" / "images"


def images(folder: Path | None, count: int, work: Path) -> list[str]:
    """``count`` image paths from ``folder`` (cycled), or from a generated set."""
    if folder is None or not folder.is_dir():
        per_class = -(-count // 30)  # 30 classes
        folder = Path(generate_synthetic(work / "images", SyntheticConfig(image_size=224, images_per_class=per_class)))
    return list(itertools.islice(itertools.cycle(find_images([str(folder)])), count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="images per pass (default 1000)")
    parser.add_argument("--images", type=Path, default=CUB100_IMAGES, help="folder of images to classify")
    parser.add_argument("--preset", default="cub100-tuned", help="the model predict uses (default cub100-tuned)")
    parser.add_argument("--batch-size", type=int, default=16, help="as mgmrn predict's default")
    parser.add_argument("--chunk", type=int, default=32, help="images per alternation (default 32)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        predictor = Predictor(tiny_run(args.preset, Path(tmp)))
        paths = images(args.images, args.count, Path(tmp))

        @torch.no_grad()
        def backbone(chunk: list[str]) -> None:
            for batch in load_batches(chunk, predictor.transform, args.batch_size):
                predictor.model.backbone(torch.stack([x for _, x in batch]))

        def predict(chunk: list[str]) -> None:
            for _ in predictor.stream(chunk, batch_size=args.batch_size):
                pass

        for path in set(paths):
            Path(path).read_bytes()
        backbone(paths[: args.batch_size])
        predict(paths[: args.batch_size])
        times: dict[Callable[[list[str]], None], list[float]] = {backbone: [], predict: []}
        for i in range(0, len(paths), args.chunk):
            for run in (backbone, predict) if i // args.chunk % 2 == 0 else (predict, backbone):
                start = time.perf_counter()
                run(paths[i : i + args.chunk])
                times[run].append(time.perf_counter() - start)
        backbone_s, predict_s = sum(times[backbone]), sum(times[predict])
        chunk_ratio = statistics.median(p / b for p, b in zip(times[predict], times[backbone]))
    n = len(paths)
    print(f"{n} images ({args.images if args.images.is_dir() else 'generated, 224x224'}), batch {args.batch_size}, "
          f"{args.preset} model; alternating in chunks of {args.chunk}")
    print(f"  backbone alone  {backbone_s:7.2f} s  {n / backbone_s:7.1f} img/s")
    print(f"  mgmrn predict   {predict_s:7.2f} s  {n / predict_s:7.1f} img/s")
    print(f"  ratio {predict_s / backbone_s:.2f}x the backbone's time (target <= 1.2x); "
          f"median over chunks {chunk_ratio:.2f}x")
    print(_bench.machine_line(_bench.machine()))
    print(f"reproduce: {_bench.command()}")


if __name__ == "__main__":
    main()
