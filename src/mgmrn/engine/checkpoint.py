"""Self-contained checkpoints: weights plus everything needed to classify new images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mgmrn.config import upgrade_saved
from mgmrn.errors import UserError
from mgmrn.utils.io import save_torch

SELECTED = "model.pt"  # the selected model of a run directory
LAST = "last.pt"  # the latest training state (for --resume)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically (a crash never leaves a truncated file)."""
    save_torch(path, state)


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run directory (its selected model)."""
    path = Path(path)
    if path.is_dir():
        for name in (SELECTED, LAST):
            if (path / name).is_file():
                return path / name
        raise UserError(f"no checkpoint in run directory (expected {SELECTED})", path)
    if not path.is_file():
        raise UserError("checkpoint not found", path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint (file or run directory) on the CPU, with a clear error if unreadable."""
    path = resolve_checkpoint(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise UserError(f"not a readable mgmrn checkpoint ({type(exc).__name__}: {exc})", path) from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise UserError("not an mgmrn checkpoint (missing model/config)", path)
    upgrade_saved(state["config"])
    return state
