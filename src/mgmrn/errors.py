"""User-facing errors: one clear message, no traceback, non-zero exit."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """An error caused by the user's input (files, config, command line).

    The CLI prints ``error: <message>`` and exits with status 2; no traceback.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)
