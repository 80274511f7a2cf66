"""The paths a command names, checked before anything heavy (torch) is imported: a mistyped
run folder or file fails at once, in one line naming the closest existing name."""

from __future__ import annotations

from pathlib import Path

from mgmrn.errors import UserError, did_you_mean

SELECTED = "model.pt"  # the selected model of a run directory
LAST = "last.pt"  # the latest training state (for --resume)


def missing(path: Path, what: str) -> UserError:
    """``PATH: WHAT not found``, with the closest name beside it when one is close."""
    parent = path.parent
    try:
        names = [str(parent / p.name) if str(parent) != "." else p.name for p in parent.iterdir()]
    except OSError:
        names = []
    return UserError(f"{what} not found{did_you_mean(str(path), names)}", path)


def require_file(path: str | Path, what: str) -> Path:
    """``path``, an existing file; a UserError naming it (and the closest name) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise missing(path, what) if not path.exists() else UserError(f"not a file (expected a {what})", path)
    return path


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run directory's (its selected model, else its latest state)."""
    path = Path(path)
    if path.is_dir():
        for name in (SELECTED, LAST):
            if (path / name).is_file():
                return path / name
        raise UserError(f"no checkpoint in run directory (expected {SELECTED})", path)
    if not path.is_file():
        raise missing(path, "checkpoint")
    return path


def require_run(path: str | Path) -> Path:
    """A run folder of ``mgmrn train`` (with its ``model.pt``)."""
    path = Path(path)
    if not path.is_dir():
        raise missing(path, "run folder") if not path.exists() else UserError("not a run folder (a file)", path)
    if not (path / SELECTED).is_file():
        raise UserError(f"not a run folder (no {SELECTED}; mgmrn train writes one)", path)
    return path
