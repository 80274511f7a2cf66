"""The trainer's phase and resume bookkeeping (select, refit, final; the selected epoch, its
gamma and temperature; ``last.pt`` and ``--resume``) with a stand-in model: one weight that
counts the epochs trained, scripted validation scores, no images. What a real training does
in each step is tested elsewhere (tests/test_engine.py: a real interrupted run resumed)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import tiny
from torch import nn

import mgmrn.training.trainer as trainer_module
from mgmrn.config import Config, load_config
from mgmrn.storage.saved_run import SavedRun
from mgmrn.training.loop import EpochStats
from mgmrn.training.trainer import Trainer

H = [0.2, 0.5, 0.5, 0.1]  # validation H after 1, 2, 3, 4 epochs: the best is reached after 2 (then a tie)
GAMMA = [1.0, 2.0, 3.0, 4.0]
TEMPERATURE = [1.5, 2.5, 3.5, 4.5]


class Interrupted(Exception):
    """Stands for a run killed between two epochs."""


class Counter(nn.Module):
    """The stand-in model: ``epochs`` counts the epochs trained since it was built (``base``
    keeps the weights' norm from growing a hundredfold, which the trainer takes for divergence)."""

    num_stages = 1

    def __init__(self) -> None:
        super().__init__()
        self.base = nn.Parameter(torch.ones(()))
        self.epochs = nn.Parameter(torch.zeros(()))
        self.backbone = nn.Module()
        self.backbone.weights_id, self.backbone.mean, self.backbone.std = "none", (0.5,) * 3, (0.25,) * 3


@dataclass
class Script:
    """What the stand-ins record, and the epoch (counted over all phases) to stop before."""

    stop_before: int | None = None
    epochs: list[str] = field(default_factory=list)  # the trained epochs' descriptions
    tested: list[dict[str, Any]] = field(default_factory=list)  # what the final test saw

    def train_epoch(self, net: nn.Module, batches: Any, criterion: Any, stepper: Any, desc: str) -> EpochStats:
        if self.stop_before is not None and len(self.epochs) == self.stop_before:
            raise Interrupted(desc)
        self.epochs.append(desc)
        with torch.no_grad():
            net.epochs += 1
        return EpochStats(loss_sum=10.0 * net.epochs.item(), images=10, seconds=1.0)

    def validate(self, trainer: Trainer, source: Any) -> dict[str, Any]:
        i = int(trainer.model.epochs.item()) - 1
        return {"zsl_top1": 0.0, "gzsl_unseen": 0.0, "gzsl_seen": 0.0, "gzsl_h": H[i], "gamma": GAMMA[i],
                "temperature": TEMPERATURE[i], "stage_gammas": [GAMMA[i]]}

    def final_test(self, model: Counter, *args: Any, gamma: float | None, temperature: float | None,
                   stage_val_gammas: list[float] | None) -> dict[str, Any]:
        self.tested.append({"epochs": int(model.epochs.item()), "gamma": gamma, "temperature": temperature})
        return {**dict.fromkeys(("zsl_top1", "gzsl_unseen", "gzsl_seen", "gzsl_h", "ausuc"), 0.0),
                "test_sweep_gamma": 0.0}


class Inputs:
    """No images: every epoch reads nothing (the stand-in ``train_epoch`` ignores its batches)."""

    @classmethod
    def create(cls, *args: Any, **kwargs: Any) -> "Inputs":
        return cls()

    def source(self, frozen: bool) -> "Inputs":
        return self

    def train_batches(self, samples: list, seed: int) -> list:
        return []


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Where the tiny generated set (made by the first test that needs it) is kept."""
    return tmp_path_factory.mktemp("phases")


@pytest.fixture
def script(monkeypatch) -> Script:
    s = Script()
    monkeypatch.setattr(trainer_module, "build_model", lambda cfg, data: Counter())
    monkeypatch.setattr(trainer_module, "build_optimizer", lambda model, t: torch.optim.SGD(model.parameters(), t.lr))
    monkeypatch.setattr(trainer_module, "Inputs", Inputs)
    monkeypatch.setattr(trainer_module, "train_epoch", s.train_epoch)
    monkeypatch.setattr(trainer_module, "evaluate_checkpoint_model", s.final_test)
    monkeypatch.setattr(Trainer, "_validate", lambda trainer, source: s.validate(trainer, source))
    monkeypatch.setattr(SavedRun, "check_weights", lambda self, path: None)  # the stand-in is no MgMRN
    return s


def config(data_dir: Path, *extra: str) -> Config:
    return load_config("demo", tiny(data_dir, "train.epochs=4", *extra)[1::2])


def log(run: Path) -> list[tuple[str, str, str]]:
    """log.csv's phase, epoch and validation H per row."""
    return [(r["phase"], r["epoch"], r.get("val_h", "")) for r in csv.DictReader((run / "log.csv").open())]


def test_select_keeps_the_first_best_epoch_and_refit_trains_as_many_from_scratch(script, data_dir, tmp_path):
    metrics = Trainer(config(data_dir, "train.refit=true"), tmp_path / "run").run()
    assert script.epochs == ["select 1/4", "select 2/4", "select 3/4", "select 4/4", "refit 1/2", "refit 2/2"]
    assert metrics["phase"] == "refit" and metrics["selected_epoch"] == 2
    # the refitted model (2 epochs from scratch), at the gamma and temperature of select's epoch 2
    assert script.tested == [{"epochs": 2, "gamma": GAMMA[1], "temperature": TEMPERATURE[1]}]
    assert log(tmp_path / "run") == [("select", str(e), str(h)) for e, h in zip(range(1, 5), H)] + [
        ("refit", "1", ""), ("refit", "2", "")]
    saved = SavedRun.open(tmp_path / "run" / "model.pt")
    assert (saved.phase, saved.epoch, float(saved.weights["epochs"])) == ("refit", 2, 2.0)
    assert (saved.val_gamma, saved.temperature, saved.stage_gammas) == (GAMMA[1], TEMPERATURE[1], [GAMMA[1]])


def test_without_refit_the_best_epoch_s_weights_are_tested(script, data_dir, tmp_path):
    metrics = Trainer(config(data_dir), tmp_path / "run").run()
    assert len(script.epochs) == 4 and (metrics["phase"], metrics["selected_epoch"]) == ("select", 2)
    assert script.tested == [{"epochs": 2, "gamma": GAMMA[1], "temperature": TEMPERATURE[1]}]
    assert float(SavedRun.open(tmp_path / "run" / "last.pt").weights["epochs"]) == 4.0


def test_select_last_keeps_the_last_epoch_and_its_validation_gamma(script, data_dir, tmp_path):
    metrics = Trainer(config(data_dir, "train.select=last"), tmp_path / "run").run()
    assert (metrics["phase"], metrics["selected_epoch"]) == ("select", 4)
    assert script.tested == [{"epochs": 4, "gamma": GAMMA[3], "temperature": TEMPERATURE[3]}]


def test_without_validation_one_final_phase_trains_on_everything(script, data_dir, tmp_path):
    trainer = Trainer(config(data_dir, "train.select=last", "eval.calibration=test-sweep"), tmp_path / "run")
    metrics = trainer.run()
    assert script.epochs == [f"final {e}/4" for e in range(1, 5)]
    assert (metrics["phase"], metrics["selected_epoch"]) == ("final", 4)
    assert script.tested == [{"epochs": 4, "gamma": None, "temperature": None}]
    (phase,) = trainer._phases()
    assert sorted(phase.samples) == sorted(trainer.data.train) and phase.validate is False


@pytest.mark.parametrize("stop_before", [1, 3, 4, 5])  # in select, at its end, before refit, in refit
def test_a_run_interrupted_between_epochs_resumes_to_the_straight_run(script, data_dir, tmp_path, stop_before):
    cfg = config(data_dir, "train.refit=true")
    Trainer(cfg, tmp_path / "straight").run()
    straight = script.epochs[:]
    script.epochs.clear()
    script.stop_before = stop_before
    with pytest.raises(Interrupted):
        Trainer(cfg, tmp_path / "resumed").run()
    assert script.epochs == straight[:stop_before]
    script.stop_before = None
    Trainer(config(data_dir, "train.refit=true"), tmp_path / "resumed").run(resume=True)
    assert script.epochs == straight  # each epoch trained once, in order
    assert script.tested[0] == script.tested[1]  # same model, gamma and temperature tested
    assert log(tmp_path / "resumed") == log(tmp_path / "straight")
    for name in ("model.pt", "last.pt"):
        a, b = (SavedRun.open(tmp_path / run / name) for run in ("straight", "resumed"))
        assert (a.phase, a.epoch, a.val_gamma, a.temperature) == (b.phase, b.epoch, b.val_gamma, b.temperature)
        assert float(a.weights["epochs"]) == float(b.weights["epochs"])


def test_resuming_a_finished_run_trains_nothing_and_says_so(script, data_dir, tmp_path, capsys):
    Trainer(config(data_dir, "train.refit=true"), tmp_path / "run").run()
    trained = len(script.epochs)
    capsys.readouterr()
    metrics = Trainer(config(data_dir, "train.refit=true"), tmp_path / "run").run(resume=True)
    assert len(script.epochs) == trained
    assert "phase 'refit' already has 2 epochs (train.epochs=4); nothing left to train" in capsys.readouterr().out
    assert (metrics["phase"], metrics["selected_epoch"]) == ("refit", 2)
    assert script.tested[1] == script.tested[0]
