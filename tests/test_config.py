"""Typed configuration: presets plus ``--set`` overrides."""

from __future__ import annotations

import pytest

from mgmrn.config import load_config, preset_names
from mgmrn.errors import UserError


def test_overrides_are_typed_and_checked():
    cfg = load_config("cub100", ["train.lr=1e-4", "train.head_lr=1e-3", "train.freeze_bn=true",
                                 "train.frozen_epochs=10"])
    assert cfg.train.lr == 1e-4 and cfg.train.head_lr == 1e-3  # YAML 1.1 reads these as strings
    assert cfg.train.freeze_bn is True and cfg.train.frozen_epochs == 10
    for bad, key in (("train.lr=fast", "train.lr"), ("train.freeze_bn=maybe", "train.freeze_bn"),
                     ("train.frozen_epochs=-1", "train.frozen_epochs"),
                     ("loss.sc_weight=-0.1", "loss.sc_weight"),
                     ("train.mixup=0.4", "config key 'train.mixup' was removed"),
                     ("loss.label_smoothing=0", "config key 'loss.label_smoothing' was removed"),
                     ("model.norm_position=maps", "config key 'model.norm_position' was removed"),
                     ("eval.tta_flip=true", "config key 'eval.tta_flip' was removed"),
                     ("model.fusion_tokens=sum", "model.fusion_tokens must be concat or add"),
                     ("model.fusion_drop=1", "model.fusion_drop must be in"),
                     ("data.val_images=0", "data.val_images must be > 0 when data.val_classes > 0")):
        with pytest.raises(UserError, match=key):
            load_config("cub100", bad.split())


def test_every_preset_loads_and_the_fine_tuning_preset_extends_cub100():
    for name in preset_names():
        load_config(name, [])
    base, ft = load_config("cub100", []), load_config("cub100-ft", [])
    assert ft.model == base.model and ft.data == base.data
    assert not ft.train.freeze_backbone and ft.train.freeze_bn and 0 < ft.train.frozen_epochs < ft.train.epochs
    tuned, tuned_ft = load_config("cub100-tuned", []), load_config("cub100-tuned-ft", [])
    assert tuned.model == tuned_ft.model and tuned.model.fusion_tokens == "add" and base.model.fusion_tokens == "concat"
    assert tuned.model.hidden == 1024 > base.model.hidden
    assert tuned.model.fusion_drop == 0.3 and base.model.fusion_drop == 0.0
    assert tuned.loss.sc_weight == tuned_ft.loss.sc_weight > 0 == base.loss.sc_weight
    assert tuned.eval == tuned_ft.eval == base.eval
    assert tuned_ft.train.frozen_epochs == ft.train.frozen_epochs and tuned_ft.train.epochs > ft.train.epochs


def test_relative_paths_become_absolute_and_bases_resolve_beside_their_file(tmp_path, monkeypatch):
    """A run's saved config names its files absolutely; ``base:`` is found beside the file that
    names it; a ``base:`` loop and a YAML syntax error are one-line user errors."""
    from mgmrn.config import absolute_paths

    monkeypatch.chdir(tmp_path)
    cfg = load_config("cub100", ["data.w2v=none", "model.pretrained=weights/r101.pth"])
    absolute_paths(cfg)
    assert cfg.data.root == str((tmp_path / ".." / "shared/data/cub100").resolve())
    assert cfg.model.pretrained == str(tmp_path / "weights/r101.pth")
    assert cfg.data.w2v == "none" and cfg.train.feature_cache_dir == ""  # not paths: unchanged
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "parent.yaml").write_text("base: cub100\ntrain:\n  epochs: 3\n")
    (tmp_path / "sub" / "child.yaml").write_text("base: parent.yaml\ntrain:\n  lr: 0.01\n")
    child = load_config(str(tmp_path / "sub" / "child.yaml"))
    assert (child.train.epochs, child.train.lr, child.model.backbone) == (3, 0.01, "tf_efficientnet_lite0")
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(UserError, match="'base:' loops back to"):
        load_config("loop.yaml")
    (tmp_path / "broken.yaml").write_text("train:\n  epochs: [2\n")
    with pytest.raises(UserError, match=r"broken.yaml: invalid YAML at line 3, column 1: expected ','") as err:
        load_config("broken.yaml")
    assert "\n" not in str(err.value)
