"""Helpers shared by the dataset readers: what a reader returns, file checks, list files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from mgmrn.errors import UserError

Sample = tuple[str, int]  # (image path, global class index)
SPLITS = ("train", "test_seen", "test_unseen")


@dataclass
class SourceData:
    """What a format reader found, before normalisation and validation splitting."""

    classes: list[str]
    attributes: np.ndarray  # (n_classes, n_attributes) raw class semantics
    attribute_names: list[str]
    semantics_file: Path  # named in errors about the class semantics
    split_file: Path  # named in errors about the split assignment
    list_file: Path  # the file that lists the images (named when images are missing)
    splits: dict[str, list[Sample]]  # keys: SPLITS
    vectors_default: Path | None = None  # the format's default attribute-vector file
    generic_names: bool = False  # attribute names are placeholders (attribute_<i>)
    problems: list[str] = field(default_factory=list)


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else a UserError naming it."""
    if not path.is_dir():
        raise UserError(f"{what} not found (expected a folder)", path)
    return path


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else a UserError naming it."""
    if not path.is_file():
        raise UserError(f"{what} not found", path)
    return path


def find_first(candidates: Iterable[Path]) -> Path | None:
    """The first existing path among ``candidates``."""
    return next((p for p in candidates if p.exists()), None)


def read_text(path: Path) -> str:
    """A text file's content; unreadable or non-UTF-8 files are user errors."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read text file ({exc})", path) from None


def read_id_table(path: Path) -> list[tuple[str, str]]:
    """Rows ``(id, value)`` of a CUB-style list file (``<id> <value>`` or ``<id>, <value>``)."""
    rows = []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        parts = re.split(r"\s*,\s*|\s+", line.strip(), maxsplit=1)
        if len(parts) != 2:
            raise UserError(f"line {lineno}: expected '<id> <value>', got '{line.strip()}'", path)
        rows.append((parts[0], parts[1]))
    return rows


def read_name_list(path: Path) -> list[str]:
    """Names one per line, each optionally preceded by a numeric id."""
    names = []
    for line in read_text(path).splitlines():
        if line.strip():
            match = re.match(r"^\s*\d+[\s,]+(\S.*)$", line)
            names.append((match.group(1) if match else line).strip())
    return names


def load_mat(path: Path, keys: list[str]) -> dict[str, Any]:
    """The variables ``keys`` of a MATLAB file; missing keys are user errors."""
    import scipy.io

    require_file(path, "MATLAB file")
    try:
        mat = scipy.io.loadmat(str(path), variable_names=keys)
    except Exception as exc:  # scipy raises many types for a broken file
        raise UserError(f"not a readable MATLAB file ({exc})", path) from None
    for key in keys:
        if key not in mat:
            raise UserError(f"has no variable '{key}'", path)
    return mat


def mat_strings(value: Any) -> list[str]:
    """Strings of a MATLAB cell array / char matrix, in order."""
    array = np.asarray(value)
    if array.dtype.kind in "US":
        return [str(s).strip() for s in array.reshape(-1)]
    out: list[str] = []
    for item in array.reshape(-1):
        out.extend(mat_strings(item))
    return out


@lru_cache(maxsize=1)
def image_extensions() -> frozenset[str]:
    """File extensions that Pillow can open (lower case, with the dot)."""
    from PIL import Image

    return frozenset(ext.lower() for ext in Image.registered_extensions())


def check_images_exist(samples: Iterable[Sample], list_file: Path) -> None:
    """A UserError naming ``list_file`` and the first missing image, if any is missing."""
    paths = [path for path, _ in samples]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise UserError(
            f"{len(missing)} of {len(paths)} listed images are missing (first: {missing[0]})",
            list_file,
        )


def read_attribute_names(path: Path, n_attributes: int) -> list[str]:
    """The ``n_attributes`` names listed in ``path`` (a count mismatch is a user error)."""
    names = read_name_list(require_file(path, "attribute name file"))
    if len(names) != n_attributes:
        raise UserError(
            f"lists {len(names)} attribute names but the class semantics have "
            f"{n_attributes} attributes", path,
        )
    return names


def find_attribute_names(candidates: Iterable[Path], n_attributes: int) -> list[str] | None:
    """Names from the first candidate file that lists exactly ``n_attributes``, if any."""
    for path in candidates:
        if path.is_file():
            names = read_name_list(path)
            if len(names) == n_attributes:
                return names
    return None


def placeholder_names(n_attributes: int) -> list[str]:
    """``attribute_1 .. attribute_n``, for data without attribute names."""
    return [f"attribute_{i + 1}" for i in range(n_attributes)]
