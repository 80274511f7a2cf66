"""A run directory: one owning process at a time, a clean start for a new run, no leftovers.

The process that trains a run holds an exclusive ``fcntl.flock`` on ``<run>/.lock`` while it
runs. The operating system releases it when the process ends in any way (SIGKILL too), so a
killed run never leaves it stuck; a second process fails at once with one line. Under the
lock, temporary files of writes that a killed process left (``utils/io.py``'s
``.<name>.*.tmp``) are deleted, and a new run first moves the old run's files aside (each
rename atomic) and then deletes them, so nothing of the old run is mistaken for the new one's.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO

from mgmrn.errors import UserError
from mgmrn.utils.paths import LAST, SELECTED

LOCK = ".lock"
# what a run writes (besides the lock): mgmrn train, and mgmrn report's default output
RUN_FILES = (LAST, SELECTED, "config.yaml", "log.csv", "metrics.json", "tb", "report_cache.npz", "report")
ASIDE = ".replaced-"  # prefix of the folder an old run's files are moved into before deletion


class RunFolder:
    """Ownership and the files of the run directory ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock: IO[str] | None = None

    def claim(self) -> None:
        """Become the run's only owner, or a UserError naming the process that is."""
        if self.path.exists() and not self.path.is_dir():
            raise UserError("--output must be a directory, and this is a file", self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / LOCK, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            handle.close()
            raise UserError(f"in use by another mgmrn process (pid {owner}): wait for it to end, "
                            "or choose another --output", self.path) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def remove_leftovers(self) -> None:
        """Temporary files of killed writes, and old runs' files a killed process left aside."""
        for entry in self.path.iterdir():
            if entry.name.startswith(ASIDE) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file():
                entry.unlink(missing_ok=True)

    def start(self, resume: bool, overwrite: bool) -> None:
        """Ready the folder for the run (owned: :meth:`claim`): ``resume`` needs its
        ``last.pt``; a new run needs a folder without one (or ``overwrite``) and starts with
        none of an earlier run's files."""
        self.remove_leftovers()
        holds_run = (self.path / LAST).exists()
        if resume:
            if not holds_run:
                raise UserError(f"nothing to resume: no {LAST}", self.path)
            return
        if holds_run and not overwrite:
            raise UserError("already holds a run: continue it with --resume, replace it with --overwrite, "
                            "or choose another --output", self.path)
        self.clear()

    def clear(self) -> None:
        """Move every file of an earlier run aside (``last.pt`` first: the folder then no
        longer holds a run), then delete them."""
        found = [self.path / name for name in RUN_FILES if (self.path / name).exists()]
        if not found:
            return
        aside = Path(tempfile.mkdtemp(prefix=ASIDE, dir=self.path))
        for entry in found:
            os.replace(entry, aside / entry.name)
        shutil.rmtree(aside)
