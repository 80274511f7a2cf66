"""Range checks of numeric configuration values: one-line UserErrors that name the key."""

from __future__ import annotations

from mgmrn.errors import UserError

FLOAT32_MAX = 3.4028234663852886e38  # larger rates and weights overflow the float32 tensors they scale


def require(key: str, value: float | None, low: float | None = None, high: float | None = None, *,
            above: bool = False, below: bool = False) -> None:
    """A UserError naming ``key`` unless ``low <= value <= high`` (``above``: ``low < value``;
    ``below``: ``value < high``); NaN never passes, ``None`` (an unset optional) always does."""
    if value is None:
        return
    fits = value == value  # not NaN
    if low is not None:
        fits = fits and (value > low if above else value >= low)
    if high is not None:
        fits = fits and (value < high if below else value <= high)
    if fits:
        return
    if low is not None and high is not None:
        rule = f"in {'(' if above else '['}{_show(low)}, {_show(high)}{')' if below else ']'}"
    elif low is not None:
        rule = f"{'>' if above else '>='} {_show(low)}"
    else:
        rule = f"{'<' if below else '<='} {_show(high)}"
    raise UserError(f"{key} must be {rule}, got {value!r}")


def _show(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"
