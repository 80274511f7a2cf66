"""CUB-100: the real set in ../shared/data/cub100 under its documented protocol."""

from __future__ import annotations

import csv
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from mgmrn.config import load_config
from mgmrn.data.build import ZSLData, build_data, build_transforms, class_index_map, make_loader
from mgmrn.errors import UserError

LIST_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt",
              "xlsa17_classes.csv")


def cub100_config(root: Path, *extra: str):
    return load_config(None, ["data.format=cub100", f"data.root={root}", *extra]).data


@pytest.fixture(scope="module")
def cub100(shared_data: Path) -> ZSLData:
    return build_data(cub100_config(shared_data / "cub100"))


def test_protocol_counts(cub100: ZSLData) -> None:
    assert (len(cub100.train), len(cub100.test_seen), len(cub100.test_unseen)) == (2102, 2190, 1610)
    assert (len(cub100.classes), len(cub100.seen), len(cub100.unseen)) == (100, 73, 27)
    assert cub100.attributes.shape == (100, 312)
    assert cub100.attribute_vectors.shape == (312, 300)
    assert cub100.attribute_names[1] == "has_bill_shape::dagger"
    assert cub100.problems == []


def test_labels_and_semantics_follow_the_class_map(cub100: ZSLData, shared_data: Path) -> None:
    rows = list(csv.DictReader(open(shared_data / "cub100" / "xlsa17_classes.csv")))
    assert [r["class_name"] for r in rows] == cub100.classes
    roles = {int(r["class_id"]): r["role"] for r in rows}
    assert sorted(c for c, role in roles.items() if role == "unseen") == cub100.unseen.tolist()
    for path, label in cub100.train[::97] + cub100.test_unseen[::97]:
        assert Path(path).parent.name == cub100.classes[label]
    att = scipy.io.loadmat(str(shared_data / "xlsa17/CUB/att_splits.mat"))["att"].T
    columns = [int(r["xlsa17_index"]) for r in rows]
    assert np.allclose(cub100.attributes, att[columns] / np.linalg.norm(att[columns], axis=1, keepdims=True))
    with open(shared_data / "w2v" / "CUB_attribute.pkl", "rb") as handle:
        assert np.allclose(cub100.attribute_vectors, pickle.load(handle))


def test_unseen_index_map_has_no_offset_bug(cub100: ZSLData) -> None:
    """Unseen classes of CUB-100 are interleaved with seen ones (class 0 is seen, class 1 unseen):
    subtracting the number of seen classes from a label gives nonsense."""
    labels = np.array([y for _, y in cub100.test_unseen])
    unseen = class_index_map(cub100.unseen)
    local = unseen.to_local(labels)
    assert local.min() == 0 and local.max() == 26
    assert (unseen.to_global(local) == labels).all()
    assert ((labels - len(cub100.seen)) < 0).any()  # the classic bug would index out of range
    assert (cub100.unseen[local] == labels).all()


def test_val_split(cub100: ZSLData) -> None:
    val = cub100.val
    assert len(val.val_unseen_classes) == round(73 * 0.2)
    assert sorted(np.concatenate([val.val_seen_classes, val.val_unseen_classes])) == cub100.seen.tolist()
    assert sorted(val.train_sub + val.val_seen + val.val_unseen) == sorted(cub100.train)
    assert {y for _, y in val.val_unseen} == set(val.val_unseen_classes.tolist())
    assert {y for _, y in val.train_sub} == set(val.val_seen_classes.tolist())


def test_real_images_load(cub100: ZSLData) -> None:
    transform = build_transforms(64, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), train=False)
    loader = make_loader(cub100.test_unseen[:6], transform, 4, train=False)
    batches = list(loader)
    assert [b[0].shape for b in batches] == [torch.Size([4, 3, 64, 64]), torch.Size([2, 3, 64, 64])]
    assert torch.cat([b[2] for b in batches]).tolist() == list(range(6))


@pytest.fixture
def small_copy(tmp_path: Path, shared_data: Path) -> Path:
    """The CUB-100 list files copied (images linked) to edit them."""
    root = tmp_path / "cub100"
    root.mkdir()
    for name in LIST_FILES:
        shutil.copy(shared_data / "cub100" / name, root / name)
    os.symlink(shared_data / "cub100" / "images", root / "images")
    return root


def test_bad_class_map(small_copy: Path, shared_data: Path) -> None:
    splits = f"data.splits={shared_data / 'xlsa17'}"
    path = small_copy / "xlsa17_classes.csv"
    text = path.read_text()
    path.write_text(text.replace("150,001.Black_footed_Albatross", "151,001.Black_footed_Albatross"))
    with pytest.raises(UserError, match="xlsa17_classes.csv: line 2: xlsa17_index 151 is not "
                                        "'001.Black_footed_Albatross' in att_splits.mat"):
        build_data(cub100_config(small_copy, splits))
    path.write_text("\n".join(text.splitlines()[:-1]))
    with pytest.raises(UserError, match="xlsa17_classes.csv: class 99 .* of classes.txt has no row"):
        build_data(cub100_config(small_copy, splits))
    path.unlink()
    with pytest.raises(UserError, match="xlsa17_classes.csv: CUB-100 class map not found"):
        build_data(cub100_config(small_copy, splits))


def test_bad_lists(small_copy: Path, shared_data: Path) -> None:
    splits = f"data.splits={shared_data / 'xlsa17'}"
    labels = small_copy / "image_class_labels.txt"
    original = labels.read_text()
    labels.write_text(original.replace("5901, 99", ""))
    with pytest.raises(UserError, match="image_class_labels.txt: image 5901 of images.txt has no row"):
        build_data(cub100_config(small_copy, splits))
    labels.write_text(original)
    images = small_copy / "images.txt"
    images.write_text(images.read_text().replace("0, Black_footed_Albatross/0000.jpg", "0, Black_footed_Albatross/gone.jpg"))
    with pytest.raises(UserError, match=r"images.txt: 1 of \d+ listed images are missing \(first: .*gone.jpg\)"):
        build_data(cub100_config(small_copy, splits))
    with pytest.raises(UserError, match="data.root must name the CUB-100 folder"):
        build_data(load_config(None, ["data.format=cub100"]).data)
