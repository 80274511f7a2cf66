"""On-disk feature cache for frozen-backbone training.

With ``train.freeze_backbone`` the backbone's stage maps of every image are extracted once,
with the augmentation-free (test) transform, and stored as
memory-mapped float16 arrays, one file per stage: ``<cache_dir>/<key>/stage-<k>.npy``
where ``k`` counts stages from the last one (``1`` = last) so runs with different L share
files. ``key`` hashes the backbone name, its weights, the image size, the transform and the
image list (absolute paths and a digest of each file's bytes); any change gives a new key,
while a copy of the same files with new modification times (a fresh checkout or copy of the
data to the same place) keeps it. Files are written
to a temporary name and renamed when complete.

One process writes a cache at a time (an exclusive ``fcntl.flock`` on ``<key>/.lock``, which
the operating system releases when the process ends, however it ends). Under that lock,
:meth:`FeatureCache.repair` deletes what killed writes left (temporary files) and damaged
files: a stage file whose size is not what its header says (cut short) or whose rows are not
the image list's, an unreadable ``skipped.json``; they are then extracted again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from mgmrn.utils.io import write_json
from mgmrn.utils.process import alive

_STAGE = re.compile(r"^stage-\d+\.npy$")
_TEMP = re.compile(r"^stage-\d+\.tmp(\d+)\.npy$")  # extract()'s temporary files: the writer's pid
from mgmrn.utils.progress import progress


def images_fingerprint(paths: Sequence[str]) -> bytes:
    """What the cache key takes from the images: each one's absolute path and a digest of
    its bytes (reads every image once: about 0.2 s for CUB-100's 65 MB)."""
    records = []
    for p in paths:
        content = hashlib.blake2b(Path(p).read_bytes(), digest_size=16).hexdigest()
        records.append(f"{os.path.abspath(p)}\0{content}\n")
    return "".join(records).encode()


def cache_key(backbone: str, weights_id: str, image_size: int, transform: str, images: bytes) -> str:
    """A digest of everything the cached features depend on (``images``: :func:`images_fingerprint`)."""
    h = hashlib.sha256()
    h.update(json.dumps([backbone, weights_id, image_size, transform]).encode())
    h.update(images)
    return h.hexdigest()[:20]


class FeatureCache:
    """Stage maps of a fixed list of images, extracted once and memory-mapped."""

    def __init__(self, folder: Path, paths: Sequence[str]) -> None:
        self.folder = folder
        self.paths = list(paths)
        self.row = {p: i for i, p in enumerate(self.paths)}
        self.arrays: list[np.ndarray] = []
        self._skipped: set[str] | None = None

    def file(self, from_last: int) -> Path:
        return self.folder / f"stage-{from_last}.npy"

    @property
    def skipped_file(self) -> Path:
        return self.folder / "skipped.json"

    @property
    def skipped(self) -> set[str]:
        """Images the extraction could not read (they have no maps; see ``data.on_corrupt``)."""
        if self._skipped is None:
            self._skipped = set(self._read_skipped() or []) if self.skipped_file.is_file() else set()
        return self._skipped

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Inside: this process is the cache's only writer (waits for another one's extraction)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield  # closing the file releases the lock

    def repair(self, stages: int) -> list[str]:
        """Under :meth:`locked`: delete the leftovers of killed writes, and damaged files (so
        that they are extracted again); returns the damaged files' names."""
        for entry in self.folder.iterdir():
            temp = _TEMP.match(entry.name)
            written = entry.name.startswith(".") and entry.name.endswith(".tmp")  # utils/io.py's
            if (temp and not alive(int(temp.group(1)))) or written:
                entry.unlink(missing_ok=True)
        damaged = [self.file(k) for k in range(1, stages + 1) if self.file(k).is_file() and not self._intact(self.file(k))]
        if self.skipped_file.is_file() and self._read_skipped() is None:  # which images have no maps is lost
            damaged = [self.skipped_file, *(p for p in self.folder.iterdir() if _STAGE.match(p.name))]
        for path in damaged:
            path.unlink()
        self._skipped = None
        return [path.name for path in damaged]

    def _intact(self, path: Path) -> bool:
        """Whether a stage file holds one row per image and is as long as its header says."""
        try:
            with open(path, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(handle)
                size = handle.tell() + int(np.prod(shape)) * dtype.itemsize
        except (OSError, ValueError):
            return False
        return len(shape) == 4 and shape[0] == len(self.paths) and path.stat().st_size == size

    def _read_skipped(self) -> list[str] | None:
        """``skipped.json``'s list of image paths, or ``None`` when it is not one."""
        try:
            skipped = json.loads(self.skipped_file.read_text())
        except (OSError, ValueError):
            return None
        return skipped if isinstance(skipped, list) and all(isinstance(p, str) for p in skipped) else None

    def missing(self, stages: int) -> list[int]:
        """Stage numbers (counted from the last, 1-based) not cached yet."""
        return [k for k in range(1, stages + 1) if not self.file(k).is_file()]

    @torch.no_grad()
    def extract(self, backbone: torch.nn.Module, loader: DataLoader, stages: int, device: torch.device) -> float:
        """Run the backbone over ``loader`` (fixed order, yields images, labels, indices) and
        write the missing stages. Returns images per second."""
        missing = self.missing(stages)
        if not missing:
            return 0.0
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[int, np.memmap] = {}
        tmp: dict[int, Path] = {}
        written = np.zeros(len(self.paths), dtype=bool)
        backbone.eval()
        start = time.perf_counter()
        for images, _, index in progress(loader, "extracting features", leave=True):
            maps = backbone(images.to(device))
            for k in missing:
                f = maps[-k].float().cpu().numpy().astype(np.float16)
                if k not in arrays:
                    tmp[k] = self.file(k).with_suffix(f".tmp{os.getpid()}.npy")
                    arrays[k] = np.lib.format.open_memmap(
                        tmp[k], mode="w+", dtype=np.float16, shape=(len(self.paths), *f.shape[1:])
                    )
                arrays[k][index.numpy()] = f
            written[index.numpy()] = True
        rate = len(self.paths) / max(time.perf_counter() - start, 1e-9)
        # unreadable images skipped by the loader (data.on_corrupt=skip) have no maps
        skipped = [p for p, ok in zip(self.paths, written) if not ok]
        write_json(self.skipped_file, skipped)
        self._skipped = set(skipped)
        for k, arr in arrays.items():
            arr.flush()
            os.replace(tmp[k], self.file(k))
        write_json(self.folder / "images.json", self.paths)
        return rate

    def open(self, stages: int) -> list[np.ndarray]:
        """The cached arrays of the last ``stages`` stages, finest first (memory-mapped)."""
        return [np.load(self.file(k), mmap_mode="r") for k in range(stages, 0, -1)]


class CachedMaps(Dataset):
    """Samples ``(stage maps, label, index)`` read from a :class:`FeatureCache`'s arrays."""

    def __init__(self, arrays: list[np.ndarray], rows: Sequence[int], labels: Sequence[int]) -> None:
        self.arrays = arrays
        self.rows = np.asarray(rows)
        self.labels = np.asarray(labels)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[list[Tensor], int, int]:
        r = self.rows[i]
        maps = [torch.from_numpy(np.array(a[r], dtype=np.float32)) for a in self.arrays]
        return maps, int(self.labels[i]), i
