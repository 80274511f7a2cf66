"""Training batch samplers: random batches and episodic (ways x shots) batches.

Both are seeded: epoch ``e`` of a sampler with seed ``s`` always yields the same batches.
Each pass over a sampler is the next epoch (or set it with :meth:`set_epoch`).
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np


class _SeededSampler:
    """Epoch bookkeeping shared by the samplers."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass yield the batches of ``epoch``."""
        self.epoch = epoch

    def _next_rng(self) -> np.random.Generator:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        return rng


class RandomBatchSampler(_SeededSampler):
    """Shuffled batches of ``batch_size`` indices; the last partial batch is dropped.

    ``batches_per_epoch`` > 0 fixes the epoch length, reshuffling as often as needed;
    0 means one pass over the data (one batch of everything if fewer than ``batch_size``).
    """

    def __init__(self, n: int, batch_size: int, batches_per_epoch: int = 0, seed: int = 0) -> None:
        super().__init__(seed)
        if n < 1:
            raise ValueError("cannot sample batches from an empty dataset")
        self.n = n
        self.batch_size = min(batch_size, n)
        self.batches = batches_per_epoch or n // self.batch_size

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = self._next_rng()
        order = np.empty(0, dtype=np.int64)
        for _ in range(self.batches):
            if len(order) < self.batch_size:
                order = rng.permutation(self.n)
            batch, order = order[: self.batch_size], order[self.batch_size:]
            yield batch.tolist()


class EpisodicBatchSampler(_SeededSampler):
    """Batches of ``ways`` random classes x ``shots`` random images of each.

    Images are drawn without replacement within a batch when a class has enough of them.
    ``batches_per_epoch`` 0 means about one pass: ``len(labels) // (ways * shots)`` batches.
    """

    def __init__(self, labels: Sequence[int], ways: int, shots: int,
                 batches_per_epoch: int = 0, seed: int = 0) -> None:
        super().__init__(seed)
        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) == 0:
            raise ValueError("cannot sample episodes from an empty dataset")
        self.classes = np.unique(labels)
        self.members = [np.flatnonzero(labels == c) for c in self.classes]
        self.ways = min(ways, len(self.classes))
        self.shots = shots
        self.batches = batches_per_epoch or max(1, len(labels) // (self.ways * shots))

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = self._next_rng()
        for _ in range(self.batches):
            batch: list[int] = []
            for c in rng.choice(len(self.classes), size=self.ways, replace=False):
                members = self.members[c]
                batch.extend(rng.choice(members, size=self.shots,
                                        replace=len(members) < self.shots).tolist())
            yield batch


class RankBatches:
    """Every ``world``-th batch of a batch sampler, from ``rank``: each DDP process trains on
    its own share of an epoch's batches (all ranks draw the same seeded sequence). Every
    rank gets the same number of batches (DDP steps in lockstep); a remainder is dropped."""

    def __init__(self, batches: Any, rank: int, world: int) -> None:
        self.batches, self.rank, self.world = batches, rank, world

    def __len__(self) -> int:
        return len(self.batches) // self.world

    def __iter__(self) -> Iterator[list[int]]:
        for i, batch in enumerate(self.batches):
            if i // self.world >= len(self):
                return
            if i % self.world == self.rank:
                yield batch
