"""Self-contained checkpoints: weights plus everything needed to classify new images."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from mgmrn.config import from_dict, upgrade_saved
from mgmrn.errors import UserError
from mgmrn.models.mgmrn import MgMRN
from mgmrn.utils.io import save_torch
from mgmrn.utils.paths import LAST as LAST  # re-exported
from mgmrn.utils.paths import SELECTED as SELECTED
from mgmrn.utils.paths import resolve_checkpoint

# what every checkpoint holds (a model's weights and all a prediction needs besides them)
REQUIRED = ("config", "model", "classes", "attributes", "attribute_names", "seen", "unseen")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically (a crash never leaves a truncated file)."""
    save_torch(path, state)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint (file or run directory) on the CPU, with a clear error if unreadable."""
    path = resolve_checkpoint(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise UserError(f"not a readable mgmrn checkpoint ({type(exc).__name__}: {exc})", path) from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise UserError("not an mgmrn checkpoint (missing model/config)", path)
    missing = [key for key in REQUIRED if key not in state]
    if missing or not isinstance(state["model"], dict) or not isinstance(state["config"], dict):
        raise UserError(f"damaged checkpoint: {'no ' + ', '.join(missing) if missing else 'model or config is not a mapping'}",
                        path)
    upgrade_saved(state["config"])
    check_weights(state, path)
    return state


def expected_shapes(state: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The weight shapes of the model a checkpoint's config describes (built on the meta device)."""
    cfg = from_dict(state["config"])
    vectors = state.get("attribute_vectors")
    with torch.device("meta"):
        model = MgMRN(dataclasses.replace(cfg.model, pretrained="none"), len(state["attribute_names"]),
                      None if vectors is None else torch.empty(tuple(vectors.shape)))
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def check_weights(state: dict[str, Any], path: str | Path) -> None:
    """A one-line UserError unless the checkpoint's weights are those of its config's model."""
    try:
        expected = expected_shapes(state)
    except UserError as exc:
        raise UserError(f"damaged checkpoint: its config: {exc}", path) from None
    got = {key: tuple(getattr(value, "shape", (None,))) for key, value in state["model"].items()}
    problems = [f"{len(keys)} {what} (e.g. {keys[0]})" for what, keys in (
        ("weights missing", [k for k in expected if k not in got]),
        ("unknown weights", [k for k in got if k not in expected]),
        ("weights of the wrong shape", [k for k in expected if k in got and got[k] != expected[k]]),
    ) if keys]
    if problems:
        raise UserError(f"damaged checkpoint: {'; '.join(problems)} for the model of its config", path)
