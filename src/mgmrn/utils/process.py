"""Processes: whether the writer of a lock or temporary file is still running."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether process ``pid`` is running (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
