"""Which precision the model runs in (``train.amp``), as the hardware allows.

``auto`` picks bf16 autocast only where bf16 is fast: on a GPU that supports it (else fp16,
with loss scaling) and on a CPU with native bf16 units (AVX512-BF16 or AMX). Elsewhere a CPU
emulates bf16, many times slower than float32, so ``auto`` keeps float32 there; an explicit
``bf16`` is honoured with a one-line warning. Training, evaluation and prediction use the
same rule.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys

import torch


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX tiles) and oneDNN, which
    runs the matrix products, may use it (``ONEDNN_MAX_CPU_ISA`` can cap it below that)."""
    hardware = any(bool(getattr(torch.cpu, name, lambda: False)())
                   for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    onednn = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)()
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    return hardware and bool(onednn) and (isa in ("ALL", "DEFAULT") or any(w in isa for w in ("BF16", "AMX", "AVX10")))


@functools.cache
def _warn_emulated() -> None:
    """One line on stderr, once per process."""
    print("mgmrn: warning: train.amp=bf16 on a CPU without native bf16 (no AVX512-BF16 or AMX): bf16 is "
          "emulated here, many times slower than float32 (train.amp=auto chooses float32)", file=sys.stderr)


def amp_dtype(device: torch.device, amp: str) -> torch.dtype | None:
    """The autocast dtype ``amp`` gives on ``device`` (None: float32)."""
    if amp == "none" or device.type not in ("cpu", "cuda"):
        return None
    if device.type == "cpu":
        if amp == "bf16" and not cpu_has_native_bf16():
            _warn_emulated()
        native = amp == "auto" and cpu_has_native_bf16()
        return torch.bfloat16 if amp == "bf16" or native else None
    if amp == "fp16" or (amp == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


def precision_name(device: torch.device, amp: str) -> str:
    """``float32``, ``bfloat16`` or ``float16``: what ``amp`` runs in on ``device``."""
    dtype = amp_dtype(device, amp)
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """Mixed precision as :func:`amp_dtype` says (a no-op when it says float32)."""
    dtype = amp_dtype(device, amp)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
