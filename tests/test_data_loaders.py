"""Samplers, transforms, loaders and corrupt-image handling."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mgmrn.data.build import Sampling, build_transforms, make_batch_sampler, make_loader
from mgmrn.data.config import DataConfig
from mgmrn.data.images import check_images, read_image
from mgmrn.data.samplers import EpisodicBatchSampler, RandomBatchSampler
from mgmrn.data.splits import make_val_split
from mgmrn.errors import UserError

MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


@pytest.fixture
def samples(tmp_path: Path) -> list[tuple[str, int]]:
    """12 small images of 4 classes (labels 3, 5, 8, 9: global indices, not 0..3)."""
    out = []
    for i in range(12):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (40, 30), (10 * i, 100, 50)).save(path)
        out.append((str(path), (3, 5, 8, 9)[i % 4]))
    return out


def corrupt(samples: list[tuple[str, int]], tmp_path: Path) -> tuple[str, str]:
    """Replace image 1 by a truncated JPEG and image 2 by a text file named .png."""
    jpeg = tmp_path / "1.jpg"
    Image.fromarray((np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8)).save(jpeg)
    jpeg.write_bytes(jpeg.read_bytes()[:300])
    Path(samples[2][0]).write_text("not an image")
    samples[1] = (str(jpeg), samples[1][1])
    return str(jpeg), samples[2][0]


def test_transforms() -> None:
    image = Image.new("RGB", (90, 60), (128, 128, 128))
    train = build_transforms(32, MEAN, STD, train=True)(image)
    test = build_transforms(32, MEAN, STD, train=False)
    assert train.shape == test(image).shape == (3, 32, 32)
    assert torch.allclose(test(image), torch.full((3, 32, 32), 128 / 255 * 2 - 1), atol=1e-6)
    gradient = Image.fromarray(np.tile(np.arange(90, dtype=np.uint8) * 2, (60, 1)))
    assert torch.equal(test(gradient.convert("RGB")), test(gradient.convert("RGB")))
    flips = {tuple(build_transforms(32, MEAN, STD, train=True)(gradient.convert("RGB"))[0, 0, :2].tolist())
             for _ in range(20)}
    assert len(flips) > 1  # random crops / flips differ


def test_crop_pct_sets_how_much_of_the_image_the_test_crop_keeps() -> None:
    # a square image with a 4-pixel black border: crop_pct 1 keeps it, 0.8 cuts it off
    image = Image.new("RGB", (40, 40), (0, 0, 0))
    image.paste((255, 255, 255), (4, 4, 36, 36))
    whole = build_transforms(40, (0, 0, 0), (1, 1, 1), train=False, crop_pct=1.0)(image)
    cropped = build_transforms(32, (0, 0, 0), (1, 1, 1), train=False, crop_pct=0.8)(image)
    assert whole.shape == (3, 40, 40) and whole[0, 0, 0] == 0 and whole[0, 20, 20] == 1
    assert cropped.shape == (3, 32, 32) and torch.equal(cropped, torch.ones(3, 32, 32))
    with pytest.raises(UserError, match="data.crop_pct"):
        DataConfig(crop_pct=1.5)


def test_random_sampler_is_seeded_per_epoch() -> None:
    a, b = RandomBatchSampler(10, 4, seed=1), RandomBatchSampler(10, 4, seed=1)
    first, second = list(a), list(a)
    assert first == list(b) and first != second
    assert len(first) == 2 and all(len(batch) == 4 for batch in first)
    a.set_epoch(0)
    assert list(a) == first
    fixed = RandomBatchSampler(10, 4, batches_per_epoch=7)
    assert len(list(fixed)) == 7 == len(fixed)
    assert list(RandomBatchSampler(3, 8)) and len(list(RandomBatchSampler(3, 8))[0]) == 3


def test_episodic_sampler() -> None:
    labels = [0] * 5 + [1] * 3 + [2] * 1 + [3] * 6
    sampler = EpisodicBatchSampler(labels, ways=3, shots=2, batches_per_epoch=20, seed=0)
    for batch in sampler:
        counts = Counter(labels[i] for i in batch)
        assert len(batch) == 6 and len(counts) == 3 and set(counts.values()) == {2}
        for cls in counts:
            picked = [i for i in batch if labels[i] == cls]
            assert len(set(picked)) == (1 if cls == 2 else 2)  # one image: drawn twice
    assert len(EpisodicBatchSampler(labels, ways=8, shots=2)) == 15 // 8


def test_test_batches_keep_order() -> None:
    batches = list(make_batch_sampler(list(range(7)), 3, train=False))
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]


def test_loaders(samples: list[tuple[str, int]]) -> None:
    transform = build_transforms(16, MEAN, STD, train=True)
    loader = make_loader(samples, transform, 4, train=True, sampling=Sampling(seed=3))
    images, labels, indices = next(iter(loader))
    assert images.shape == (4, 3, 16, 16) and labels.dtype == torch.int64
    assert [samples[i][1] for i in indices.tolist()] == labels.tolist()
    assert len(loader) == 3
    episodic = make_loader(samples, transform, 4, train=True,
                           sampling=Sampling("episodic", ways=2, shots=3, batches_per_epoch=2))
    for _, labels, _ in episodic:
        assert sorted(Counter(labels.tolist()).values()) == [3, 3]
    test = make_loader(samples, build_transforms(16, MEAN, STD, train=False), 5, train=False)
    assert torch.cat([b[2] for b in test]).tolist() == list(range(12))
    assert torch.cat([b[1] for b in test]).tolist() == [y for _, y in samples]


def test_corrupt_images_stop(samples: list[tuple[str, int]], tmp_path: Path) -> None:
    truncated, text = corrupt(samples, tmp_path)
    test = build_transforms(16, MEAN, STD, train=False)
    with pytest.raises(UserError, match=rf"{truncated}: truncated image file \(set data.on_corrupt=skip"):
        list(make_loader(samples, test, 4, train=False))
    with pytest.raises(UserError, match=rf"{text}: not an image file"):
        read_image(text)
    assert check_images(samples) == [(truncated, "truncated image file"),
                                     (text, "not an image file (cannot identify its format)")]


def test_corrupt_image_stops_from_a_worker(samples: list[tuple[str, int]], tmp_path: Path) -> None:
    truncated, _ = corrupt(samples, tmp_path)
    loader = make_loader(samples, build_transforms(16, MEAN, STD, train=False), 4, train=False, workers=2)
    with pytest.raises(UserError, match=rf"^{truncated}: truncated image file"):
        list(loader)


def test_corrupt_images_skip(samples: list[tuple[str, int]], tmp_path: Path) -> None:
    truncated, text = corrupt(samples, tmp_path)
    loader = make_loader(samples, build_transforms(16, MEAN, STD, train=False), 4, train=False,
                         on_corrupt="skip")
    indices = torch.cat([b[2] for b in loader]).tolist()
    assert indices == [0, *range(3, 12)]
    assert loader.skipped == {truncated: 1, text: 1}
    list(loader)
    assert loader.skipped[truncated] == 2


def test_val_split_is_seeded() -> None:
    train = [(f"{i}.png", i % 10) for i in range(200)]
    seen = np.arange(10)
    a = make_val_split(train, seen, 0.3, 0.25, seed=4)
    assert a.val_unseen_classes.tolist() == make_val_split(train, seen, 0.3, 0.25, seed=4).val_unseen_classes.tolist()
    assert a.val_unseen_classes.tolist() != make_val_split(train, seen, 0.3, 0.25, seed=5).val_unseen_classes.tolist()
    assert len(a.val_unseen_classes) == 3 and len(a.val_unseen) == 60
    assert len(a.val_seen) == 7 * 5 and len(a.train_sub) == 7 * 15
    none = make_val_split(train, seen, 0.0, 0.0, seed=0)
    assert none.train_sub == train and none.val_seen == none.val_unseen == []
