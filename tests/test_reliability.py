"""Faults injected for real: a second process, SIGKILL, a diverging step, files damaged on disk,
numbers that make no sense in the config."""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest
import torch
from conftest import tiny

from mgmrn.cli.main import main
from mgmrn.config import Config, load_config
from mgmrn.errors import UserError
from mgmrn.storage.saved_run import SavedRun
from mgmrn.training.trainer import check_metrics

MGMRN = [sys.executable, "-m", "mgmrn"]


def one_line_error(capsys, argv: list[str], needle: str) -> str:
    """Run ``argv`` in this process: exit status 2 and one line on stderr holding ``needle``."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    return err


def held(lock: Path) -> bool:
    """Whether another process holds the flock on ``lock``."""
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def wait_for(condition, what: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- one owner per run folder
def test_a_second_process_cannot_take_a_run_in_use_and_a_killed_owner_leaves_no_lock(tmp_path: Path, capsys,
                                                                                    demo_run: Path):
    data = demo_run.parent  # the shared tiny run's generated set and feature cache: only read
    run = tmp_path / "run"
    first = subprocess.Popen([*MGMRN, "train", "demo", *tiny(data, "train.epochs=500"), "--output", str(run)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (run / ".lock").exists() and held(run / ".lock"), "the first run's lock")
        wait_for(lambda: (run / "config.yaml").exists(), "the first run's config")
        first.send_signal(signal.SIGSTOP)  # holds the folder as it was, without spending the CPU
        config = digest(run / "config.yaml")
        new = ["train", "demo", *tiny(data, "train.epochs=1"), "--output", str(run)]
        for argv in (new, [*new, "--overwrite"], ["train", "--resume", str(run)]):
            # from this process: a new run, one that replaces it, one that resumes it: all refused
            one_line_error(capsys, argv, f"in use by another mgmrn process (pid {first.pid})")
        assert first.poll() is None and digest(run / "config.yaml") == config  # untouched
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert not held(run / ".lock")  # the operating system released it
    assert main(["train", "demo", *tiny(data, "train.epochs=1"), "--output", str(run), "--overwrite"]) == 0
    assert json.loads((run / "metrics.json").read_text())["selected_epoch"] == 1


def test_overwrite_removes_every_file_of_the_old_run_before_the_new_one_writes(tmp_path: Path, demo_run: Path):
    run = tmp_path / "run"
    args = ["train", "demo", *tiny(demo_run.parent, "train.epochs=1"), "--output", str(run)]
    assert main(args) == 0
    (run / "report_cache.npz").write_bytes(b"old")  # mgmrn report's files of the old run
    (run / "report").mkdir()
    (run / "notes.txt").write_text("mine")  # not a run file: kept
    old_events = {p.name for p in (run / "tb").iterdir()}
    assert main([*args, "--overwrite"]) == 0
    assert not (run / "report_cache.npz").exists() and not (run / "report").exists()
    assert (run / "notes.txt").read_text() == "mine"
    assert not old_events & {p.name for p in (run / "tb").iterdir()}
    assert [p.name for p in run.iterdir() if p.name.startswith(".replaced-")] == []


def _killed_mid_write(script: str, *args: str) -> None:
    """Run ``script`` in a new process until it prints ``writing``, then SIGKILL it."""
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


KILLED_WRITE = """
import sys, time
from mgmrn.utils.io import atomic_open
with atomic_open(sys.argv[1]) as handle:
    handle.write("half a log")
    print("writing", flush=True)
    time.sleep(600)
"""


def test_temporary_files_of_a_killed_write_are_removed_when_the_run_is_next_opened(tmp_path: Path, demo_run: Path):
    run = tmp_path / "run"
    assert main(["train", "demo", *tiny(demo_run.parent, "train.epochs=1"), "--output", str(run)]) == 0
    _killed_mid_write(KILLED_WRITE, str(run / "log.csv"))
    leftovers = [p for p in run.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".log.csv.")
    assert main(["train", "--resume", str(run), "--set", "train.epochs=2"]) == 0
    assert [p for p in run.iterdir() if p.name.endswith(".tmp")] == []


KILLED_EXTRACTION = """
import sys, time, torch
from pathlib import Path
from mgmrn.storage.feature_cache import FeatureCache

class Slow(torch.nn.Module):
    def forward(self, x):
        return [x.mean(1, keepdim=True)]

def batches():
    yield torch.ones(2, 3, 4, 4), torch.zeros(2), torch.arange(2)
    print("writing", flush=True)
    time.sleep(600)

cache = FeatureCache(Path(sys.argv[1]), ["a", "b", "c", "d"])
with cache.locked():
    cache.extract(Slow(), batches(), 1, torch.device("cpu"))
"""


def test_a_killed_extraction_leaves_no_lock_and_its_temporary_file_is_removed(tmp_path: Path):
    from mgmrn.storage.feature_cache import FeatureCache

    folder = tmp_path / "cache"
    _killed_mid_write(KILLED_EXTRACTION, str(folder))
    assert [p.name for p in folder.glob("stage-1.tmp*.npy")]  # the killed write's
    cache = FeatureCache(folder, ["a", "b", "c", "d"])
    with cache.locked():  # not stuck
        assert cache.repair(1) == []
    assert sorted(p.name for p in folder.iterdir()) == [".lock"]


# ---------------------------------------------------------------- divergence
@pytest.mark.parametrize("ar_weight,needle", [
    ("1e30", "training diverged in 'select 2/2'"),  # weights beyond float32: not finite
    ("1e4", "training diverged in 'select 2/2': the weights' norm went from "),  # finite, 1e5 times larger
])
def test_a_step_that_makes_the_weights_diverge_is_not_saved(tmp_path: Path, demo_run: Path, capsys, ar_weight: str,
                                                           needle: str):
    """One step per epoch: the loss of the step is finite, the weights after it are not, or
    are orders of magnitude larger (the largest rate on a huge gradient); last.pt and model.pt
    keep the epoch before."""
    run = tmp_path / "run"
    args = tiny(demo_run.parent, "train.epochs=1", "train.optimizer=sgd", "train.lr=0.01", "train.max_batches=1")
    assert main(["train", "demo", *args, "--output", str(run)]) == 0
    before = {name: digest(run / name) for name in ("last.pt", "model.pt")}
    one_line_error(capsys, ["train", "--resume", str(run), "--set", "train.epochs=2", "train.lr=10",
                            f"loss.ar_weight={ar_weight}"], needle)
    assert {name: digest(run / name) for name in before} == before
    weights = SavedRun.open(run / "last.pt").weights
    assert all(bool(torch.isfinite(t).all()) for t in weights.values() if t.is_floating_point())


def test_validation_metrics_that_are_not_finite_mean_divergence():
    val = {"zsl_top1": 30.0, "gzsl_unseen": 10.0, "gzsl_seen": 12.0, "gzsl_h": 11.0, "gamma": 8.5,
           "temperature": 1.5}
    check_metrics("select 1/2", val)  # finite: the epoch goes on
    for key in ("gamma", "gzsl_h", "temperature"):
        with pytest.raises(UserError, match=f"training diverged in 'select 1/2': validation {key} not finite"):
            check_metrics("select 1/2", {**val, key: float("nan")})


# ---------------------------------------------------------------- numbers in the config
def _numeric_keys(cls: type = Config, prefix: str = "") -> list[tuple[str, type]]:
    """Every numeric option of the config tree: (dotted key, int or float)."""
    keys = []
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        kinds = {hint, *typing.get_args(hint)} | {a for h in typing.get_args(hint) for a in typing.get_args(h)}
        if dataclasses.is_dataclass(hint):
            keys += _numeric_keys(hint, f"{prefix}{f.name}.")
        elif float in kinds or int in kinds:
            keys.append((f"{prefix}{f.name}", float if float in kinds else int))
    return keys


SIGNED = {"eval.fixed_gamma", "eval.gamma_steps"}  # the only numbers that may be negative


def test_every_numeric_option_refuses_numbers_that_make_no_sense():
    keys = _numeric_keys()
    assert {"train.lr", "train.head_lr", "data.batch_size", "model.scale", "seed", "eval.gamma_steps",
            "data.synthetic.test_fraction", "model.prototypes"} <= {k for k, _ in keys}
    for key, kind in keys:
        bad = ["1e999", ".nan", "-.inf"] if kind is float else [str(10**30), str(-(10**30))]
        bad += [] if key in SIGNED else ["-1"]
        for value in bad:
            value = f"[{value}, 1, 0.1]" if key == "eval.gamma_steps" else value
            with pytest.raises(UserError) as err:
                load_config("demo", [f"{key}={value}"])
            message = str(err.value)
            assert key.split(".")[-1] in message and "\n" not in message, (key, value, message)


@pytest.mark.parametrize("setting,needle", [
    ("train.lr=-0.001", "train.lr must be in [0, "), ("train.lr=nan", "config key 'train.lr': expected a finite number"),
    ("train.lr=1e30", "train.lr must be in [0, 10]"), ("train.head_lr=11", "train.head_lr must be in [0, 10]"),
    ("train.weight_decay=inf", "train.weight_decay"), ("train.weight_decay=2", "train.weight_decay must be in [0, 1]"),
    ("train.momentum=1", "train.momentum must be in [0, 1)"), ("train.epochs=0", "train.epochs must be >= 1"),
    ("eval.gamma_steps=[0,1e300,1e-300]", "number of gammas"), ("seed=4294967296", "seed must be in [0, 4294967296)"),
    ("model.spatial_kernel=4", "model.spatial_kernel must be odd"),
])
def test_bad_numbers_are_one_line_from_the_command_line(capsys, setting: str, needle: str):
    one_line_error(capsys, ["train", "demo", "--set", setting], needle)


# ---------------------------------------------------------------- damaged files
def test_a_config_that_is_not_text_is_one_line(tmp_path: Path, capsys, demo_run: Path):
    binary = tmp_path / "model.yaml"
    binary.write_bytes(b"model:\n  stages: 3\n\xff\xfe\x00\x81 binary")
    one_line_error(capsys, ["train", str(binary)], "not a text file (byte 19 is not UTF-8)")
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(demo_run, run)
    (run / "config.yaml").write_bytes(bytes(range(256)))
    one_line_error(capsys, ["train", "--resume", str(run)], "not a text file")


@pytest.mark.parametrize("damage,needle", [
    (lambda s: s["model"].pop("stages.0.decoder.q.weight"), "1 weights missing (e.g. stages.0.decoder.q.weight)"),
    (lambda s: s["model"].__setitem__("stages.1.decoder.q.weight", torch.zeros(3, 3)),
     "1 weights of the wrong shape (e.g. stages.1.decoder.q.weight)"),
    (lambda s: s["model"].__setitem__("extra.weight", torch.zeros(1)), "1 unknown weights (e.g. extra.weight)"),
    (lambda s: s.pop("classes"), "damaged checkpoint: no classes"),
    (lambda s: s["config"]["model"].__setitem__("hidden", -4), "its config: model.hidden must be >= 1"),
])
def test_a_damaged_checkpoint_is_one_line(demo_run: Path, tmp_path: Path, capsys, damage, needle):
    state = torch.load(demo_run / "model.pt", weights_only=False)
    assert "stages.0.decoder.q.weight" in state["model"]
    damage(state)
    broken = tmp_path / "model.pt"
    torch.save(state, broken)
    for argv in (["eval", str(broken)], ["predict", str(broken), "x.png"]):
        one_line_error(capsys, argv, needle)


def test_a_feature_cache_cut_short_is_extracted_again(tmp_path: Path, capsys):
    run = tmp_path / "run"
    assert main(["train", "demo", *tiny(tmp_path, "train.epochs=1"), "--output", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    (stage,) = (tmp_path / "features").glob("*/stage-1.npy")
    full = stage.stat().st_size
    with open(stage, "r+b") as handle:
        handle.truncate(full // 2)
    (stage.parent / "skipped.json").write_bytes(b"\x00[")
    capsys.readouterr()
    out = tmp_path / "again.json"
    assert main(["eval", str(run), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "stage-1.npy was damaged" in printed and "skipped.json was damaged" in printed
    assert stage.stat().st_size == full
    again = json.loads(out.read_text())
    assert all(again[k] == pytest.approx(metrics[k], abs=1e-9) for k in ("zsl_top1", "gzsl_h", "ausuc"))


def test_a_model_override_that_changes_the_architecture_is_one_line(demo_run: Path, capsys):
    hidden = torch.load(demo_run / "model.pt", weights_only=False)["config"]["model"]["hidden"]
    one_line_error(capsys, ["eval", str(demo_run), "--set", f"model.hidden={hidden + 8}"],
                   "the saved weights do not fit the model the configuration describes")
