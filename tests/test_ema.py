"""The weight average (``train.ema_decay``): its formula, swapping, saving and resuming."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from mgmrn.cli.main import main
from mgmrn.engine.checkpoint import load_checkpoint
from mgmrn.engine.ema import WeightAverage
from test_engine import tiny


def test_average_follows_the_formula_and_skips_frozen_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model[2].requires_grad_(False)
    average = WeightAverage(model, decay=0.9)
    assert "2.weight" not in average.names and "1.running_mean" in average.names
    assert "1.num_batches_tracked" not in average.names  # not floating point
    expected = {k: v.clone() for k, v in model.state_dict().items() if k in average.names}
    for step in range(1, 30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model(torch.randn(5, 3))  # moves BatchNorm's running statistics
        average.update()
        d = min(0.9, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            if k in expected:
                expected[k] = d * expected[k] + (1 - d) * v
    for k, v in zip(average.names, average.shadow):
        torch.testing.assert_close(v, expected[k], msg=k)

    own = {k: v.clone() for k, v in model.state_dict().items()}
    with average.applied():
        for k, v in model.state_dict().items():
            torch.testing.assert_close(v, expected.get(k, own[k]), msg=k)
    for k, v in model.state_dict().items():
        assert torch.equal(v, own[k]), k
    saved = average.averaged_state(model)
    assert torch.equal(saved["2.weight"], own["2.weight"])
    torch.testing.assert_close(saved["0.weight"], expected["0.weight"])

    again = WeightAverage(model, decay=0.9)
    again.load_state_dict(average.state_dict())
    assert again.steps == average.steps
    assert all(torch.equal(a, b) for a, b in zip(again.shadow, average.shadow))
    with pytest.raises(ValueError, match="other weights"):
        WeightAverage(nn.Linear(3, 4), decay=0.9).load_state_dict(average.state_dict())


def test_training_with_a_weight_average_saves_and_resumes_it(tmp_path: Path):
    """The selected model is the average (not the trained weights), and a run resumed
    mid-way ends with the same weights and average as a straight one."""
    args = tiny(tmp_path, "train.ema_decay=0.9", "train.select=last", "train.scheduler=none")
    assert main(["train", "demo", *args, "--output", str(tmp_path / "straight")]) == 0
    last = load_checkpoint(tmp_path / "straight" / "last.pt")
    selected = load_checkpoint(tmp_path / "straight" / "model.pt")
    average = last["average"]
    assert average["steps"] > 0
    for name, value in zip(average["names"], average["shadow"]):
        assert torch.equal(selected["model"][name], value), name
    heads = [n for n in average["names"] if not n.startswith("backbone.")]
    assert any(not torch.equal(selected["model"][n], last["model"][n]) for n in heads)

    one = args[:]
    one[one.index("train.epochs=2")] = "train.epochs=1"
    assert main(["train", "demo", *one, "--output", str(tmp_path / "resumed")]) == 0
    assert main(["train", "--resume", str(tmp_path / "resumed"), "--set", "train.epochs=2"]) == 0
    resumed = load_checkpoint(tmp_path / "resumed" / "last.pt")
    for key in last["model"]:
        torch.testing.assert_close(last["model"][key], resumed["model"][key], msg=key)
    for a, b in zip(average["shadow"], resumed["average"]["shadow"]):
        torch.testing.assert_close(a, b)


def test_ema_decay_out_of_range_is_a_config_error(tmp_path: Path, capsys):
    assert main(["train", "demo", *tiny(tmp_path, "train.ema_decay=1.0"), "--output", str(tmp_path / "r")]) != 0
    assert "train.ema_decay must be in [0, 1)" in capsys.readouterr().err
