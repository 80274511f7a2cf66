"""User-facing errors: one clear message, no traceback, non-zero exit."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable


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


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``: did you mean 'X'?`` for the choice closest to a mistyped ``word``, or ``''``."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f": did you mean '{close[0]}'?" if close else ""
