"""mgmrn.metrics, the public API: the docs' example, its conventions, torch inputs, checks,
agreement with the per-gamma re-scoring, and what importing it loads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mgmrn import metrics as pm
from mgmrn.errors import UserError
from mgmrn.evaluation import metrics as engine

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def random_case(seed: int, n: int = 300, k: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores with a seen bias; seen and unseen columns interleave."""
    rng = np.random.default_rng(seed)
    seen = rng.permutation(np.arange(k) < 13)
    labels = rng.integers(0, k, n)
    scores = rng.normal(size=(n, k)) + 0.8 * seen
    scores[np.arange(n), labels] += 1.5
    return scores, labels, seen


def test_the_docs_example_runs_and_its_hand_computed_asserts_hold():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    out = subprocess.run([sys.executable, "-c", blocks[0]], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "'gzsl_h': 50.0" in out.stdout


def test_importing_it_loads_no_torch_and_no_training_code():
    code = ("import sys, mgmrn.metrics; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'torchvision', 'timm') or m.startswith(('mgmrn.models', 'mgmrn.data', 'mgmrn.training.trainer'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ties_go_to_the_lowest_column_within_a_kind_and_to_the_unseen_class_across():
    seen = np.array([True, False, False])
    scores = np.array([[2.0, 1.0, 1.0],   # class 0: right
                       [1.0, 1.0, 1.0],   # class 1: seen 0 ties unseen 1 and 2: class 1
                       [0.0, 3.0, 3.0]])  # class 2: unseen 1 and 2 tie: class 1
    labels = np.array([0, 1, 2])
    assert pm.zsl_top1(scores, labels, seen) == 0.5
    assert pm.gzsl(scores, labels, seen) == (0.5, 1.0, 2 / 3)


def test_classes_without_images_do_not_count_and_columns_need_not_be_grouped():
    seen = np.array([False, True, False, True])  # unseen 0 and 2 (2 has no image), seen 1 and 3
    scores = np.array([[5.0, 0, 0, 0], [0, 5, 0, 0], [0, 5, 0, 0], [0, 0, 0, 5], [0, 5, 0, 0]])
    labels = np.array([0, 1, 3, 3, 1])
    assert pm.zsl_top1(scores, labels, seen) == 1.0
    assert pm.gzsl(scores, labels, seen) == (1.0, 0.75, pytest.approx(6 / 7))  # S: (2/2 + 1/2) / 2


@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_the_per_gamma_rescoring_and_the_engine(seed: int):
    scores, labels, seen = random_case(seed)
    s, u = np.flatnonzero(seen), np.flatnonzero(~seen)
    grid = engine.exact_gamma_grid(scores, labels, s, u)
    loop = engine.gamma_sweep_loop(scores, labels, s, u, grid)
    best = pm.test_sweep(scores, labels, seen)
    assert best.gzsl.h == pytest.approx(loop.h.max(), abs=1e-12)
    curve = pm.seen_unseen_curve(scores, labels, seen)
    for g, uu, ss in zip(curve.gammas[1:], curve.unseen[1:], curve.seen[1:]):  # each point, re-scored
        assert pm.gzsl(scores, labels, seen, g + 1e-9)[:2] == pytest.approx((uu, ss), abs=1e-12)
    assert curve.ausuc == pm.ausuc(scores, labels, seen) == engine.ausuc(scores, labels, s, u)
    ours = pm.evaluate(scores, labels, seen, val_gamma=0.3)
    assert ours == engine.evaluate_scores(scores, labels, s, u, engine.Calibration("val", val=0.3))


def test_torch_tensors_on_any_device_give_the_numpy_results():
    scores, labels, seen = random_case(7)
    expected = pm.evaluate(scores, labels, seen, val=(scores[:100], labels[:100], seen))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        t = [torch.as_tensor(x, device=device) for x in (scores, labels, seen)]
        assert pm.evaluate(*t, val=(t[0][:100], t[1][:100], t[2])) == expected
        assert pm.zsl_top1(*t) == pm.zsl_top1(scores, labels, seen)
    as_lists = pm.gzsl(scores.tolist(), labels.tolist(), seen.tolist(), 0.5)
    assert as_lists == pm.gzsl(scores, labels, seen, 0.5)


def test_the_gamma_chosen_on_validation_is_applied_and_labelled():
    scores, labels, seen = random_case(1)
    val = random_case(2)
    gamma = pm.choose_gamma(*val)
    m = pm.evaluate(scores, labels, seen, val=val)
    assert (m["calibration"], m["gamma"]) == ("val", gamma)
    assert m["gzsl_h"] == 100 * pm.gzsl(scores, labels, seen, gamma).h
    sweep = pm.evaluate(scores, labels, seen)
    assert sweep["calibration"] == "test-sweep" and sweep["gzsl_h"] == sweep["test_sweep_h"] >= m["gzsl_h"]
    assert pm.evaluate(scores, labels, seen, gamma=1.0)["calibration"] == "fixed"
    with pytest.raises(UserError, match="at most one"):
        pm.evaluate(scores, labels, seen, gamma=1.0, val_gamma=2.0)


S, Y, SEEN = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1]), np.array([True, False])


@pytest.mark.parametrize("scores, labels, seen, needle", [
    (S[0], Y, SEEN, r"scores must be a numeric \(images, classes\) matrix"),
    (np.array([["a", "b"]]), Y[:1], SEEN, "scores must be a numeric"),
    (np.array([[np.nan, 0.0], [0.0, 1.0]]), Y, SEEN, "scores hold 1 NaN or infinite values"),
    (S, Y[:1], SEEN, "labels must be 2 whole numbers"),
    (S, np.array([0.0, 0.5]), SEEN, "labels must be 2 whole numbers"),
    (S, np.array([0, 2]), SEEN, r"labels must be class columns in \[0, 2\), got 0 to 2"),
    (S, np.array([-1, 1]), SEEN, "labels must be class columns"),
    (S, Y, np.array([True]), "seen must be 2 booleans"),
    (S, Y, np.array([True, True]), "seen marks every class as seen"),
    (S, Y, np.array([False, False]), "seen marks no class as seen"),
    (S, np.array([0, 0]), SEEN, "labels hold no image of an unseen class"),
    (S, np.array([1, 1]), SEEN, "labels hold no image of a seen class"),
])
def test_bad_inputs_are_one_line_naming_the_array(scores, labels, seen, needle):
    with pytest.raises(UserError, match=needle) as info:
        pm.evaluate(scores, labels, seen)
    assert "\n" not in str(info.value)
    with pytest.raises(UserError, match="val " + needle.split(" ", 1)[0]):
        pm.evaluate(S, Y, SEEN, val=(scores, labels, seen))
