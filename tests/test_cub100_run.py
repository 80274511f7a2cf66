"""A real CUB-100 run with the frozen pretrained Lite0 backbone, on a few classes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mgmrn.cli.main import main

SEEN, UNSEEN, PER_CLASS = 6, 3, 12


def few_class_cub100(source: Path, out: Path) -> Path:
    """The CUB-100 layout restricted to a few classes (images linked, never copied)."""
    roles = {r["class_id"]: r for r in csv.DictReader((source / "xlsa17_classes.csv").open())}
    seen = [c for c, r in roles.items() if r["role"] == "seen"][:SEEN]
    unseen = [c for c, r in roles.items() if r["role"] == "unseen"][:UNSEEN]
    keep = set(seen + unseen)

    def table(name: str) -> list[tuple[str, str]]:
        return [tuple(x.strip() for x in line.split(",", 1)) for line in (source / name).read_text().splitlines() if line.strip()]

    labels = dict(table("image_class_labels.txt"))
    training = dict(table("train_test_split.txt"))
    count: dict[tuple[str, str], int] = {}
    images = []
    for image_id, _ in table("images.txt"):
        key = (labels[image_id], training[image_id])  # half training, half test images per class
        if key[0] in keep and count.get(key, 0) < PER_CLASS // 2:
            count[key] = count.get(key, 0) + 1
            images.append(image_id)
    out.mkdir()
    (out / "images").symlink_to(source / "images")
    for name in ("images.txt", "image_class_labels.txt", "train_test_split.txt"):
        rows = [f"{i}, {v}" for i, v in table(name) if i in set(images)]
        (out / name).write_text("\n".join(rows) + "\n")
    (out / "classes.txt").write_text("\n".join(f"{i}, {v}" for i, v in table("classes.txt") if i in keep) + "\n")
    lines = (source / "xlsa17_classes.csv").read_text().splitlines()
    (out / "xlsa17_classes.csv").write_text("\n".join([lines[0]] + [l for l in lines[1:] if l.split(",")[0] in keep]) + "\n")
    return out


def test_cub100_few_classes_frozen_lite0(shared_data: Path, tmp_path: Path):
    root = few_class_cub100(shared_data / "cub100", tmp_path / "cub100")
    sets = [
        f"data.root={root}", f"data.splits={shared_data / 'xlsa17'}", f"data.w2v={shared_data / 'w2v'}",
        "data.image_size=160", "data.val_classes=0.34", f"train.feature_cache_dir={tmp_path / 'features'}",
        "train.epochs=3", "model.hidden=64",
    ]
    argv = ["train", "cub100", "--output", str(tmp_path / "run")] + [a for s in sets for a in ("--set", s)]
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    unseen, seen = metrics["gzsl_unseen"], metrics["gzsl_seen"]  # H is their harmonic mean
    assert metrics["gzsl_h"] == pytest.approx(2 * unseen * seen / (unseen + seen), abs=1e-9)
    assert metrics["calibration"] == "val"
    assert main(["data-info", "cub100", "--json"] + [a for s in sets[:3] for a in ("--set", s)]) == 0
