"""Progress bars on a terminal only, with the phase's ETA; short logs in files and pipes."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from mgmrn.utils import progress as progress_module
from mgmrn.utils.progress import EpochClock, progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_epoch_clock_counts_validation_and_restarts_per_phase():
    clock = EpochClock()
    clock.begin("select", 1, 4, now=0.0)
    assert clock.left(0.0, now=0.0) is None
    assert clock.left(0.5, now=10.0) == pytest.approx(20.0 * 3.5)  # 20 s per epoch, 3.5 left
    clock.begin("select", 2, 4, now=30.0)  # the first epoch took 30 s with its validation
    assert clock.left(0.0, now=30.0) == pytest.approx(30.0 * 3)
    clock.begin("refit", 1, 2, now=100.0)  # a new phase starts its own clock
    assert clock.left(0.25, now=105.0) == pytest.approx(20.0 * 1.75)
    clock.begin("refit", 1, 2, now=200.0)  # a new run of the same phase, too
    assert clock.left(0.5, now=210.0) == pytest.approx(20.0 * 1.5)
    clock.later = 3  # the run expects 3 epochs after this phase: counted at its pace
    assert clock.left(0.5, now=210.0) == pytest.approx(20.0 * 4.5)


def test_bars_only_on_a_terminal_with_the_phase_eta(monkeypatch):
    monkeypatch.setattr(progress_module, "_CLOCK", EpochClock())
    for stream, drawn in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        assert list(progress(range(3), "select 2/5")) == [0, 1, 2]
        assert list(progress(range(3), "val seen")) == [0, 1, 2]
        out = stream.getvalue()
        assert ("run ETA" in out) is drawn and ("val seen" in out) is drawn
        if not drawn:
            assert out == ""


def test_a_run_written_to_a_pipe_logs_one_line_per_epoch(tmp_path: Path, capfd):
    """No bar redraws in a log: a few lines per epoch (the epoch's summary), one for the
    feature extraction. The whole demo runs in this process with stdout and stderr (file
    descriptors 1 and 2 too) captured to files: not terminals, as a pipe is not."""
    sets = ["data.synthetic.classes=8", "data.synthetic.unseen_classes=3", "data.synthetic.images_per_class=8",
            "data.synthetic.image_size=48", "data.image_size=48", f"data.generated_dir={tmp_path / 'data'}",
            f"train.feature_cache_dir={tmp_path / 'features'}", "train.epochs=3", "model.stages=2", "model.hidden=32",
            "data.val_classes=0.25"]
    from mgmrn.cli.main import main

    capfd.readouterr()
    assert not sys.stdout.isatty() and not sys.stderr.isatty()
    status = main(["demo", "--output", str(tmp_path / "run"), *(a for s in sets for a in ("--set", s))])
    out, err = capfd.readouterr()
    assert status == 0, err[-2000:]
    log = out + err
    assert "\r" not in log
    epochs = [line for line in log.splitlines() if line.startswith("phase=select")]
    assert len(epochs) == 3
    assert sum("feature cache: extracted" in line for line in log.splitlines()) == 1
    assert len(log.splitlines()) < 20, log
