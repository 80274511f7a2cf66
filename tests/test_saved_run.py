"""Saved runs (:class:`mgmrn.storage.saved_run.SavedRun`): a run saved by an earlier version
(tests/data/run-94bf00b, schema version 0) opens, predicts and evaluates as it did; files are
upgraded by their version number; and ``mgmrn predict`` ranks with the gamma the run's metrics
applied, whatever ``eval.calibration`` chose it."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mgmrn.cli.main import main
from mgmrn.data.build import build_data
from mgmrn.errors import UserError
from mgmrn.inference.classes import ClassSet
from mgmrn.inference.predictor import Predictor
from mgmrn.storage.saved_run import SCHEMA_VERSION, SavedRun

OLD = Path(__file__).parent / "data" / "run-94bf00b"  # made by mgmrn at commit 94bf00b (tests/data/README.md)
SCORE_KEYS = ("zsl_top1", "gzsl_unseen", "gzsl_seen", "gzsl_h", "ausuc", "gamma", "test_sweep_gamma", "test_sweep_h")


def data_dirs(tmp: Path) -> list[str]:
    """Where the synthetic set and its feature cache go (the saved run names folders gone since)."""
    return [f"data.generated_dir={tmp / 'data'}", f"train.feature_cache_dir={tmp / 'features'}"]


def predict_scores(capsys, run: Path, images: list[str], k: int, *extra: str) -> list[dict[str, float]]:
    """``mgmrn predict --json``'s score of every class, per image."""
    capsys.readouterr()
    assert main(["predict", str(run), *images, "--top-k", str(k), "--json", *extra]) == 0
    return [{t["class"]: t["score"] for t in json.loads(line)["top"]}
            for line in capsys.readouterr().out.strip().splitlines()]


def test_a_run_saved_by_an_earlier_version_opens_as_version_0(tmp_path: Path):
    raw = torch.load(OLD / "model.pt", weights_only=False)
    metrics = json.loads((OLD / "metrics.json").read_text())
    assert "schema_version" not in raw  # saved before the version existed
    run = SavedRun.open(OLD)
    assert run.val_gamma == raw["gamma"] == metrics["gamma"] == run.applied_gamma  # eval.calibration=val
    assert run.test_sweep_gamma == metrics["test_sweep_gamma"] and run.metrics == metrics
    assert run.temperature == raw["temperature"] and run.temperature_note == "" and run.training is None
    assert run.classes == raw["classes"] and run.normalizer is not None and run.normalizer.method == "l2"
    run.save(tmp_path / "model.pt")
    again = SavedRun.open(tmp_path)
    assert torch.load(tmp_path / "model.pt", weights_only=False)["schema_version"] == SCHEMA_VERSION
    assert all(torch.equal(run.weights[k], again.weights[k]) for k in run.weights)
    for name in ("config", "classes", "attribute_names", "normalizer", "val_gamma", "test_sweep_gamma", "temperature",
                 "stage_gammas", "metrics", "mean", "std", "weights_id", "epoch", "phase"):
        assert getattr(again, name) == getattr(run, name), name
    assert torch.equal(again.attributes, run.attributes) and torch.equal(again.seen, run.seen)


def test_files_are_upgraded_by_their_version_number(tmp_path: Path):
    """Version 0's resume state (optimiser, scaler, run state beside the model's) moves into
    ``training``; a file of version 1 is read as such, whatever keys it holds; a newer or
    damaged version is one line naming the file."""
    raw = torch.load(OLD / "model.pt", weights_only=False)
    del raw["temperature"]
    torch.save({**raw, "optimizer": {"state": {}}, "scaler": None, "run_state": {"phase": "select"}},
               tmp_path / "last.pt")
    last = SavedRun.open(tmp_path / "last.pt")
    assert last.training == {"optimizer": {"state": {}}, "scaler": None, "run_state": {"phase": "select"}}
    assert last.temperature is None and "saved before probabilities were calibrated" in last.temperature_note
    SavedRun.open(OLD).save(tmp_path / "model.pt")
    current = torch.load(tmp_path / "model.pt", weights_only=False)
    current["gamma"] = 123.0  # version 0's name of the validation gamma: not read in version 1
    torch.save(current, tmp_path / "v1.pt")
    assert SavedRun.open(tmp_path / "v1.pt").val_gamma == raw["gamma"]
    for version, needle in ((SCHEMA_VERSION + 1, "saved by another mgmrn version (schema version 2"),
                            ("1", "schema version '1'")):
        torch.save({**current, "schema_version": version}, tmp_path / "bad.pt")
        with pytest.raises(UserError) as error:
            SavedRun.open(tmp_path / "bad.pt")
        assert needle in str(error.value) and str(tmp_path / "bad.pt") in str(error.value)
    del current["val_gamma"]
    torch.save(current, tmp_path / "bad.pt")
    with pytest.raises(UserError, match="damaged checkpoint: no val_gamma"):
        SavedRun.open(tmp_path / "bad.pt")


def test_a_run_saved_by_an_earlier_version_predicts_and_evaluates_as_it_did(tmp_path: Path, capsys):
    run = tmp_path / "old"
    shutil.copytree(OLD, run)
    out = tmp_path / "metrics.json"
    assert main(["eval", str(run), "--set", *data_dirs(tmp_path), "--output", str(out)]) == 0
    again, saved = json.loads(out.read_text()), json.loads((OLD / "metrics.json").read_text())
    assert {k: again[k] for k in SCORE_KEYS} == pytest.approx({k: saved[k] for k in SCORE_KEYS}, abs=1e-9)
    old = SavedRun.open(run)
    data = build_data(dataclasses.replace(old.config.data, generated_dir=str(tmp_path / "data")))
    images = [p for p, _ in data.test_seen + data.test_unseen]
    k = len(old.classes)
    calibrated, raw = (predict_scores(capsys, run, images, k, *extra) for extra in ([], ["--no-calibration"]))
    seen = {old.classes[int(c)] for c in old.seen}
    assert len(calibrated) == len(images) and set(calibrated[0]) == set(old.classes)
    for mine, plain in zip(calibrated, raw):
        for name, score in plain.items():
            assert mine[name] == pytest.approx(score - saved["gamma"] * (name in seen), abs=1e-4)


@pytest.fixture(scope="module")
def calibrated_runs(tmp_path_factory) -> dict[str, Path]:
    """Tiny runs without validation (train.select=last) whose gamma is fixed or the test sweep's."""
    tmp = tmp_path_factory.mktemp("calibrations")
    sets = ["data.synthetic.classes=8", "data.synthetic.unseen_classes=3", "data.synthetic.images_per_class=10",
            "data.synthetic.image_size=64", "data.image_size=64", *data_dirs(tmp), "train.epochs=1",
            "model.stages=2", "model.hidden=32", "train.select=last"]
    runs = {}
    for how, extra in (("fixed", ["eval.fixed_gamma=2.5"]), ("test-sweep", [])):
        runs[how] = tmp / how
        argv = ["train", "demo", "--output", str(runs[how]), "--set", *sets, f"eval.calibration={how}", *extra]
        assert main(argv) == 0
    return runs


@pytest.mark.parametrize("how", ["fixed", "test-sweep"])
def test_predict_ranks_with_the_gamma_the_metrics_applied(calibrated_runs: dict[str, Path], how: str, capsys,
                                                          tmp_path: Path):
    """The run's seen classes lose the gamma of metrics.json (eval.fixed_gamma; the test sweep's
    best-H gamma), not the validation gamma (there is none: 0): ``mgmrn predict``'s scores of
    the test images are those evaluation computed, less that gamma, and so is its top class."""
    run = calibrated_runs[how]
    saved, metrics = SavedRun.open(run), json.loads((run / "metrics.json").read_text())
    assert saved.val_gamma is None and metrics["calibration"] == how
    assert saved.applied_gamma == metrics["gamma"] and abs(metrics["gamma"]) > 0.05
    if how == "fixed":
        assert metrics["gamma"] == 2.5
    scores = tmp_path / "scores.npz"  # from images, as predict reads them (not the feature cache)
    assert main(["eval", str(run), "--save-scores", str(scores), "--set", "train.freeze_backbone=false"]) == 0
    data = build_data(saved.config.data)
    images = [p for p, _ in data.test_seen + data.test_unseen]
    with np.load(scores) as saved_scores:
        expected = saved_scores["scores"] - metrics["gamma"] * saved_scores["seen"]
    predicted = predict_scores(capsys, run, images, len(saved.classes))
    got = np.array([[p[name] for name in saved.classes] for p in predicted])
    np.testing.assert_allclose(got, expected, atol=1e-3)
    top = np.sort(expected, axis=1)
    clear = top[:, -1] - top[:, -2] > 1e-3  # no near-tie that rounding could turn
    assert clear.sum() > len(images) // 2
    assert (got.argmax(1) == expected.argmax(1))[clear].all()


def test_a_predictor_ranks_among_any_class_set_and_never_changes(calibrated_runs: dict[str, Path]):
    """The classes are an argument: the run's unseen ones, new ones, or both; ranking among
    some leaves the predictor as it was (its own classes, its answers)."""
    predictor = Predictor(calibrated_runs["fixed"])
    run = predictor.run
    data = build_data(run.config.data)
    images = [p for p, _ in data.test_unseen[:3]]
    before = predictor.predict(images, top_k=len(run.classes))
    unseen = ClassSet.of_run(run, [run.classes[int(c)] for c in run.unseen])
    new = ClassSet.described(run, ["new"], np.asarray(run.attributes[:1]) * 3.0)
    seen = {run.classes[int(c)] for c in run.seen}
    for classes in (unseen, new, predictor.classes + new):
        for result in predictor.predict(images, top_k=len(classes), classes=classes):
            assert {t["class"] for t in result["top"]} == set(classes.names)
            assert all(t["seen"] is (t["class"] in seen) for t in result["top"])
    assert predictor.classes.names == run.classes and predictor.predict(images, top_k=len(run.classes)) == before
