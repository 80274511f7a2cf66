"""``mgmrn data-info`` and the synthetic format's generate-then-reuse path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from mgmrn.cli.main import main
from mgmrn.config import load_config
from mgmrn.data.build import build_data
from test_data_folder import write_folder_dataset

CONTRACT = ("train", "test_seen", "test_unseen", "seen_classes", "unseen_classes", "attributes")
TINY_SYNTHETIC = ["data.synthetic.image_size=32", "data.synthetic.classes=6",
                  "data.synthetic.unseen_classes=2", "data.synthetic.images_per_class=3"]


def write_config(path: Path, root: Path) -> Path:
    path.write_text(f"data:\n  format: folder\n  root: {root}\n")
    return path


def test_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "c.yaml", write_folder_dataset(tmp_path / "set"))
    assert main(["data-info", str(config), "--json", "--set", "data.val_classes=0.34"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {k: info[k] for k in CONTRACT} == {
        "train": 12, "test_seen": 6, "test_unseen": 3, "seen_classes": 3, "unseen_classes": 1,
        "attributes": 4,
    }
    assert info["attribute_vector_dim"] == 6 and info["problems"] == [] and info["notes"] == []
    assert info["val"]["val_unseen_classes"] == 1


def test_text_output_and_image_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_folder_dataset(tmp_path / "set", vectors=False)
    config = write_config(tmp_path / "c.yaml", root)
    assert main(["data-info", str(config), "--check-images"]) == 0
    out = capsys.readouterr().out
    assert "classes     4: 3 seen, 1 unseen" in out
    assert "images      train 12, test_seen 6, test_unseen 3" in out
    assert "attributes  4, vectors: none (learnable queries)" in out
    assert "checked     21 images decoded, all readable" in out
    # missing optional vectors are a note naming the file looked for, not a problem
    assert (f"notes       no attribute vectors ({root / 'attribute_vectors.npy'} not found): the model "
            "learns attribute queries (data.w2v)\nproblems    none") in out


def test_check_images_names_the_corrupt_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_folder_dataset(tmp_path / "set")
    bad = root / "images" / "blue_round" / "1.png"
    bad.write_bytes(bad.read_bytes()[:-40])  # cut inside the pixel data
    Path(root / "images" / "red_square" / "2.png").write_text("text")
    config = write_config(tmp_path / "c.yaml", root)
    assert main(["data-info", str(config)]) == 0  # images are not decoded by default
    capsys.readouterr()
    assert main(["data-info", str(config), "--check-images"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (f"mgmrn data-info: error: {bad}: truncated image file "
                                    "(2 of 21 images unreadable)")
    assert "red_square/2.png: not an image file" in captured.out


def test_synthetic_generated_once_then_reused(tmp_path: Path) -> None:
    cfg = load_config(None, ["data.format=synthetic", f"data.generated_dir={tmp_path / 'cache'}",
                             *TINY_SYNTHETIC]).data
    data = build_data(cfg)
    assert (len(data.seen), len(data.unseen)) == (4, 2)
    (folder,) = (tmp_path / "cache" / "synthetic").iterdir()
    stamp = (folder / "splits.csv").stat().st_mtime_ns
    again = build_data(cfg)
    assert (folder / "splits.csv").stat().st_mtime_ns == stamp
    assert again.train == data.train
    assert Image.open(data.train[0][0]).size == (32, 32)


def test_synthetic_into_root(tmp_path: Path) -> None:
    cfg = load_config(None, ["data.format=synthetic", f"data.root={tmp_path / 'demo'}",
                             *TINY_SYNTHETIC]).data
    data = build_data(cfg)
    assert data.train[0][0].startswith(str(tmp_path / "demo" / "images"))
    assert data.attribute_vectors is not None
