"""``mgmrn profile`` counts FLOPs on the meta device for every preset and every variant."""

from __future__ import annotations

import json

import pytest

from mgmrn.cli.main import main
from mgmrn.config import preset_names
from mgmrn.models.config import VARIANTS

SMALL = ["--iters", "0", "--batch", "2", "--attributes", "16", "--word-dim", "8", "--json",
         "--set", "data.image_size=64"]


def profile(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert main(["profile", *argv, *SMALL]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_profiles(preset: str, capsys):
    report = profile(capsys, preset)
    assert report["backbone_gflops"] > 0 and report["head_gflops"] > 0
    assert report["params"] == report["backbone_params"] + report["head_params"]


@pytest.mark.parametrize("pooling", ["region", "paper"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_profiles_with_either_pooling(variant: str, pooling: str, capsys):
    """Region pooling runs Eq. 1 in float32 outside autocast, which the meta device lacks."""
    report = profile(capsys, "demo", "--set", f"model.variant={variant}", f"model.region_pooling={pooling}")
    assert report["variant"] == variant and report["head_gflops"] > 0
