"""CUB, AWA2 and SUN under the standard zero-shot split of Xian et al. (xlsa17)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mgmrn.data.common import (
    Sample, SourceData, find_attribute_names, find_first, load_mat, mat_strings,
    placeholder_names, read_id_table, require_dir,
)
from mgmrn.data.config import DataConfig
from mgmrn.data.semantics import check_semantics
from mgmrn.errors import UserError

# where each dataset's images live under data.root (the datasets' usual folders)
IMAGE_DIRS = {
    "CUB": "CUB_200_2011/images",
    "AWA2": "Animals_with_Attributes2/JPEGImages",
    "SUN": "SUN/images",
}
CUB_IMAGE_LIST = "CUB_200_2011/images.txt"
# attribute-name files of the original datasets, relative to data.root
NAME_FILES = {
    "CUB": ["CUB_200_2011/attributes.txt", "attributes.txt", "CUB_200_2011/attributes/attributes.txt"],
    "AWA2": ["Animals_with_Attributes2/predicates.txt"],
    "SUN": [],
}
LOC_KEYS = {"train": "trainval_loc", "test_seen": "test_seen_loc", "test_unseen": "test_unseen_loc"}


def att_splits_file(splits: str, root: Path, dataset: str) -> Path:
    """``<splits>/<dataset>/att_splits.mat``; without ``splits``, searched near ``root``."""
    if splits:
        folders = [require_dir(Path(splits).expanduser().resolve(), "data.splits folder")]
    else:
        folders = [root, root / "xlsa17", root.parent / "xlsa17",
                   root / "xlsa17" / "data", root.parent / "xlsa17" / "data"]
    found = find_first(folder / dataset / "att_splits.mat" for folder in folders)
    if found is None:
        looked = ", ".join(str(folder) for folder in folders)
        raise UserError(
            f"{dataset}/att_splits.mat not found (looked in {looked}; set data.splits to the "
            "folder that holds it)", folders[0],
        )
    return found


def read_att_splits(path: Path, semantics: str) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """Class names, class semantics (n_classes, n_attributes) and 0-based image indices per split."""
    mat = load_mat(path, ["allclasses_names", semantics, *LOC_KEYS.values()])
    classes = mat_strings(mat["allclasses_names"])
    attributes = np.asarray(mat[semantics], dtype=np.float64).T
    if attributes.ndim != 2 or attributes.shape[0] != len(classes):
        raise UserError(
            f"'{semantics}' has shape {attributes.T.shape}, expected (n_attributes, "
            f"{len(classes)}) for the {len(classes)} classes of allclasses_names", path,
        )
    check_semantics(attributes, classes, path)
    locs = {split: np.asarray(mat[key]).reshape(-1).astype(np.int64) - 1
            for split, key in LOC_KEYS.items()}
    return classes, attributes, locs


def default_vector_files(att_splits: Path, root: Path, dataset: str) -> list[Path]:
    """Where ``<dataset>_attribute.pkl`` word vectors usually are."""
    name = f"{dataset}_attribute.pkl"
    return [att_splits.parent / name, att_splits.parent.parent.parent / "w2v" / name,
            root / "w2v" / name, root.parent / "w2v" / name]


def name_file_candidates(att_splits: Path, root: Path, dataset: str) -> list[Path]:
    """Where the attribute names of ``dataset`` usually are."""
    shared = [att_splits.parent.parent.parent / "attributes" / f"{dataset}_attributes.txt",
              root.parent / "attributes" / f"{dataset}_attributes.txt"]
    return [root / rel for rel in NAME_FILES[dataset]] + shared


def _strip_to(path: str, marker: str, source: Path) -> str:
    """The part of ``path`` after the dataset's image folder ``marker``."""
    clean = re.sub(r"/+", "/", path.replace("\\", "/"))
    at = clean.rfind(marker)
    if at < 0:
        raise UserError(f"image path '{path}' does not contain '{marker}'", source)
    return clean[at + len(marker):]


def _image_list(root: Path, att_splits: Path, dataset: str,
                classes: list[str]) -> tuple[list[Sample], Path]:
    """All images of the dataset in split-index order, and the file that lists them."""
    image_dir = root / IMAGE_DIRS[dataset]
    res101 = att_splits.parent / "res101.mat"
    images_txt = root / CUB_IMAGE_LIST
    if res101.is_file():
        mat = load_mat(res101, ["image_files", "labels"])
        files = mat_strings(mat["image_files"])
        labels = np.asarray(mat["labels"]).reshape(-1).astype(np.int64) - 1
        if len(files) != len(labels):
            raise UserError(f"has {len(files)} image_files but {len(labels)} labels", res101)
        if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
            raise UserError(f"labels must be 1..{len(classes)} (the classes of {att_splits.name})", res101)
        marker = IMAGE_DIRS[dataset] + "/"
        images = [(str(image_dir / _strip_to(f, marker, res101)), int(label))
                  for f, label in zip(files, labels)]
        list_file = res101
    elif dataset == "CUB" and images_txt.is_file():
        index = {name: i for i, name in enumerate(classes)}
        images = []
        for image_id, rel in read_id_table(images_txt):
            folder = rel.split("/")[0]
            if folder not in index:
                raise UserError(
                    f"image {image_id}: class folder '{folder}' is not a class of {att_splits}",
                    images_txt,
                )
            images.append((str(image_dir / rel), index[folder]))
        list_file = images_txt
    else:
        expected = f"{res101}" + (f" or {images_txt}" if dataset == "CUB" else "")
        raise UserError(f"no image list for {dataset}: expected {expected}", root)
    require_dir(image_dir, f"{dataset} image folder")
    return images, list_file


def read(cfg: DataConfig) -> SourceData:
    """The xlsa17 benchmark ``cfg.dataset`` with images under ``cfg.root``."""
    if not cfg.root:
        raise UserError("data.root must name the folder that holds the dataset images "
                        f"({IMAGE_DIRS[cfg.dataset]}) for data.format=xlsa17")
    root = require_dir(Path(cfg.root).expanduser().resolve(), "data.root folder")
    att_splits = att_splits_file(cfg.splits, root, cfg.dataset)
    classes, attributes, locs = read_att_splits(att_splits, cfg.semantics)
    images, list_file = _image_list(root, att_splits, cfg.dataset, classes)
    splits: dict[str, list[Sample]] = {}
    for split, idx in locs.items():
        if len(idx) and (idx.min() < 0 or idx.max() >= len(images)):
            raise UserError(
                f"{LOC_KEYS[split]} refers to image {int(idx.max()) + 1} but {list_file} lists "
                f"{len(images)} images", att_splits,
            )
        splits[split] = [images[i] for i in idx]
    problems = []
    unused = len(images) - len(np.unique(np.concatenate(list(locs.values()))))
    if unused:
        problems.append(f"{unused} images listed in {list_file.name} are in no split (ignored)")
    names = find_attribute_names(name_file_candidates(att_splits, root, cfg.dataset),
                                 attributes.shape[1])
    return SourceData(
        classes=classes, attributes=attributes,
        attribute_names=names or placeholder_names(attributes.shape[1]),
        generic_names=names is None, semantics_file=att_splits, split_file=att_splits,
        list_file=list_file, splits=splits,
        vectors_default=find_first(default_vector_files(att_splits, root, cfg.dataset)),
        problems=problems,
    )
