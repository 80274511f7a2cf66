"""Train -> evaluate -> predict -> attention maps on the synthetic set; feature cache; resume; bad CLI input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny

from mgmrn.cli.main import main
from mgmrn.models.backbone import build_backbone
from mgmrn.runtime.precision import cpu_has_native_bf16
from mgmrn.storage import feature_cache as cache_module
from mgmrn.storage.saved_run import SavedRun

CONTRACT = ("zsl_top1", "gzsl_unseen", "gzsl_seen", "gzsl_h", "ausuc", "gamma", "calibration")


@pytest.fixture
def run_dir(demo_run: Path) -> Path:
    """The shared tiny run (conftest): read it, or copy it to change it."""
    return demo_run


def test_train_writes_run_directory(run_dir: Path):
    umask = os.umask(0)
    os.umask(umask)
    for name in ("config.yaml", "model.pt", "last.pt", "log.csv", "metrics.json"):
        assert (run_dir / name).is_file(), name
        assert (run_dir / name).stat().st_mode & 0o777 == 0o666 & ~umask, name  # not mkstemp's 0600
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert all(k in metrics for k in CONTRACT)
    assert metrics["calibration"] == "val"
    assert len(metrics["stages"]) == 2
    u, s = metrics["gzsl_unseen"], metrics["gzsl_seen"]
    assert metrics["gzsl_h"] == pytest.approx(2 * u * s / (u + s), abs=1e-9)
    rows = list(csv.DictReader((run_dir / "log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    best = max(rows, key=lambda r: float(r["val_h"]))  # the first best: the epoch kept and its gamma
    assert (int(best["epoch"]), float(best["val_gamma"])) == (metrics["selected_epoch"], metrics["gamma"])


def test_eval_reproduces_metrics(run_dir: Path, tmp_path: Path):
    out = tmp_path / "m.json"
    assert main(["eval", str(run_dir), "--output", str(out)]) == 0
    again, saved = json.loads(out.read_text()), json.loads((run_dir / "metrics.json").read_text())
    for key in ("zsl_top1", "gzsl_h", "ausuc", "gamma"):
        assert again[key] == pytest.approx(saved[key], abs=1e-6)
    for mine, theirs in zip(again["stages"], saved["stages"], strict=True):  # each at its validation gamma
        assert mine == pytest.approx(theirs, abs=1e-6)
    for side in ("seen", "unseen", "all", None):  # with the run's temperature
        mine, theirs = (m["probabilities"] if side is None else m["probabilities"][side] for m in (again, saved))
        assert {k: v for k, v in mine.items() if not isinstance(v, dict)} == pytest.approx(
            {k: v for k, v in theirs.items() if not isinstance(v, dict)}, abs=1e-6)
    assert saved["probabilities"]["temperature"] == SavedRun.open(run_dir).temperature
    assert main(["eval", str(run_dir), "--set", "eval.calibration=test-sweep", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["gzsl_h"] == pytest.approx(saved["test_sweep_h"], abs=1e-6)


def test_score_eval_of_the_saved_scores_gives_metrics_json_exactly(run_dir: Path, tmp_path: Path, capsys):
    """``mgmrn eval --save-scores``, then ``mgmrn score-eval`` on the file: every top-level
    metric, the per-stage entries (each at its validation gamma) and the probabilities, to the
    last digit; with the validation scores, the gammas the run chose there (no refit: the same
    model)."""
    saved = json.loads((run_dir / "metrics.json").read_text())
    test, val = tmp_path / "test.npz", tmp_path / "val.npz"
    assert main(["eval", str(run_dir), "--save-scores", str(test), "--save-val-scores", str(val)]) == 0
    capsys.readouterr()
    for extra in ([], ["--val", str(val)]):
        assert main(["score-eval", str(test), "--json", *extra]) == 0
        again = json.loads(capsys.readouterr().out)
        assert {k: v for k, v in again.items() if k != "val_gzsl_h"} == {
            k: v for k, v in saved.items() if k not in ("zsl_per_class", "selected_epoch", "phase")}
    assert len(saved["stages"]) > 1 and "gzsl_h" in saved["stages"][0]


def test_eval_per_class_matches_zsl_top1(run_dir: Path, tmp_path: Path, capsys):
    out = tmp_path / "m.json"
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--per-class", "--output", str(out)]) == 0
    metrics = json.loads(out.read_text())
    report = metrics["zsl_per_class"]
    assert metrics["zsl_top1"] == pytest.approx(sum(r["top1"] for r in report) / len(report), abs=1e-6)
    lines = capsys.readouterr().out.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("unseen class")) + 1 :]
    worst = min(report, key=lambda r: r["top1"])
    assert table[0].startswith(worst["class"])
    assert {line.split()[0] for line in table[: len(report)]} == {r["class"] for r in report}


def _unseen_images(run_dir: Path) -> tuple[list[str], list[str]]:
    from mgmrn.data.build import build_data

    data = build_data(SavedRun.open(run_dir).config.data)
    samples = data.test_unseen[::20][:3]
    return [p for p, _ in samples], [data.classes[y] for _, y in samples]


def test_predict_json_among_checkpoint_classes(run_dir: Path, capsys):
    images, _ = _unseen_images(run_dir)
    capsys.readouterr()
    assert main(["predict", str(run_dir / "model.pt"), *images, "--top-k", "3", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["image"] for r in lines] == images
    classes = SavedRun.open(run_dir).classes
    for r in lines:
        assert len(r["top"]) == 3 and all(t["class"] in classes for t in r["top"])
        scores = [t["score"] for t in r["top"]]
        assert scores == sorted(scores, reverse=True)


def test_predict_new_classes_from_attributes(run_dir: Path, tmp_path: Path, capsys):
    """Classes the model never saw, under new names, described only by attributes."""
    saved = SavedRun.open(run_dir)
    names, att = saved.attribute_names, saved.attributes
    unseen = [int(c) for c in saved.unseen]
    table = tmp_path / "new_classes.csv"
    with table.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["class", *reversed(names)])  # column order differs from training
        for i, c in enumerate(unseen):
            w.writerow([f"mystery_{i}", *reversed(att[c].tolist())])
    images, _ = _unseen_images(run_dir)
    capsys.readouterr()
    assert main(["predict", str(run_dir), *images, "--classes", str(table), "--json"]) == 0
    for line in capsys.readouterr().out.strip().splitlines():
        top = json.loads(line)["top"]
        assert {t["class"] for t in top} <= {f"mystery_{i}" for i in range(len(unseen))}
        assert len(top) == min(5, len(unseen))


def test_predictor_api_new_classes_are_normalised_and_checked(run_dir: Path):
    """Raw attribute values (any scale) give the same ranking as the checkpoint's own
    normalised ones; bad shapes, NaN values and unknown names are user errors."""
    from mgmrn.errors import UserError
    from mgmrn.inference.classes import ClassSet
    from mgmrn.inference.predictor import Predictor

    saved = SavedRun.open(run_dir)
    unseen = [int(c) for c in saved.unseen]
    names = [saved.classes[c] for c in unseen]
    images, _ = _unseen_images(run_dir)
    predictor = Predictor(saved)
    own = ClassSet.of_run(saved, names)
    new = ClassSet.described(saved, [f"new_{n}" for n in names], 7.0 * np.asarray(saved.attributes)[unseen])
    for a, b in zip(predictor.predict(images, top_k=2, classes=own), predictor.predict(images, top_k=2, classes=new)):
        assert [f"new_{t['class']}" for t in a["top"]] == [t["class"] for t in b["top"]]
        assert [t["score"] for t in a["top"]] == pytest.approx([t["score"] for t in b["top"]], abs=1e-4)
    bad = np.ones((2, len(saved.attribute_names)))
    bad[1, 3] = np.nan
    for call, needle in ((lambda: ClassSet.described(saved, ["a", "b"], bad), "non-finite"),
                         (lambda: ClassSet.described(saved, ["a"], bad), "expected attributes of shape"),
                         (lambda: ClassSet.described(saved, ["a", "a"], np.ones_like(bad)), "distinct"),
                         (lambda: ClassSet.of_run(saved, ["no_such_class"]), "unknown classes")):
        with pytest.raises(UserError, match=needle):
            call()


def test_attention_drawing_and_summary(run_dir: Path, tmp_path: Path, capsys):
    """The predicted class's strongest attributes, their attention split into own and SCAB
    tokens (each attribute's weights sum to 1 per stage), drawn as one tile per map."""
    images, _ = _unseen_images(run_dir)
    capsys.readouterr()
    assert main(["predict", str(run_dir), images[0], "--top-k", "1", "--json"]) == 0
    predicted = json.loads(capsys.readouterr().out)["top"][0]["class"]
    out = tmp_path / "att.png"
    argv = ["attention", str(run_dir), images[0], "--top-k", "3", "--tile", "32", "--output", str(out), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["class"] == predicted and summary["predicted"] and summary["output"] == str(out)
    contributions = [a["contribution"] for a in summary["attributes"]]
    assert len(contributions) == 3 and contributions == sorted(contributions, reverse=True)
    for a in summary["attributes"]:  # L = 2: the finer stage has SCAB tokens, the coarsest none
        assert 0 < a["fused_share"][0] < 1 and a["fused_share"][1] is None
    from PIL import Image

    from mgmrn.viz.attention import bar_width

    with Image.open(out) as drawing:  # columns: input, stage 1 own + SCAB, stage 2 own; the colour bar
        assert drawing.size[0] == 4 * 32 + 4 + bar_width(32) and drawing.size[1] > 3 * 32


def test_attention_maps_and_contributions_are_exact(run_dir: Path):
    from mgmrn.inference.predictor import Predictor
    from mgmrn.models.scoring import fused_scores
    from mgmrn.viz.attention import attribute_contributions, explain

    predictor = Predictor(run_dir)
    images, _ = _unseen_images(run_dir)
    names = predictor.attribute_names
    other = predictor.classes.names[-1]
    e = explain(predictor, images[0], class_name=other, attributes=names[:2])
    assert e.attributes == names[:2] and e.class_name == other
    for stage in e.stages:
        total = stage.own.sum((1, 2)) + (stage.fused.sum((1, 2)) if stage.fused is not None else 0)
        torch.testing.assert_close(total, torch.ones(2))
    with torch.no_grad():
        z = predictor.model(predictor.load_image(images[0])[None])
    every = attribute_contributions(z[0], predictor.classes.attributes[-1], predictor.cfg.model.scale)
    score = fused_scores(z, predictor.classes.attributes, predictor.cfg.model.scale)[0, -1]
    torch.testing.assert_close(every.sum(), score, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(torch.tensor(e.contributions), every[:2])
    assert e.score == pytest.approx(float(score), abs=1e-4)


@pytest.mark.parametrize("extra,needle", [(["--class", "no_such_class"], "unknown class 'no_such_class'"),
                                          (["--attributes", "no_such_attribute"], "unknown attributes"),
                                          (["--top-k", "0"], "--top-k")])
def test_attention_bad_input_is_one_line(run_dir: Path, tmp_path: Path, capsys, extra, needle):
    images, _ = _unseen_images(run_dir)
    assert main(["attention", str(run_dir), images[0], "--output", str(tmp_path / "a.png"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "a.png").exists()


def test_feature_cache_reused_and_resume_is_exact(run_dir: Path, tmp_path: Path, monkeypatch):
    """A second run reuses the cached features; an interrupted run resumed equals a straight one."""
    cfg_args = tiny(run_dir.parent, "train.lr_schedule=cosine")  # resumed with more epochs: the new schedule

    def no_extraction(*args, **kwargs):
        raise AssertionError("features extracted again")

    monkeypatch.setattr(cache_module.FeatureCache, "extract", no_extraction)
    assert main(["train", "demo", *cfg_args, "--output", str(tmp_path / "straight")]) == 0
    one = cfg_args[:]
    one[one.index("train.epochs=2")] = "train.epochs=1"
    assert main(["train", "demo", *one, "--output", str(tmp_path / "resumed")]) == 0
    assert main(["train", "--resume", str(tmp_path / "resumed"), "--set", "train.epochs=2"]) == 0
    a = SavedRun.open(tmp_path / "straight" / "last.pt").weights
    b = SavedRun.open(tmp_path / "resumed" / "last.pt").weights
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)


REMOVED_OFF = {("train", "log_every"): 20, ("loss", "label_smoothing"): 0.0, ("loss", "fused_weight"): 0.0,
               ("train", "mixup"): 0.0, ("train", "ema_decay"): 0.0, ("train", "cache_flip"): 0.0,
               ("eval", "tta_flip"): False, ("model", "norm_position"): "maps"}


def _as_saved_before(run: Path, change) -> None:
    """Rewrite a run's config.yaml and checkpoints as an earlier version saved them."""
    import yaml

    saved = yaml.safe_load((run / "config.yaml").read_text())
    change(saved)
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    for name in ("model.pt", "last.pt"):
        state = torch.load(run / name, weights_only=False)
        change(state["config"])
        state["average"] = None  # the removed weight average's entry
        torch.save(state, run / name)


def test_runs_saved_by_earlier_versions_still_load(run_dir: Path, tmp_path: Path, capsys):
    """Keys removed since are dropped when they were off (``train.log_every`` had no effect at
    all): such a run evaluates and resumes. A run saved before ``model.norm_position`` existed
    (without it and the keys added after it) had the LayerNorm on the tokens: refused in one line."""
    import shutil

    run, oldest = tmp_path / "old", tmp_path / "oldest"
    shutil.copytree(run_dir, run)
    shutil.copytree(run_dir, oldest)
    metrics = json.loads((run / "metrics.json").read_text())

    def older(values: dict) -> None:
        for (section, key), value in REMOVED_OFF.items():
            values[section][key] = value

    _as_saved_before(run, older)
    assert main(["eval", str(run), "--output", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["gzsl_h"] == metrics["gzsl_h"]
    assert main(["train", "--resume", str(run), "--set", "train.epochs=3"]) == 0

    def before_norm_position(values: dict) -> None:
        for section, key in [("model", "fusion_tokens"), ("model", "fusion_drop"), ("loss", "sc_weight"),
                             ("train", "finetune_lr_schedule")]:
            del values[section][key]

    _as_saved_before(oldest, before_norm_position)
    for argv in (["eval", str(oldest)], ["predict", str(oldest), "x.png"], ["train", "--resume", str(oldest)]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "config key 'model.norm_position' was removed" in err, err
        assert "model.norm_position='tokens'" in err, err


@pytest.mark.parametrize("key,value", [("train.mixup", 0.4), ("train.ema_decay", 0.99), ("train.cache_flip", 0.5),
                                       ("loss.label_smoothing", 0.1), ("loss.fused_weight", 0.5),
                                       ("eval.tta_flip", True), ("model.norm_position", "tokens")])
def test_runs_that_used_a_removed_option_are_refused_in_one_line(run_dir: Path, tmp_path: Path, capsys, key, value):
    import shutil

    run = tmp_path / "old"
    shutil.copytree(run_dir, run)
    section, name = key.split(".")
    _as_saved_before(run, lambda values: values[section].__setitem__(name, value))
    for argv in (["eval", str(run)], ["predict", str(run), "x.png"], ["train", "--resume", str(run)]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"config key '{key}' was removed" in err and str(value) in err, err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "no-such-preset"], "unknown preset"),
        (["train", "demo", "--set", "model.no_such_key=1"], "unknown config key 'model.no_such_key'"),
        (["eval", "/nonexistent/model.pt"], "checkpoint not found"),
        (["predict", "/nonexistent/run", "x.png"], "checkpoint not found"),
        (["train", "demo", "--set", "model.stages=9"], "model.stages"),
    ],
)
def test_bad_cli_input_is_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_bad_input_exit_code_from_a_real_process():
    proc = subprocess.run([sys.executable, "-m", "mgmrn", "eval", "/nonexistent"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_ddp_two_processes_gather_each_test_image_once(run_dir: Path, tmp_path: Path):
    """torchrun with 2 CPU processes (gloo): training batches shared out, evaluation gathered
    without duplicates (the metrics equal a single-process evaluation of the saved model),
    results printed once. Learning rate 0 (the weights stay as initialised): the loss logged
    by the 2 processes, each on half of the epoch's batches, equals one process's over all."""
    settings = tiny(run_dir.parent, "train.epochs=1", "data.batch_size=8", "train.max_batches=4", "train.lr=0")
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "mgmrn", "train", "demo", *settings, "--output", str(run)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("ZSL T1") == 1 and proc.stdout.count("run directory:") == 1
    ddp = json.loads((run / "metrics.json").read_text())
    out = tmp_path / "single.json"
    assert main(["eval", str(run), "--output", str(out)]) == 0
    single = json.loads(out.read_text())
    for key in ("zsl_top1", "gzsl_unseen", "gzsl_seen", "ausuc"):
        assert ddp[key] == pytest.approx(single[key], abs=1e-6)
    assert main(["train", "demo", *settings, "--output", str(tmp_path / "one")]) == 0
    loss = {name: float(next(csv.DictReader((tmp_path / name / "log.csv").open()))["loss"]) for name in ("ddp", "one")}
    assert loss["ddp"] == pytest.approx(loss["one"], rel=1e-5)


def test_cache_key_follows_image_content_not_modification_times(tmp_path: Path):
    paths = [tmp_path / f"{i}.jpg" for i in range(3)]
    for i, p in enumerate(paths):
        p.write_bytes(bytes([i]) * 100)
    def key(files=paths) -> str:
        return cache_module.cache_key("lite0", "w", 64, "T", cache_module.images_fingerprint([str(p) for p in files]))

    first = key()
    os.utime(paths[1], ns=(1, 1))  # a copy with new modification times keeps the cache
    assert key() == first
    paths[1].write_bytes(bytes([7]) * 100)  # same size, other bytes: a new cache
    assert key() != first
    assert key(paths[:2]) != key()


def _eval_reproduces_run(run: Path, tmp_path: Path) -> dict:
    """``mgmrn eval RUN`` gives the run's own test metrics; returns them."""
    metrics = json.loads((run / "metrics.json").read_text())
    out = tmp_path / "again.json"
    assert main(["eval", str(run), "--output", str(out)]) == 0
    again = json.loads(out.read_text())
    for key in ("zsl_top1", "gzsl_h", "ausuc"):
        assert again[key] == pytest.approx(metrics[key], abs=1e-9)
    return metrics


def test_cpu_bf16_and_float32_training_differ_only_in_rounding(run_dir: Path, tmp_path: Path):
    """The precision ``train.amp=auto`` did not choose on this CPU (float32 where it chose
    bf16, and the other way round) gives the same losses to bf16's precision but not exactly;
    ``mgmrn eval`` (in the run's precision) reproduces the run's metrics."""
    other = "none" if cpu_has_native_bf16() else "bf16"
    run = tmp_path / "run"
    assert main(["train", "demo", *tiny(run_dir.parent, f"train.amp={other}"), "--output", str(run)]) == 0
    theirs, auto = ([float(r["loss"]) for r in csv.DictReader((d / "log.csv").open())] for d in (run, run_dir))
    assert theirs != auto and theirs == pytest.approx(auto, rel=0.05)
    _eval_reproduces_run(run, tmp_path)


def test_frozen_epochs_then_fine_tuning_resumes_exactly(tmp_path: Path):
    """``train.frozen_epochs``: the heads train alone on cached maps first (backbone untouched),
    then the whole network; a run resumed across the switch equals a straight run."""
    args = tiny(tmp_path, "train.freeze_backbone=false", "train.frozen_epochs=1", "train.lr_schedule=none",
                "train.lr=0.01", "train.max_batches=2")
    assert main(["train", "demo", *args, "--output", str(tmp_path / "straight")]) == 0
    assert list((tmp_path / "features").glob("*/stage-2.npy")), "no feature cache was built for the frozen epoch"
    one = args[:]
    one[one.index("train.epochs=2")] = "train.epochs=1"
    assert main(["train", "demo", *one, "--output", str(tmp_path / "resumed")]) == 0
    after_frozen = SavedRun.open(tmp_path / "resumed" / "last.pt").weights
    assert main(["train", "--resume", str(tmp_path / "resumed"), "--set", "train.epochs=2"]) == 0
    straight = SavedRun.open(tmp_path / "straight" / "last.pt").weights
    resumed = SavedRun.open(tmp_path / "resumed" / "last.pt").weights
    for key in straight:
        torch.testing.assert_close(straight[key], resumed[key], msg=key)
    pretrained = build_backbone("tf_efficientnet_lite0", 2).state_dict()
    backbone = [k for k in straight if k.startswith("backbone.")]
    assert all(torch.equal(after_frozen[k], pretrained[k.removeprefix("backbone.")]) for k in backbone)
    assert any(not torch.equal(straight[k], pretrained[k.removeprefix("backbone.")]) for k in backbone)
    _eval_reproduces_run(tmp_path / "straight", tmp_path)


def test_freeze_bn_keeps_running_statistics_while_fine_tuning(run_dir: Path, tmp_path: Path):
    args = tiny(run_dir.parent, "train.freeze_backbone=false", "train.freeze_bn=true", "train.epochs=1", "train.lr=0.01",
                "train.max_batches=2")
    assert main(["train", "demo", *args, "--output", str(tmp_path / "run")]) == 0
    tuned = SavedRun.open(tmp_path / "run" / "last.pt").weights
    pretrained = build_backbone("tf_efficientnet_lite0", 2).state_dict()
    stats = [k for k in pretrained if k.endswith(("running_mean", "running_var"))]
    weights = [k for k in pretrained if k.endswith("weight")]
    assert stats and all(torch.equal(tuned[f"backbone.{k}"], pretrained[k]) for k in stats)
    assert any(not torch.equal(tuned[f"backbone.{k}"], pretrained[k]) for k in weights)


def test_on_corrupt_skip_leaves_unreadable_images_out_of_cache_training_and_metrics(tmp_path: Path, capsys):
    """``data.on_corrupt=skip``: an unreadable test image has no cached maps and is scored
    nowhere (neither from the cache nor from images); with ``stop``, a cache that skipped it is
    a one-line user error naming the cache."""
    from mgmrn.config import load_config
    from mgmrn.data.build import build_data
    from mgmrn.evaluation.evaluate import Evaluator
    from mgmrn.runtime.inputs import Inputs

    args = tiny(tmp_path)
    data = build_data(load_config("demo", args[1::2]).data)
    bad = data.test_unseen[0][0]
    Path(bad).write_text("not an image")
    run = tmp_path / "run"
    assert main(["train", "demo", *args, "--set", "data.on_corrupt=skip", "--output", str(run)]) == 0
    skipped = list((tmp_path / "features").glob("*/skipped.json"))
    assert len(skipped) == 1 and json.loads(skipped[0].read_text()) == [bad]
    saved = SavedRun.open(run)
    model, cfg = saved.model(), saved.config
    cpu = torch.device("cpu")
    for frozen in (True, False):  # cached maps, then images through the skipping loader
        cfg.train.freeze_backbone = frozen
        source = Inputs.create(cfg, data, model, cpu).source(frozen)
        evaluator = Evaluator.for_run(model, source, cfg, torch.as_tensor(data.attributes), cpu)
        z, labels = evaluator.predict(data.test_unseen, "test")
        assert len(z) == len(labels) == len(data.test_unseen) - 1
        assert labels == [y for p, y in data.test_unseen if p != bad]
    assert main(["eval", str(run)]) == 0  # the run's own config says skip
    capsys.readouterr()
    assert main(["eval", str(run), "--set", "data.on_corrupt=stop"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "1 images could not be read" in err and "data.on_corrupt=skip" in err


def test_predict_applies_the_validation_gamma_to_seen_classes(run_dir: Path, capsys):
    """``mgmrn predict`` ranks the checkpoint's classes as GZSL evaluation does (gamma off the
    seen classes' scores, Eq. 14 otherwise); ``--no-calibration`` gives the raw scores."""
    from mgmrn.inference.classes import ClassSet

    saved = SavedRun.open(run_dir)
    assert saved.config.eval.calibration == "val" and saved.applied_gamma == saved.val_gamma > 0
    images, _ = _unseen_images(run_dir)
    k = len(saved.classes)
    outputs = []
    for extra in ([], ["--no-calibration"]):
        capsys.readouterr()
        assert main(["predict", str(run_dir), *images, "--top-k", str(k), "--json", *extra]) == 0
        outputs.append([{t["class"]: t["score"] for t in json.loads(line)["top"]}
                        for line in capsys.readouterr().out.strip().splitlines()])
    seen = {saved.classes[int(c)] for c in saved.seen}
    for calibrated, raw in zip(*outputs):
        for name, score in raw.items():
            assert calibrated[name] == pytest.approx(score - saved.val_gamma * (name in seen), abs=1e-4)
    assert ClassSet.of_run(saved, sorted(seen)[:2]).seen.all()  # restricting keeps which classes are seen


def test_train_refuses_to_overwrite_a_run_or_a_file(run_dir: Path, capsys):
    for output, needle in ((run_dir, "already holds a run: continue it with --resume, replace it with --overwrite"),
                           (run_dir / "metrics.json", "--output must be a directory")):
        before = (run_dir / "model.pt").stat().st_mtime_ns
        capsys.readouterr()
        assert main(["train", "demo", "--output", str(output)]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1
        assert (run_dir / "model.pt").stat().st_mtime_ns == before


def test_gather_rows_marks_what_did_not_come_back():
    from mgmrn.runtime.distributed import gather_rows

    out, present = gather_rows(torch.tensor([2, 0]), torch.tensor([[2.0], [0.5]]), 3)
    assert present.tolist() == [True, False, True] and out[:, 0].tolist() == [0.5, 0.0, 2.0]
    with pytest.raises(RuntimeError, match="twice"):
        gather_rows(torch.tensor([1, 1]), torch.zeros(2, 1), 3)


def test_train_overwrite_replaces_the_old_run(run_dir: Path, tmp_path: Path):
    run = tmp_path / "run"
    args = ["train", "demo", *tiny(run_dir.parent, "train.epochs=1"), "--output", str(run)]
    assert main(args) == 0
    (run / "metrics.json").write_text("{}")  # stands for the old run's files
    assert main([*args, "--overwrite"]) == 0
    assert "zsl_top1" in json.loads((run / "metrics.json").read_text())  # the new run's
    assert len(list((run / "tb").glob("events.out.tfevents.*"))) == 1


def test_self_calibration_uses_every_class_without_training_images(run_dir: Path, tmp_path: Path, monkeypatch):
    """loss.sc_weight: selection phase -> validation and test-unseen classes; refit -> test-unseen
    (trained for real, one stage's loss per step: ``train.stage_updates=per-stage``)."""
    from mgmrn.config import load_config
    from mgmrn.training.losses import Criterion
    from mgmrn.training.trainer import Trainer

    sets = tiny(run_dir.parent, "loss.sc_weight=0.3", "train.refit=true", "train.epochs=1",
                "train.stage_updates=per-stage")[1::2]
    trainer = Trainer(load_config("demo", sets), tmp_path / "run")
    d = trainer.data
    select, refit = trainer._phases()
    expected = {"select": np.concatenate([d.val.val_unseen_classes, d.unseen]), "refit": d.unseen}
    for phase in (select, refit):
        trainer._fresh(phase)
        rows = torch.as_tensor(np.sort(expected[phase.name]))
        torch.testing.assert_close(trainer.criterion.unseen_attributes, trainer.attributes[rows])
    assert (len(expected["select"]), len(expected["refit"])) == (2 + 4, 4)  # a quarter of 8 seen classes, 4 unseen
    seen_by_loss: set[tuple[int, float]] = set()
    real = Criterion.stage_losses

    def recording(self, z, labels):
        seen_by_loss.add((len(self.unseen_attributes), self.cfg.sc_weight))
        return real(self, z, labels)

    monkeypatch.setattr(Criterion, "stage_losses", recording)
    metrics = trainer.run()
    assert metrics["phase"] == "refit" and metrics["selected_epoch"] == 1
    # the training loss received each phase's classes and the weight
    assert seen_by_loss == {(len(expected["select"]), 0.3), (len(expected["refit"]), 0.3)}
