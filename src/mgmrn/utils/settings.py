"""Config fields that carry their one-line help (``mgmrn config`` prints it beside each key)."""

from __future__ import annotations

import dataclasses
from typing import Any


def setting(default: Any, help: str) -> Any:
    """A dataclass field with ``default`` (a list is copied for each instance) and its help."""
    metadata = {"help": help}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def help_of(field: dataclasses.Field) -> str:
    """The one-line help of a config field ("" if it has none)."""
    return str(field.metadata.get("help", ""))
