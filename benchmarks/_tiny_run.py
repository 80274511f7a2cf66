"""A trained run to time prediction with: a preset's model fitted for one epoch on a tiny
made-up set shaped like CUB (312 attributes with 300-d word vectors, 224x224 images), so that
its heads cost what CUB's do; prediction's cost does not depend on the weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

MGMRN = [sys.executable, "-m", "mgmrn"]
CLASSES, UNSEEN, PER_CLASS, ATTRIBUTES, WORD_DIM = 8, 2, 6, 312, 300


def cub_shaped_set(root: Path) -> Path:
    """A ``folder``-format set of noise images with CUB's attribute and word-vector sizes."""
    rng = np.random.default_rng(0)
    splits = ["image,split"]
    for c in range(CLASSES):
        (root / "images" / f"class{c}").mkdir(parents=True, exist_ok=True)
        for i in range(PER_CLASS):
            pixels = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "images" / f"class{c}" / f"{i}.png")
            split = "test_unseen" if c >= CLASSES - UNSEEN else "test_seen" if i == 0 else "train"
            splits.append(f"class{c}/{i}.png,{split}")
    (root / "splits.csv").write_text("\n".join(splits) + "\n")
    header = ",".join(["class", *(f"attribute{a}" for a in range(ATTRIBUTES))])
    rows = [",".join([f"class{c}", *map(str, rng.random(ATTRIBUTES).round(4))]) for c in range(CLASSES)]
    (root / "class_attributes.csv").write_text("\n".join([header, *rows]) + "\n")
    np.save(root / "attribute_vectors.npy", rng.standard_normal((ATTRIBUTES, WORD_DIM)).astype(np.float32))
    return root


def tiny_run(preset: str, folder: Path) -> Path:
    """``folder/run``: ``preset``'s model after one epoch on :func:`cub_shaped_set` (trained once)."""
    run = folder / "run"
    if (run / "model.pt").is_file():
        return run
    overrides = [
        "data.format=folder", f"data.root={cub_shaped_set(folder / 'data')}",
        f"train.feature_cache_dir={folder / 'features'}", "data.val_classes=0.25", "train.epochs=1", "train.refit=false",
    ]
    subprocess.run([*MGMRN, "train", preset, "--output", str(run), "--overwrite", "--set", *overrides],
                   check=True, stdout=subprocess.DEVNULL)
    return run


def run_images(run: Path) -> list[str]:
    """The image files of the set ``run`` was trained on."""
    return sorted(str(p) for p in (run.parent / "data" / "images").rglob("*.png"))
