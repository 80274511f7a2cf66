"""User-facing errors: one clear message, no traceback, non-zero exit."""

from __future__ import annotations

from pathlib import Path


# characters that end a line (str.splitlines), shown escaped: the input they come from is shown
# as it is, and a message stays one line
_BREAKS = {ord(c): c.encode("unicode_escape").decode() for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


class UserError(Exception):
    """An error caused by the user's input (files, config, command line).

    The CLI prints ``error: <message>`` and exits with status 2; no traceback. The message is
    one line: line breaks in it (from the input it names) are escaped.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        text = f"{self.path}: {message}" if self.path else message
        super().__init__(text.translate(_BREAKS))
