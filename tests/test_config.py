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
                     ("model.norm_position=decoder", "model.norm_position must be tokens or maps"),
                     ("model.fusion_tokens=sum", "model.fusion_tokens must be concat or add"),
                     ("data.val_images=0", "data.val_images must be > 0 when data.val_classes > 0")):
        with pytest.raises(UserError, match=key):
            load_config("cub100", [bad])


def test_every_preset_loads_and_the_fine_tuning_preset_extends_cub100():
    for name in preset_names():
        load_config(name, [])
    base, ft = load_config("cub100", []), load_config("cub100-ft", [])
    assert ft.model == base.model and ft.data == base.data
    assert not ft.train.freeze_backbone and ft.train.freeze_bn and 0 < ft.train.frozen_epochs < ft.train.epochs
