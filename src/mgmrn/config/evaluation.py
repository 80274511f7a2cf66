"""Evaluation configuration: ``eval.*``."""

from __future__ import annotations

from dataclasses import dataclass, field

from mgmrn.bounds import FLOAT32_MAX, require
from mgmrn.errors import UserError

GRID_POINTS = 1_000_000  # the most gammas eval.gamma_steps may sweep


@dataclass
class EvalConfig:
    """Evaluation protocol: honest (validation-chosen) calibration by default."""

    calibration: str = "val"  # val | test-sweep | fixed
    gamma: float = 0.0  # used when calibration is fixed
    # gammas swept (val and test-sweep): [] = the exact grid (every distinct operating point);
    # [lo, hi, step] = a regular grid (the reference code sweeps steps of 0.01)
    gamma_steps: list[float] = field(default_factory=list)
    batch_size: int = 64  # evaluation and feature-extraction batch

    def __post_init__(self) -> None:
        if self.gamma_steps and len(self.gamma_steps) != 3:
            raise UserError(f"eval.gamma_steps must be [] or [lo, hi, step], got {self.gamma_steps}")
        if self.gamma_steps:
            lo, hi, step = self.gamma_steps
            require("eval.gamma_steps' step", step, 0.0, above=True)
            require("eval.gamma_steps' hi", hi, lo)
            require("eval.gamma_steps' number of gammas", (hi - lo) / step + 1, 1, GRID_POINTS)
        require("eval.batch_size", self.batch_size, 1)
        require("eval.gamma", self.gamma, -FLOAT32_MAX, FLOAT32_MAX)
        if self.calibration not in ("val", "test-sweep", "fixed"):
            raise UserError(
                f"eval.calibration must be val, test-sweep or fixed, got '{self.calibration}'"
            )
