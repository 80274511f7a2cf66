"""The classes a predictor ranks among, read from a class-attribute CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mgmrn.data.folder import read_class_attributes
from mgmrn.errors import UserError


def candidate_classes(path: Path, attribute_names: list[str],
                      text: str | None = None) -> tuple[list[str], np.ndarray]:
    """Read a class-attribute CSV: class names and raw values, columns in the model's attribute
    order (``text``: its content when it is not a file, see ``read_class_attributes``)."""
    names, values, columns = read_class_attributes(path, text)
    missing = [a for a in attribute_names if a not in columns]
    unknown = [c for c in columns if c not in attribute_names]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing attribute columns {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unknown:
            parts.append(f"unknown attribute columns {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
        raise UserError("; ".join(parts) + f" (the model knows {len(attribute_names)} attributes)", path)
    order = [columns.index(a) for a in attribute_names]
    return names, values[:, order]
