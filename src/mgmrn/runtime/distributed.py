"""torchrun / DistributedDataParallel support and device selection."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device). Initialises the process group under ``torchrun``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier() -> None:
    """Wait for every process (no-op without DDP)."""
    if dist.is_initialized():
        dist.barrier()


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 without DDP)."""
    if not dist.is_initialized():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def shard(n: int) -> list[int]:
    """This rank's indices of ``range(n)``: every index on exactly one rank (no padding)."""
    if not dist.is_initialized():
        return list(range(n))
    return list(range(dist.get_rank(), n, dist.get_world_size()))


def gather_rows(index: torch.Tensor, rows: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Reassemble per-rank (index, rows) shards into an (n, ...) tensor on every rank, and the
    (n,) mask of the rows that came back (samples skipped as unreadable do not)."""
    parts: list[object] = [(index.cpu(), rows.cpu())]
    if dist.is_initialized():
        parts = [None] * dist.get_world_size()
        dist.all_gather_object(parts, (index.cpu(), rows.cpu()))
    shapes = [part.shape[1:] for _, part in parts if len(part)]  # type: ignore[misc]
    out = rows.new_zeros((n, *(shapes[0] if shapes else rows.shape[1:]))).cpu()
    present = torch.zeros(n, dtype=torch.bool)
    for idx, part in parts:  # type: ignore[misc]
        if present[idx].any() or len(torch.unique(idx)) != len(idx):
            raise RuntimeError("an evaluation sample was gathered twice")
        present[idx] = True
        out[idx] = part
    return out, present


def all_sum(values: list[float]) -> list[float]:
    """Each value summed over the processes (the values themselves without DDP)."""
    if not dist.is_initialized():
        return values
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()
