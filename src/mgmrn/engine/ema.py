"""Exponential moving average of a model's weights (``train.ema_decay``; not in the paper).

After every optimiser step the average moves towards the trained weights:
``avg = d * avg + (1 - d) * w``, with ``d = min(decay, (1 + t) / (10 + t))`` at step ``t``
(the warm-up of TensorFlow's ``ExponentialMovingAverage``, so that the randomly
initialised weights fade out quickly; on a short run it is the decay: 0.982 at step 500).
Validation, model selection, the saved model and the test use the average.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch import Tensor, nn


class WeightAverage:
    """The average of ``model``'s trainable parameters and floating-point buffers.

    Frozen parameters (``requires_grad=False`` when the average is created, e.g. a frozen
    backbone) are not tracked: they do not change.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay, self.steps = decay, 0
        frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
        state = model.state_dict()  # shares storage with the parameters and buffers
        self.names = [k for k, v in state.items() if v.is_floating_point() and k not in frozen]
        self._live = [state[k] for k in self.names]
        self.shadow = [t.clone() for t in self._live]

    @torch.no_grad()
    def update(self) -> None:
        """One step towards the current weights."""
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_(self.shadow, self._live, 1.0 - d)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The model holds the averaged weights inside this block, its own weights after it."""
        backup = [t.clone() for t in self._live]
        _copy(self._live, self.shadow)
        try:
            yield
        finally:
            _copy(self._live, backup)

    def averaged_state(self, model: nn.Module) -> dict[str, Tensor]:
        """``model.state_dict()`` with the averaged weights in place of the tracked ones."""
        state = dict(model.state_dict())
        state.update({k: v.clone() for k, v in zip(self.names, self.shadow)})
        return state

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "names": list(self.names), "shadow": [t.clone() for t in self.shadow]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if list(state["names"]) != self.names:
            raise ValueError("the saved weight average tracks other weights than this model's")
        self.steps = int(state["steps"])
        _copy(self.shadow, state["shadow"])


@torch.no_grad()
def _copy(targets: list[Tensor], sources: list[Tensor]) -> None:
    for target, source in zip(targets, sources):
        target.copy_(source)
