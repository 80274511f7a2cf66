"""xlsa17 (CUB, AWA2, SUN): the real split files, with generated placeholder image trees.

The split files are the real ones in ../shared/data/xlsa17. The images and res101.mat are
not there, so each test tree invents which image belongs to which class (consistently with
the splits: trainval/test_seen images get seen classes, test_unseen images unseen ones) and
writes empty placeholder files; images are not decoded when a dataset is built.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from mgmrn.config import load_config
from mgmrn.data.build import build_data
from mgmrn.data.common import mat_strings
from mgmrn.errors import UserError

# dataset: attributes, classes, seen, unseen, trainval, test_seen, test_unseen (data README)
TABLE = {
    "CUB": (312, 200, 150, 50, 7057, 1764, 2967),
    "AWA2": (85, 50, 40, 10, 23527, 5882, 7913),
    "SUN": (102, 717, 645, 72, 10320, 2580, 1440),
}
IMAGE_DIRS = {
    "CUB": "CUB_200_2011/images",
    "AWA2": "Animals_with_Attributes2/JPEGImages",
    "SUN": "SUN/images",
}
# how res101.mat spells image paths (the authors' machines)
RES101_PREFIX = {
    "AWA2": "/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/",
    "SUN": "/BS/Deep_Fragments/work/MSc/data/SUN/images/",
}


def invented_labels(att_splits: Path, n_seen: int) -> tuple[list[str], np.ndarray]:
    """Class names and a 0-based class per image: seen classes are the first ``n_seen``
    (true for CUB, invented for AWA2/SUN), spread round-robin over each split's images."""
    mat = scipy.io.loadmat(str(att_splits))
    classes = mat_strings(mat["allclasses_names"])
    locs = {k: np.sort(mat[k].ravel().astype(np.int64) - 1)
            for k in ("trainval_loc", "test_seen_loc", "test_unseen_loc")}
    labels = np.full(max(int(v.max()) for v in locs.values()) + 1, -1, dtype=np.int64)
    seen, unseen = np.arange(n_seen), np.arange(n_seen, len(classes))
    for key, pool in (("trainval_loc", seen), ("test_seen_loc", seen), ("test_unseen_loc", unseen)):
        labels[locs[key]] = pool[np.arange(len(locs[key])) % len(pool)]
    assert (labels >= 0).all()
    return classes, labels


def touch_all(root: Path, rel_paths: list[str]) -> None:
    """Empty placeholder files (hard links to one empty file: fast for ~37k files)."""
    for folder in sorted({os.path.dirname(p) for p in rel_paths}):
        (root / folder).mkdir(parents=True, exist_ok=True)
    placeholder = root / "placeholder"
    placeholder.touch()
    for rel in rel_paths:
        os.link(placeholder, root / rel)


def make_tree(base: Path, shared: Path, dataset: str) -> tuple[Path, Path]:
    """(data.root, data.splits) of a placeholder tree for ``dataset``."""
    root, splits = base / "images_root", base / "xlsa17"
    att_splits = shared / "xlsa17" / dataset / "att_splits.mat"
    classes, labels = invented_labels(att_splits, TABLE[dataset][2])
    if dataset == "CUB":  # the image list is CUB_200_2011/images.txt
        rel = [f"{classes[c]}/img_{i + 1:05d}.jpg" for i, c in enumerate(labels)]
        (root / "CUB_200_2011").mkdir(parents=True)
        (root / "CUB_200_2011" / "images.txt").write_text(
            "".join(f"{i + 1} {r}\n" for i, r in enumerate(rel)))
        touch_all(root / IMAGE_DIRS[dataset], rel)
        return root, shared / "xlsa17"
    # AWA2/SUN: the image list is res101.mat beside a link to the real att_splits.mat
    rel = [f"{classes[c][0]}/{classes[c]}/{classes[c]}_{i + 1}.jpg" if dataset == "SUN"
           else f"{classes[c]}/{classes[c]}_{i + 1}.jpg" for i, c in enumerate(labels)]
    (splits / dataset).mkdir(parents=True)
    os.symlink(att_splits, splits / dataset / "att_splits.mat")
    files = np.empty((len(rel), 1), dtype=object)
    files[:, 0] = [RES101_PREFIX[dataset] + r for r in rel]
    scipy.io.savemat(str(splits / dataset / "res101.mat"),
                     {"image_files": files, "labels": (labels + 1).reshape(-1, 1).astype(np.float64)})
    touch_all(root / IMAGE_DIRS[dataset], rel)
    return root, splits


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[str, tuple[Path, Path]]:
    return {d: make_tree(tmp_path_factory.mktemp(d), shared_data, d) for d in TABLE}


def config(root: Path, splits: Path, dataset: str, *extra: str):
    return load_config(None, [
        "data.format=xlsa17", f"data.dataset={dataset}", f"data.root={root}",
        f"data.splits={splits}", *extra,
    ]).data


@pytest.mark.parametrize("dataset", list(TABLE))
def test_split_sizes_and_classes(trees, shared_data: Path, dataset: str) -> None:
    root, splits = trees[dataset]
    data = build_data(config(root, splits, dataset, f"data.w2v={shared_data / 'w2v'}"))
    n_att, n_cls, n_seen, n_unseen, n_train, n_test_seen, n_test_unseen = TABLE[dataset]
    assert (len(data.train), len(data.test_seen), len(data.test_unseen)) == (n_train, n_test_seen, n_test_unseen)
    assert (len(data.classes), len(data.seen), len(data.unseen)) == (n_cls, n_seen, n_unseen)
    assert data.attributes.shape == (n_cls, n_att) and data.attributes.dtype == np.float32
    assert data.attribute_vectors.shape == (n_att, 300)
    assert len(np.intersect1d(data.seen, data.unseen)) == 0
    assert {y for _, y in data.test_unseen} == set(data.unseen.tolist())
    # each image path is under the dataset's usual folder, and its class is its folder
    path, label = data.test_unseen[0]
    assert path.startswith(str(root / IMAGE_DIRS[dataset]))
    assert Path(path).parent.name == data.classes[label]
    assert np.allclose(np.linalg.norm(data.attributes, axis=1), 1.0, atol=1e-5)


def test_cub_defaults_and_semantics(trees, shared_data: Path) -> None:
    """CUB: att_splits.mat, attribute names and word vectors found from the shared layout."""
    root, splits = trees["CUB"]
    data = build_data(config(root, splits, "CUB", "data.semantics=original_att", "data.normalize=none"))
    mat = scipy.io.loadmat(str(shared_data / "xlsa17/CUB/att_splits.mat"))
    assert np.allclose(data.attributes, mat["original_att"].T.astype(np.float32))
    assert data.attributes.max() > 1.0  # percentages
    assert data.attribute_names[0] == "has_bill_shape::curved_(up_or_down)"
    assert data.attribute_vectors is not None and data.problems == []
    assert data.classes[:150] == data.classes[:150] and list(data.seen) == list(range(150))


def test_sun_without_names_or_vectors(trees) -> None:
    root, splits = trees["SUN"]
    data = build_data(config(root, splits, "SUN"))
    assert data.attribute_vectors is None
    assert data.attribute_names[:2] == ["attribute_1", "attribute_2"]
    assert data.notes == ["no attribute vectors (w2v/SUN_attribute.pkl not found): the model learns attribute "
                          "queries (data.w2v)"]
    assert not any("attribute vectors" in p for p in data.problems)  # a note, not a problem
    with pytest.raises(UserError, match="data.w2v=text needs the attribute names"):
        build_data(config(root, splits, "SUN", "data.w2v=text"))


def test_missing_image(trees) -> None:
    root, splits = trees["AWA2"]
    victim = next((root / IMAGE_DIRS["AWA2"]).rglob("*.jpg"))
    victim.unlink()
    try:
        with pytest.raises(UserError, match=r"res101.mat: 1 of 37322 listed images are missing \(first: .*\)"):
            build_data(config(root, splits, "AWA2", "data.w2v=none"))
    finally:
        victim.touch()


def test_missing_inputs(trees, tmp_path: Path, shared_data: Path) -> None:
    root, splits = trees["CUB"]
    with pytest.raises(UserError, match="data.root must name"):
        build_data(config("", splits, "CUB"))
    with pytest.raises(UserError, match="nowhere: data.root folder not found"):
        build_data(config(tmp_path / "nowhere", splits, "CUB"))
    with pytest.raises(UserError, match="CUB/att_splits.mat not found"):
        build_data(config(root, tmp_path, "CUB"))
    with pytest.raises(UserError, match=r"no image list for AWA2: expected .*res101.mat"):
        build_data(config(tmp_path, shared_data / "xlsa17", "AWA2"))
    empty = tmp_path / "cub"
    (empty / "CUB_200_2011").mkdir(parents=True)
    (empty / "CUB_200_2011" / "images.txt").write_text("1 001.Black_footed_Albatross/a.jpg\n")
    with pytest.raises(UserError, match="CUB_200_2011/images: CUB image folder not found"):
        build_data(config(empty, splits, "CUB"))
    (empty / "CUB_200_2011" / "images").mkdir()
    with pytest.raises(UserError, match="att_splits.mat: trainval_loc refers to image .* lists 1 images"):
        build_data(config(empty, splits, "CUB"))
    (empty / "CUB_200_2011" / "images.txt").write_text("1 999.Dodo/a.jpg\n")
    with pytest.raises(UserError, match="images.txt: image 1: class folder '999.Dodo' is not a class"):
        build_data(config(empty, splits, "CUB"))
