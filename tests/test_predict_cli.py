"""``mgmrn predict`` for people and for many images: probabilities, seen/unseen, folders and
patterns, streaming, unreadable, high-bit-depth and oversized images, what it imports."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mgmrn.cli.main import main
from mgmrn.data.images import ImageDataset, decode_image
from mgmrn.errors import UserError
from mgmrn.inference.predictor import Predictor
from mgmrn.storage.saved_run import SavedRun


@pytest.fixture(scope="module")
def run_dir(demo_run: Path) -> Path:
    """The shared tiny run (conftest: frozen pretrained Lite0, 64x64, 2 stages)."""
    return demo_run


@pytest.fixture(scope="module")
def images(run_dir: Path) -> list[str]:
    """The generated set's images, sorted (nested one folder per class)."""
    return sorted(str(p) for p in (run_dir.parent / "data").rglob("images/*/*.png"))


def predict_json(capsys, *argv: str) -> tuple[int, list[dict], str]:
    capsys.readouterr()
    status = main(["predict", *argv, "--json"])
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.strip().splitlines()], captured.err


@pytest.mark.parametrize("calibration", [[], ["--no-calibration"]])
def test_probabilities_are_the_softmax_of_the_scores_over_all_classes(run_dir, images, capsys, calibration):
    saved = SavedRun.open(run_dir)
    seen = {saved.classes[int(c)] for c in saved.seen}
    k = len(saved.classes)
    assert saved.temperature > 0 and saved.temperature != 1.0  # fitted on validation
    temperature = 1.0 if calibration else saved.temperature
    status, results, _ = predict_json(capsys, str(run_dir), *images[:3], "--top-k", str(k), *calibration)
    assert status == 0
    for result in results:
        top = result["top"]
        assert sum(t["probability"] for t in top) == pytest.approx(1.0, abs=1e-5)
        best = top[0]
        for t in top:
            ratio = math.exp((t["score"] - best["score"]) / temperature)
            assert t["probability"] == pytest.approx(best["probability"] * ratio, rel=1e-4)
            assert t["seen"] is (t["class"] in seen)


def test_a_run_saved_before_temperatures_keeps_the_plain_softmax_and_says_so(run_dir, images, tmp_path, capsys):
    SavedRun.open(run_dir).replace(temperature=None, before_temperatures=True).save(tmp_path / "old.pt")
    status, old, err = predict_json(capsys, str(tmp_path / "old.pt"), images[0], "--top-k", "3")
    assert status == 0 and "saved before probabilities were calibrated" in err
    _, raw, _ = predict_json(capsys, str(run_dir), images[0], "--top-k", "3")
    for a, b in zip(old[0]["top"], raw[0]["top"]):
        assert a["class"] == b["class"] and a["score"] == pytest.approx(b["score"], abs=1e-5)
    top = old[0]["top"]
    for t in top:
        assert t["probability"] == pytest.approx(top[0]["probability"] * math.exp(t["score"] - top[0]["score"]),
                                                 rel=1e-4)


def test_text_output_gives_percentages_and_seen_or_unseen(run_dir, images, capsys):
    _, results, _ = predict_json(capsys, str(run_dir), images[0], "--top-k", "2")
    assert main(["predict", str(run_dir), images[0], "--top-k", "2"]) == 0
    expected = ", ".join(f"{t['class']} {100 * t['probability']:.1f}% ({'seen' if t['seen'] else 'unseen'})"
                         for t in results[0]["top"])
    assert capsys.readouterr().out.strip() == f"{images[0]}: {expected}"


def test_folders_and_patterns_are_expanded_and_unreadable_images_reported(run_dir, images, tmp_path, capsys):
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    for i, path in enumerate(images[:3]):
        (folder / "nested" / f"{i}.png").write_bytes(Path(path).read_bytes())
    (folder / "notes.txt").write_text("not an image, and not an image extension")
    (folder / "broken.png").write_text("not an image")
    pattern = str(Path(images[0]).parent / "*.png")
    status, results, err = predict_json(capsys, str(run_dir), str(folder), pattern, str(tmp_path / "missing.jpg"))
    assert status == 1  # some images could not be read; the others were classified
    by_pattern = sorted(str(p) for p in Path(images[0]).parent.glob("*.png"))
    expected = [str(folder / "broken.png"), *(str(folder / "nested" / f"{i}.png") for i in range(3)),
                *by_pattern, str(tmp_path / "missing.jpg")]
    assert [r["image"] for r in results] == expected
    assert [r.get("error") for r in results] == ["not an image file (cannot identify its format)",
                                                 *[None] * (len(expected) - 2), "image file not found"]
    assert err.splitlines() == [f"mgmrn predict: error: {folder / 'broken.png'}: not an image file "
                                "(cannot identify its format)",
                                f"mgmrn predict: error: {tmp_path / 'missing.jpg'}: image file not found"]
    assert main(["predict", str(run_dir), str(tmp_path / "none-*.png")]) == 2
    assert "no image file matches this pattern" in capsys.readouterr().err


def test_stream_reads_a_batch_ahead_not_everything(run_dir, images):
    predictor = Predictor(run_dir)
    transform, read = predictor.transform, []
    predictor.transform = lambda image: read.append(1) or transform(image)
    results = predictor.stream(images[:8], batch_size=2)
    first = next(results)
    assert first["image"] == images[0] and len(read) <= 4  # its batch and the next one
    assert [r["image"] for r in [first, *results]] == images[:8]


def test_predictor_api_has_probabilities_and_raises_on_unreadable_images(run_dir, images, tmp_path):
    predictor = Predictor(run_dir)
    (result,) = predictor.predict(images[:1], top_k=2)
    assert set(result["top"][0]) == {"class", "score", "probability", "seen"}
    bad = tmp_path / "bad.jpg"
    bad.write_text("x")
    with pytest.raises(UserError, match="bad.jpg: not an image file"):
        predictor.predict([images[0], str(bad)])


def test_a_progress_bar_only_on_a_terminal(run_dir, images, monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["predict", str(run_dir), *images[:2]]) == 0
    assert "classifying" in terminal.getvalue() and "image" in terminal.getvalue()
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def grey(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(array, mode).save(path)
    return path


@pytest.mark.parametrize("name,array,mode", [
    ("16bit.png", np.full((8, 8), 30000, np.uint16), None),
    ("int.tif", np.full((8, 8), 30000, np.int32), None),
    ("float.tif", np.full((8, 8), 0.46, np.float32), None),
])
def test_high_bit_depth_images_are_scaled_not_clipped(tmp_path, name, array, mode):
    path = grey(tmp_path / name, array, mode)
    assert Image.open(path).mode in ("I;16", "I", "F")
    assert np.asarray(decode_image(path)).tolist() == np.full((8, 8, 3), 117).tolist()


def test_sixteen_bit_images_predict_and_train_as_their_eight_bit_copy(run_dir, tmp_path, capsys):
    ramp = np.linspace(0, 255, 64 * 64).reshape(64, 64).round()
    deep = grey(tmp_path / "deep.png", (ramp * 257).astype(np.uint16))
    flat = grey(tmp_path / "flat.png", ramp.astype(np.uint8))
    _, results, _ = predict_json(capsys, str(run_dir), str(deep), str(flat))
    for a, b in zip(results[0]["top"], results[1]["top"]):
        assert (a["class"], a["score"]) == (b["class"], pytest.approx(b["score"], abs=1e-4))
    transform = Predictor(run_dir).transform
    dataset = ImageDataset([(str(deep), 0), (str(flat), 0)], transform)  # the training images' reader
    assert torch.equal(dataset[0][0], dataset[1][0])


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # pytest resets mgmrn's filter
@pytest.mark.parametrize("side", [12, 20])  # above the limit; above twice the limit (Pillow's own error)
def test_oversized_images_are_refused_in_one_line(run_dir, tmp_path, monkeypatch, capsys, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    big = grey(tmp_path / "big.png", np.zeros((side, side), np.uint8))
    problem = decode_image(big)
    assert isinstance(problem, str) and problem.startswith("image too large")
    assert ImageDataset([(str(big), 0)], lambda image: image)[0].problem == problem  # training reads alike
    status, results, err = predict_json(capsys, str(run_dir), str(big))
    assert status == 1 and results == [{"image": str(big), "error": problem}]
    assert err.strip() == f"mgmrn predict: error: {big}: {problem}"


def test_predict_imports_only_what_prediction_needs(run_dir, images):
    code = ("import json, sys\nfrom mgmrn.cli.main import main\n"
            f"assert main(['predict', {str(run_dir)!r}, {images[0]!r}]) == 0\n"
            "print(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert {"mgmrn.inference.predictor", "mgmrn.models.mgmrn"} <= loaded
    unneeded = {"mgmrn.training.trainer", "mgmrn.evaluation.metrics", "mgmrn.data.build", "mgmrn.viz.attention",
                "torch.utils.tensorboard", "tensorboard", "scipy"}
    assert loaded.isdisjoint(unneeded), loaded & unneeded


def test_predict_goes_on_past_images_of_absurd_geometry(run_dir, images, tmp_path, capsys):
    """A folder with good images beside a 60000 x 1 and an 89,000,000 x 1 PNG (87 KB): each
    absurd one is one line, refused from its header, and the good ones are classified."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, image in enumerate(images[:2]):
        (folder / f"good{i}.png").write_bytes(Path(image).read_bytes())
    Image.new("L", (60_000, 1)).save(folder / "wide.png")
    Image.new("L", (1, 1)).save(folder / "tall.png")  # then its header made 1 x 89,000,000
    tall = bytearray((folder / "tall.png").read_bytes())
    tall[16:24] = (1).to_bytes(4, "big") + (89_000_000).to_bytes(4, "big")  # IHDR width, height
    tall[29:33] = zlib.crc32(bytes(tall[12:29])).to_bytes(4, "big")
    (folder / "tall.png").write_bytes(bytes(tall))
    status, results, err = predict_json(capsys, str(run_dir), str(folder))
    assert status == 1
    assert [r["image"] for r in results if "top" in r] == [str(folder / "good0.png"), str(folder / "good1.png")]
    assert err.splitlines() == [
        f"mgmrn predict: error: {folder / 'tall.png'}: image too large: 1 x 89000000 = 89,000,000 pixels "
        "(limit 50,000,000)",
        f"mgmrn predict: error: {folder / 'wide.png'}: image too large: 60000 x 1 pixels (at most 32,768 a side)"]


def test_a_misspelt_class_or_attribute_gets_the_closest_name(run_dir, images, capsys):
    predictor = Predictor(run_dir)
    name, attribute = predictor.classes.names[0], predictor.attribute_names[0]
    assert main(["attention", str(run_dir), images[0], "--class", name[:-1] + "X"]) == 2
    assert f"unknown class '{name[:-1]}X': did you mean '{name}'?" in capsys.readouterr().err
    assert main(["attention", str(run_dir), images[0], "--attributes", attribute + "s"]) == 2
    assert f"did you mean '{attribute}'?" in capsys.readouterr().err
