"""One optimiser step on Eq. (13)'s loss, with the mixed precision of ``train.amp``."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor

from mgmrn.errors import UserError
from mgmrn.runtime.precision import amp_dtype, autocast


class Stepper:
    """Holds the optimiser and what a step needs besides it: the forward pass's autocast and,
    under fp16, the gradient scaler."""

    def __init__(self, optimizer: torch.optim.Optimizer, device: torch.device, amp: str) -> None:
        self.optimizer, self.device, self.amp = optimizer, device, amp
        fp16 = amp_dtype(device, amp) == torch.float16
        self.scaler = torch.amp.GradScaler("cuda") if fp16 else None

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context of the forward pass."""
        return autocast(self.device, self.amp)

    def step(self, loss: Tensor) -> float:
        """Back-propagate ``loss`` and update the weights; returns the loss's value."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return float(loss.detach())

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint entries ``optimizer`` and ``scaler``."""
        return {"optimizer": self.optimizer.state_dict(),
                "scaler": None if self.scaler is None else self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint's entries; a UserError if they do not fit this optimiser."""
        try:
            self.optimizer.load_state_dict(state["optimizer"])  # rates: set from the config each epoch
            if self.scaler is not None and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"the checkpoint's optimiser state does not fit this run ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else 'missing'})") from None
