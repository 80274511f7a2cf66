"""CUB-100: 100 CUB-200-2011 classes under the CUB-100 zero-shot protocol.

Seen classes are those whose xlsa17 role is ``seen``: their ``is_training = 1`` images
train, the others are test_seen. Every image of an unseen class is test_unseen. Class
semantics are the matching columns of xlsa17 ``CUB/att_splits.mat``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from mgmrn.data.common import (
    Sample, SourceData, find_attribute_names, find_first,
    placeholder_names, read_id_table, read_text, require_dir, require_file,
)
from mgmrn.data.config import DataConfig
from mgmrn.data.xlsa17 import (
    att_splits_file, default_vector_files, name_file_candidates, read_att_splits,
)
from mgmrn.errors import UserError

LIST_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")
CLASS_MAP = "xlsa17_classes.csv"
MAP_COLUMNS = ("class_id", "class_name", "xlsa17_index", "xlsa17_name", "role")


def _table(path: Path) -> dict[str, str]:
    """``id -> value`` of a CUB-style list file."""
    return dict(read_id_table(path))


def _class_map(path: Path, classes: dict[str, str], xlsa17_names: list[str]) -> dict[str, tuple[int, str]]:
    """``class_id -> (xlsa17 column, role)``, checked against classes.txt and att_splits.mat."""
    rows = list(csv.DictReader(read_text(path).splitlines()))
    missing = [c for c in MAP_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise UserError(f"expected the columns {', '.join(MAP_COLUMNS)} and one row per class", path)
    mapping = {}
    for lineno, row in enumerate(rows, 2):
        try:
            index = int(row["xlsa17_index"])
        except ValueError:
            raise UserError(f"line {lineno}: xlsa17_index '{row['xlsa17_index']}' is not an "
                            "integer", path) from None
        if not 0 <= index < len(xlsa17_names) or xlsa17_names[index] != row["xlsa17_name"]:
            raise UserError(f"line {lineno}: xlsa17_index {index} is not "
                            f"'{row['xlsa17_name']}' in att_splits.mat", path)
        if row["role"] not in ("seen", "unseen"):
            raise UserError(f"line {lineno}: role must be seen or unseen, got '{row['role']}'", path)
        mapping[row["class_id"]] = (index, row["role"])
    for class_id, name in classes.items():
        if class_id not in mapping:
            raise UserError(f"class {class_id} '{name}' of classes.txt has no row", path)
    return mapping


def read(cfg: DataConfig) -> SourceData:
    """The CUB-100 set in ``cfg.root``."""
    if not cfg.root:
        raise UserError("data.root must name the CUB-100 folder for data.format=cub100")
    root = require_dir(Path(cfg.root).expanduser().resolve(), "CUB-100 folder")
    tables = {name: _table(require_file(root / name, f"CUB-100 list file {name}")) for name in LIST_FILES}
    image_dir = require_dir(root / "images", "CUB-100 image folder")
    att_splits = att_splits_file(cfg.splits, root, "CUB")
    xlsa17_names, xlsa17_att, _ = read_att_splits(att_splits, cfg.semantics)
    class_ids = list(tables["classes.txt"])
    mapping = _class_map(require_file(root / CLASS_MAP, "CUB-100 class map"),
                         tables["classes.txt"], xlsa17_names)
    position = {class_id: i for i, class_id in enumerate(class_ids)}
    splits: dict[str, list[Sample]] = {"train": [], "test_seen": [], "test_unseen": []}
    for image_id, rel in tables["images.txt"].items():
        for name in ("image_class_labels.txt", "train_test_split.txt"):
            if image_id not in tables[name]:
                raise UserError(f"image {image_id} of images.txt has no row", root / name)
        class_id = tables["image_class_labels.txt"][image_id]
        if class_id not in position:
            raise UserError(f"image {image_id}: class {class_id} is not in classes.txt",
                            root / "image_class_labels.txt")
        if mapping[class_id][1] == "unseen":
            split = "test_unseen"
        else:
            split = "train" if tables["train_test_split.txt"][image_id] == "1" else "test_seen"
        splits[split].append((str(image_dir / rel), position[class_id]))
    attributes = xlsa17_att[[mapping[c][0] for c in class_ids]]
    names = find_attribute_names(name_file_candidates(att_splits, root, "CUB"), attributes.shape[1])
    return SourceData(
        classes=list(tables["classes.txt"].values()), attributes=attributes,
        attribute_names=names or placeholder_names(attributes.shape[1]),
        generic_names=names is None, semantics_file=att_splits, split_file=root / CLASS_MAP,
        list_file=root / "images.txt", splits=splits,
        vectors_default=find_first(default_vector_files(att_splits, root, "CUB")),
    )
