"""Evaluation configuration: ``eval.*``."""

from __future__ import annotations

from dataclasses import dataclass

from mgmrn.bounds import FLOAT32_MAX, require
from mgmrn.errors import UserError
from mgmrn.utils.settings import setting

GRID_POINTS = 1_000_000  # the most gammas eval.gamma_steps may sweep


@dataclass
class EvalConfig:
    """Evaluation protocol: honest (validation-chosen) calibration by default."""

    calibration: str = setting("val", "how the GZSL gamma is chosen: val (on held-out seen classes) | "
                                      "test-sweep (best H on test, the reference protocol) | fixed (eval.fixed_gamma)")
    fixed_gamma: float = setting(0.0, "the gamma subtracted from the seen classes' scores when calibration is fixed")
    gamma_steps: list[float] = setting([], "gammas swept (val, test-sweep): [] the exact grid (every operating "
                                           "point) | [lo, hi, step] a regular grid (reference: step 0.01)")
    batch_size: int = setting(64, "evaluation and feature-extraction batch")

    def __post_init__(self) -> None:
        if self.gamma_steps and len(self.gamma_steps) != 3:
            raise UserError(f"eval.gamma_steps must be [] or [lo, hi, step], got {self.gamma_steps}")
        if self.gamma_steps:
            lo, hi, step = self.gamma_steps
            require("eval.gamma_steps' step", step, 0.0, above=True)
            require("eval.gamma_steps' hi", hi, lo)
            require("eval.gamma_steps' number of gammas", (hi - lo) / step + 1, 1, GRID_POINTS)
        require("eval.batch_size", self.batch_size, 1)
        require("eval.fixed_gamma", self.fixed_gamma, -FLOAT32_MAX, FLOAT32_MAX)
        if self.calibration not in ("val", "test-sweep", "fixed"):
            raise UserError(
                f"eval.calibration must be val, test-sweep or fixed, got '{self.calibration}'"
            )
