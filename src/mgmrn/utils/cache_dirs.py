"""Where mgmrn keeps its caches by default (no heavy imports: ``mgmrn cache`` uses it)."""

from __future__ import annotations

import os
from pathlib import Path


def feature_cache_dir() -> Path:
    """The backbone stage maps' caches: ``$MGMRN_CACHE`` or ``~/.cache/mgmrn/features``."""
    return Path(os.environ.get("MGMRN_CACHE", Path.home() / ".cache" / "mgmrn" / "features"))


def data_cache_root(cache_dir: str = "") -> Path:
    """Generated data sets: ``cache_dir`` (``data.generated_dir``), or ``$XDG_CACHE_HOME/mgmrn`` or ``~/.cache/mgmrn``."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mgmrn"
