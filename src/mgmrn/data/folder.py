"""Anyone's own data (``data.format=folder``).

Layout::

    ROOT/images/<class>/<file>        the images, one folder per class
    ROOT/class_attributes.csv         header "class,<attribute>,...", one numeric row per class
    ROOT/splits.csv                   header "image,split": <class>/<file>, and one of
                                      train | test_seen | test_unseen
    ROOT/attribute_vectors.npy        optional: one row per attribute column, in order

Unseen classes are those whose images are all in ``test_unseen``.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path, PurePosixPath

import numpy as np

from mgmrn.data.common import (
    SPLITS, Sample, SourceData, image_extensions, read_text, require_dir, require_file,
)
from mgmrn.errors import UserError

ATTRIBUTES = "class_attributes.csv"
SPLITS_FILE = "splits.csv"
VECTORS = "attribute_vectors.npy"


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows of a CSV text with their line numbers."""
    rows = csv.reader(text.splitlines())
    return [(lineno, row) for lineno, row in enumerate(rows, 1) if any(c.strip() for c in row)]


def read_class_attributes(path: Path, text: str | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """Class names, their attribute rows and the attribute names of a class-attribute CSV
    (``class_attributes.csv``, or ``--classes`` of ``mgmrn predict``); ``text``: its content
    when it is not a file (an upload: ``path`` then only names it in errors)."""
    rows = _csv_rows(read_text(require_file(path, "class-attribute CSV")) if text is None else text)
    if not rows or rows[0][1][0].strip() != "class" or len(rows[0][1]) < 2:
        raise UserError("the header must be 'class' followed by one column per attribute", path)
    names = [h.strip() for h in rows[0][1][1:]]
    if "" in names or len(set(names)) != len(names):
        raise UserError("attribute column names must be non-empty and distinct", path)
    classes: list[str] = []
    known: set[str] = set()  # the names so far, to find a repeated one in constant time
    values: list[list[float]] = []
    for lineno, row in rows[1:]:
        name = row[0].strip()
        if not name or name in known:
            raise UserError(f"line {lineno}: class name '{name}' is empty or repeated", path)
        if len(row) != len(names) + 1:
            raise UserError(
                f"line {lineno}: class '{name}' has {len(row) - 1} attribute values, "
                f"expected {len(names)}", path,
            )
        parsed = []
        for attribute, cell in zip(names, row[1:]):
            try:
                value = float(cell)
            except ValueError:
                raise UserError(
                    f"line {lineno}: class '{name}' has a non-numeric value '{cell.strip()}' "
                    f"for attribute '{attribute}'", path,
                ) from None
            if not math.isfinite(value):
                raise UserError(
                    f"line {lineno}: class '{name}' has a non-finite value ({cell.strip()}) for attribute "
                    f"'{attribute}'", path,
                )
            parsed.append(value)
        classes.append(name)
        known.add(name)
        values.append(parsed)
    if not classes:
        raise UserError("has no class rows", path)
    return classes, np.asarray(values, dtype=np.float64), names


def _scan_images(image_dir: Path) -> set[str]:
    """Image paths relative to ``image_dir`` (posix); an empty class folder is an error."""
    files: set[str] = set()
    for entry in sorted(os.scandir(image_dir), key=lambda e: e.name):
        if not entry.is_dir():
            continue
        found = [
            (Path(top) / name).relative_to(image_dir).as_posix()
            for top, _, names in os.walk(entry.path) for name in names
        ]
        if not found:
            raise UserError("class folder holds no images (empty class)", entry.path)
        files.update(found)
    return files


def read_splits(path: Path, image_dir: Path, classes: list[str],
                present: set[str]) -> dict[str, list[Sample]]:
    """The images of each split from ``splits.csv``, labelled by their class folder.

    ``present``: the files under ``image_dir`` (relative posix paths).
    """
    rows = _csv_rows(read_text(require_file(path, f"{SPLITS_FILE} (image splits)")))
    if not rows or [c.strip() for c in rows[0][1]] != ["image", "split"]:
        raise UserError("the header must be 'image,split'", path)
    index = {name: i for i, name in enumerate(classes)}
    splits: dict[str, list[Sample]] = {split: [] for split in SPLITS}
    seen_images: set[str] = set()
    for lineno, row in rows[1:]:
        if len(row) != 2:
            raise UserError(f"line {lineno}: expected 2 columns (image,split), got {len(row)}", path)
        image, split = row[0].strip(), row[1].strip()
        parts = PurePosixPath(image).parts
        if len(parts) < 2 or image.startswith("/") or ".." in parts:
            raise UserError(f"line {lineno}: image '{image}' must be '<class>/<file>' under images/", path)
        if split not in splits:
            raise UserError(f"line {lineno}: split '{split}' must be one of {', '.join(SPLITS)}", path)
        if image in seen_images:
            raise UserError(f"line {lineno}: image '{image}' is listed twice", path)
        if parts[0] not in index:
            raise UserError(f"line {lineno}: class '{parts[0]}' has no row in {ATTRIBUTES}", path)
        where = f"listed in {SPLITS_FILE}, line {lineno}"
        if image not in present:
            raise UserError(f"image file not found ({where})", image_dir / image)
        if PurePosixPath(image).suffix.lower() not in image_extensions():
            raise UserError(f"not an image file ({where})", image_dir / image)
        seen_images.add(image)
        splits[split].append((str(image_dir / image), index[parts[0]]))
    return splits


def read(root: Path) -> SourceData:
    """The dataset in folder ``root``."""
    root = require_dir(root.expanduser().resolve(), "dataset folder (data.root)")
    image_dir = require_dir(root / "images", "image folder")
    classes, attributes, names = read_class_attributes(root / ATTRIBUTES)
    present = _scan_images(image_dir)
    splits = read_splits(root / SPLITS_FILE, image_dir, classes, present)
    unlisted = len(present) - sum(len(samples) for samples in splits.values())
    problems = [f"{unlisted} files under images/ are not listed in {SPLITS_FILE} (ignored)"] \
        if unlisted else []
    vectors = root / VECTORS
    return SourceData(
        classes=classes, attributes=attributes, attribute_names=names,
        semantics_file=root / ATTRIBUTES, split_file=root / SPLITS_FILE,
        list_file=root / SPLITS_FILE, splits=splits,
        vectors_default=vectors if vectors.exists() else None, problems=problems,
    )
