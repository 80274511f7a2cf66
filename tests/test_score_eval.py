"""mgmrn score-eval: metrics of score files, Fig. 3, and bad files refused in one line.

That it gives a run's metrics.json exactly: tests/test_engine.py (on the module's run)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mgmrn import metrics as pm
from mgmrn.cli.main import main


def case(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 8, 120)
    scores = rng.normal(size=(120, 8)) + 0.5 * (np.arange(8) < 5)
    scores[np.arange(120), labels] += 1.0
    return {"scores": scores.astype(np.float32), "labels": labels, "seen": np.arange(8) < 5}


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    np.savez(tmp_path / "test.npz", **case(0))
    np.savez(tmp_path / "val.npz", **case(1))
    return tmp_path / "test.npz", tmp_path / "val.npz"


def test_json_with_validation_is_the_api_s_and_the_figure_is_drawn(files, tmp_path: Path, capsys):
    test, val = files
    figure = tmp_path / "curve.png"
    assert main(["score-eval", str(test), "--val", str(val), "--json", "--figure", str(figure)]) == 0
    printed = json.loads(capsys.readouterr().out)
    t, v = case(0), case(1)
    assert printed == pm.evaluate(t["scores"], t["labels"], t["seen"], val=(v["scores"], v["labels"], v["seen"]))
    assert printed["calibration"] == "val"
    assert Image.open(figure).size[0] > 400


def test_without_validation_the_file_s_gamma_else_the_labelled_test_sweep(files, tmp_path: Path, capsys):
    test, _ = files
    assert main(["score-eval", str(test)]) == 0
    assert "calibration test-sweep" in capsys.readouterr().out
    np.savez(tmp_path / "g.npz", **case(0), gamma=0.25)
    assert main(["score-eval", str(tmp_path / "g.npz"), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert (m["calibration"], m["gamma"]) == ("val", 0.25)
    assert main(["score-eval", str(tmp_path / "g.npz"), "--gamma", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["calibration"] == "fixed"


def _bad(folder: Path, kind: str) -> Path:
    good = case(0)
    path = folder / "bad.npz"
    if kind == "text":
        path.write_text("scores\n")
    elif kind == "npy":
        np.save(folder / "bad.npy", good["scores"])
        path = folder / "bad.npy"
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("notes.txt", "hi")
    elif kind == "object":
        np.savez(path, **{**good, "labels": np.array([None] * 120, dtype=object)})
    else:
        changes = {"missing": {"seen": None}, "nan": {"scores": np.where(good["scores"] > 2, np.nan, good["scores"])},
                   "range": {"labels": good["labels"] + 1}, "shape": {"labels": good["labels"][:5]},
                   "no-unseen": {"seen": np.ones(8, bool)}, "gamma": {"gamma": np.array([1.0, 2.0])},
                   "stage-shape": {"stage_scores": good["scores"][:, None, :5]},
                   "stage-nan": {"stage_scores": np.stack([good["scores"], np.full_like(good["scores"], np.nan)], 1)},
                   "stage-gammas": {"stage_scores": np.stack([good["scores"]] * 2, 1), "stage_gammas": np.ones(1)}}[kind]
        arrays = {k: v for k, v in {**good, **changes}.items() if v is not None}
        np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("kind, needle", [
    ("text", "not an .npz file (numpy.savez writes one)"),
    ("npy", "not an .npz file (one .npy array"),
    ("zip", "missing arrays scores, labels, seen (it holds: notes.txt)"),
    ("object", "not a readable .npz file"),
    ("missing", "missing array seen (it holds: scores, labels)"),
    ("nan", "NaN or infinite values"),
    ("range", "labels must be class columns in [0, 8)"),
    ("shape", "labels must be 120 whole numbers"),
    ("no-unseen", "seen marks every class as seen"),
    ("gamma", "'gamma' must be one finite number"),
    ("stage-shape", "'stage_scores' must be (images, stages, classes) = (120, L, 8), got shape (120, 1, 5)"),
    ("stage-nan", "NaN or infinite values"),
    ("stage-gammas", "'stage_gammas' must be one finite number per stage (2), got shape (1,)"),
])
def test_bad_files_are_one_line_naming_the_file(tmp_path: Path, capsys, kind: str, needle: str):
    path = _bad(tmp_path, kind)
    assert main(["score-eval", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {path}: " in err and needle in err


def test_a_bad_validation_file_is_named_and_the_figure_path_is_checked_first(files, tmp_path: Path, capsys):
    test, _ = files
    bad = _bad(tmp_path, "nan")
    assert main(["score-eval", str(test), "--val", str(bad)]) == 2
    assert f"error: {bad}: scores hold" in capsys.readouterr().err
    assert main(["score-eval", str(test), "--figure", str(tmp_path / "curve.jpg")]) == 2
    assert "curve.jpg: the figure must be a .png, .svg, .pdf file" in capsys.readouterr().err
    assert main(["score-eval", str(tmp_path / "nowhere.npz")]) == 2
    assert "nowhere.npz: score file not found" in capsys.readouterr().err
