"""The folder format and each kind of malformed input it can have."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mgmrn.config import load_config
from mgmrn.data.build import build_data
from mgmrn.errors import UserError

ATTRIBUTES = ["red", "blue", "round", "square"]
CLASSES = {  # name: (attribute row, train, test_seen, test_unseen images)
    "red_round": ([1, 0, 1, 0], 4, 2, 0),
    "blue_round": ([0, 1, 1, 0], 4, 2, 0),
    "blue_square": ([0, 1, 0, 1], 4, 2, 0),
    "red_square": ([1, 0, 0, 1], 0, 0, 3),
}


def write_folder_dataset(root: Path, vectors: bool = True) -> Path:
    """A tiny valid folder-format dataset: 3 seen classes, 1 unseen, 16x16 PNG images."""
    rows, split_rows = [], []
    for c, (name, (att, *counts)) in enumerate(CLASSES.items()):
        rows.append(",".join([name, *map(str, att)]))
        (root / "images" / name).mkdir(parents=True)
        i = 0
        for split, count in zip(("train", "test_seen", "test_unseen"), counts):
            for _ in range(count):
                Image.new("RGB", (16, 16), (40 * c, 60, 200 - i)).save(root / "images" / name / f"{i}.png")
                split_rows.append(f"{name}/{i}.png,{split}")
                i += 1
    (root / "class_attributes.csv").write_text("\n".join(["class," + ",".join(ATTRIBUTES), *rows]) + "\n")
    (root / "splits.csv").write_text("\n".join(["image,split", *split_rows]) + "\n")
    if vectors:
        np.save(root / "attribute_vectors.npy", np.eye(len(ATTRIBUTES), 6, dtype=np.float32))
    return root


def folder_config(root: Path, *extra: str):
    return load_config(None, ["data.format=folder", f"data.root={root}", *extra]).data


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_folder_dataset(tmp_path / "set")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_valid_folder(folder: Path) -> None:
    data = build_data(folder_config(folder, "data.val_classes=0.34", "data.val_images=0.25"))
    assert data.classes == list(CLASSES)
    assert (len(data.train), len(data.test_seen), len(data.test_unseen)) == (12, 6, 3)
    assert data.seen.tolist() == [0, 1, 2] and data.unseen.tolist() == [3]
    assert data.attribute_names == ATTRIBUTES
    assert data.attribute_vectors.shape == (4, 6)
    assert np.allclose(data.attributes[0], np.array([1, 0, 1, 0]) / np.sqrt(2))
    assert data.train[0] == (str(folder / "images" / "red_round" / "0.png"), 0)
    assert len(data.val.val_unseen_classes) == 1 and len(data.val.val_unseen) == 4
    assert len(data.val.val_seen) == 2 and len(data.val.train_sub) == 6
    assert data.problems == []


def test_without_vectors_and_unlisted_files(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path / "set", vectors=False)
    Image.new("RGB", (8, 8)).save(root / "images" / "red_round" / "extra.png")
    data = build_data(folder_config(root))
    assert data.attribute_vectors is None
    assert data.problems == ["1 files under images/ are not listed in splits.csv (ignored)"]
    assert data.notes == [f"no attribute vectors ({root / 'attribute_vectors.npy'} not found): "
                          "the model learns attribute queries (data.w2v)"]
    assert build_data(folder_config(root, "data.w2v=none")).notes == []


@pytest.mark.parametrize("missing, message", [
    ("images", r"set/images: image folder not found \(expected a folder\)"),
    ("class_attributes.csv", r"set/class_attributes.csv: class-attribute CSV not found"),
    ("splits.csv", r"set/splits.csv: splits.csv \(image splits\) not found"),
])
def test_missing_parts(folder: Path, missing: str, message: str) -> None:
    target = folder / missing
    if target.is_dir():
        os.rename(target, folder / "moved")
    else:
        target.unlink()
    with pytest.raises(UserError, match=message):
        build_data(folder_config(folder))


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"nothing: dataset folder \(data.root\) not found"):
        build_data(folder_config(tmp_path / "nothing"))
    with pytest.raises(UserError, match="data.root must name the dataset folder"):
        build_data(load_config(None, ["data.format=folder"]).data)


# (file to edit, old text, new text, expected message): one case per kind of bad input
BAD_CASES = {
    "class without attributes": (
        "class_attributes.csv", "blue_square,0,1,0,1\n", "",
        r"splits.csv: line \d+: class 'blue_square' has no row in class_attributes.csv"),
    "NaN attribute": (
        "class_attributes.csv", "blue_round,0,1,1,0", "blue_round,0,nan,1,0",
        r"class_attributes.csv: line 3: class 'blue_round' has a non-finite value \(nan\) for attribute 'blue'"),
    "non-numeric attribute": (
        "class_attributes.csv", "blue_round,0,1,1,0", "blue_round,0,,1,0",
        r"class_attributes.csv: line 3: class 'blue_round' has a non-numeric value '' for attribute 'blue'"),
    "short attribute row": (
        "class_attributes.csv", "blue_round,0,1,1,0", "blue_round,0,1,1",
        r"class_attributes.csv: line 3: class 'blue_round' has 3 attribute values, expected 4"),
    "long attribute row": (
        "class_attributes.csv", "blue_round,0,1,1,0", "blue_round,0,1,1,0,5",
        r"class_attributes.csv: line 3: class 'blue_round' has 5 attribute values, expected 4"),
    "bad header": (
        "class_attributes.csv", "class,red", "name,red",
        r"class_attributes.csv: the header must be 'class' followed by one column per attribute"),
    "unseen class with training images": (
        "splits.csv", "red_square/0.png,test_unseen", "red_square/0.png,train",
        r"splits.csv: class 'red_square' has test_unseen images and training images: an unseen "
        r"class must have no training images"),
    "seen class without training images": (
        "splits.csv", "blue_square/0.png,train\nblue_square/1.png,train\nblue_square/2.png,train\n"
                      "blue_square/3.png,train\n", "",
        r"splits.csv: class 'blue_square' has test_seen images but no training images"),
    "class with no images": (
        "splits.csv", "blue_square/0.png,train\nblue_square/1.png,train\nblue_square/2.png,train\n"
                      "blue_square/3.png,train\nblue_square/4.png,test_seen\nblue_square/5.png,test_seen\n", "",
        r"splits.csv: class 'blue_square' has no images in any split \(empty class\)"),
    "unknown split": (
        "splits.csv", "red_round/0.png,train", "red_round/0.png,training",
        r"splits.csv: line 2: split 'training' must be one of train, test_seen, test_unseen"),
    "missing image": (
        "splits.csv", "red_round/0.png,train", "red_round/9.png,train",
        r"images/red_round/9.png: image file not found \(listed in splits.csv, line 2\)"),
    "image outside a class folder": (
        "splits.csv", "red_round/0.png,train", "0.png,train",
        r"splits.csv: line 2: image '0.png' must be '<class>/<file>' under images/"),
    "duplicate image": (
        "splits.csv", "red_round/1.png,train", "red_round/0.png,train",
        r"splits.csv: line 3: image 'red_round/0.png' is listed twice"),
    "bad splits header": (
        "splits.csv", "image,split", "file,split", r"splits.csv: the header must be 'image,split'"),
    "no unseen classes": (
        "splits.csv", "red_square/0.png,test_unseen\nred_square/1.png,test_unseen\n"
                      "red_square/2.png,test_unseen\n", "",
        r"splits.csv: no test_unseen images: a zero-shot set needs unseen classes"),
    "no test_seen images": (
        "splits.csv", ",test_seen", ",train",
        r"splits.csv: no test_seen images: GZSL evaluation needs held-out images of the seen classes"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input(folder: Path, case: str) -> None:
    name, old, new, message = BAD_CASES[case]
    edit(folder / name, old, new)
    with pytest.raises(UserError, match=message):
        build_data(folder_config(folder))


def test_empty_class_folder(folder: Path) -> None:
    (folder / "images" / "purple_star").mkdir()
    with pytest.raises(UserError, match=r"images/purple_star: class folder holds no images \(empty class\)"):
        build_data(folder_config(folder))


def test_not_an_image_by_name(folder: Path) -> None:
    (folder / "images" / "red_round" / "notes.txt").write_text("hello")
    edit(folder / "splits.csv", "red_round/0.png,train", "red_round/notes.txt,train")
    with pytest.raises(UserError, match=r"red_round/notes.txt: not an image file \(listed in splits.csv, line 2\)"):
        build_data(folder_config(folder))


@pytest.mark.parametrize("vectors, message", [
    (np.zeros((3, 6)), "attribute_vectors.npy: has 3 attribute vectors .rows. but the class semantics have 4 attributes"),
    (np.zeros(4), r"attribute_vectors.npy: attribute vectors must be a 2-D array, got shape \(4,\)"),
    (np.full((4, 2), np.nan), "attribute_vectors.npy: attribute vector 1 has a non-finite value"),
])
def test_bad_attribute_vectors(folder: Path, vectors: np.ndarray, message: str) -> None:
    np.save(folder / "attribute_vectors.npy", vectors)
    with pytest.raises(UserError, match=message):
        build_data(folder_config(folder))


def test_unreadable_attribute_vectors(folder: Path) -> None:
    (folder / "attribute_vectors.npy").write_text("not numpy")
    with pytest.raises(UserError, match=r"attribute_vectors.npy: cannot read attribute vectors"):
        build_data(folder_config(folder))


def test_cli_reports_bad_input_in_one_line(folder: Path, tmp_path: Path) -> None:
    edit(folder / "class_attributes.csv", "blue_round,0,1,1,0", "blue_round,0,nan,1,0")
    config = tmp_path / "bad.yaml"
    config.write_text(f"data:\n  format: folder\n  root: {folder}\n")
    result = subprocess.run([sys.executable, "-m", "mgmrn", "data-info", str(config), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "class_attributes.csv: line 3: class 'blue_round' has a non-finite value (nan)" in lines[0]
