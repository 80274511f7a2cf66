"""Metrics and GZSL calibration against hand-computed cases and the per-gamma loop."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from mgmrn.errors import UserError
from mgmrn.evaluation import metrics as m

# Hand-worked GZSL case; seen and unseen global indices interleave: seen {0, 2}, unseen {1, 3}.
SEEN, UNSEEN = np.array([0, 2]), np.array([1, 3])
SCORES = np.array(
    [
        [3, 2, 0, 0],  # label 0, t = 3 - 2 = 1
        [0, 0, 4, 1],  # label 2, t = 3
        [5, 0, 1, 0],  # label 2, best seen is 0: never right
        [2, 1, 0, 0],  # label 1, t = 1
        [0, 0, 3, 1],  # label 3, t = 2
        [0, 0, 0, 1],  # label 3, t = -1
        [0, 0, 1.2, 1],  # label 3, t = 0.2
    ]
)
LABELS = np.array([0, 2, 2, 1, 3, 3, 3])


def random_case(seed: int, n: int = 400, n_classes: int = 30, integer: bool = False):
    """Scores with a seen bias and interleaved random seen/unseen global indices."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_classes)
    seen, unseen = np.sort(order[: 2 * n_classes // 3]), np.sort(order[2 * n_classes // 3 :])
    labels = rng.integers(0, n_classes, n)
    if integer:
        scores = rng.integers(0, 6, (n, n_classes)).astype(float)
        scores[np.arange(n), labels] += rng.integers(0, 3, n)
    else:
        scores = rng.normal(size=(n, n_classes))
        scores[np.arange(n), labels] += 1.5
        scores[:, seen] += 0.8
    return scores, labels, seen, unseen


def test_per_class_mean_differs_from_sample_mean():
    labels = np.array([0, 0, 0, 0, 1])
    pred = np.array([0, 0, 0, 0, 0])
    assert (pred == labels).mean() == pytest.approx(0.8)
    assert m.per_class_accuracy(pred, labels, [0, 1]) == pytest.approx(0.5)
    # absent classes do not count; images of other classes are ignored
    assert m.per_class_accuracy(pred, labels, [0, 1, 7]) == pytest.approx(0.5)
    assert m.per_class_accuracy(pred, labels, [1]) == 0.0


def test_zsl_restricted_to_unseen_candidates():
    # every unseen image's best overall class is seen, but its best unseen class is right
    scores = np.array([[9, 5, 9, 1], [9, 2, 0, 4], [0, 9, 0, 0]], dtype=float)
    labels = np.array([1, 3, 0])
    assert m.zsl_accuracy(scores, labels, UNSEEN) == 1.0
    assert m.gzsl_accuracy(scores, labels, SEEN, UNSEEN, 0.0)[0] == 0.0


def test_gzsl_hand_worked():
    u, s, h = m.gzsl_accuracy(SCORES, LABELS, SEEN, UNSEEN, gamma=1.5)
    assert (u, s, h) == pytest.approx((5 / 6, 1 / 4, 5 / 13))  # U = (1 + 2/3)/2, S = (0 + 1/2)/2
    u, s, h = m.gzsl_accuracy(SCORES, LABELS, SEEN, UNSEEN, gamma=0.0)
    assert (u, s, h) == pytest.approx((1 / 6, 3 / 4, 3 / 11))
    sweep = m.gamma_sweep(SCORES, LABELS, SEEN, UNSEEN, [1.5, 0.0])
    np.testing.assert_allclose(sweep.unseen, [5 / 6, 1 / 6])
    np.testing.assert_allclose(sweep.seen, [1 / 4, 3 / 4])
    np.testing.assert_allclose(sweep.h, [5 / 13, 3 / 11])
    np.testing.assert_allclose(m.critical_gammas(SCORES, LABELS, SEEN, UNSEEN), [-1, 0.2, 1, 2, 3])


def test_global_indices_invariant_to_class_permutation():
    scores, labels, seen, unseen = random_case(3)
    perm = np.random.default_rng(4).permutation(scores.shape[1])  # new index of class c: perm[c]
    moved = np.empty_like(scores)
    moved[:, perm] = scores
    fixed = m.Calibration("fixed", fixed=0.5)
    a = m.evaluate_scores(scores, labels, seen, unseen, fixed)
    b = m.evaluate_scores(moved, perm[labels], perm[seen], perm[unseen], fixed)
    assert a == pytest.approx(b)


@pytest.mark.parametrize("seed,integer", [(0, False), (1, False), (2, True), (5, True)])
def test_vectorised_sweep_equals_loop(seed: int, integer: bool):
    scores, labels, seen, unseen = random_case(seed, integer=integer)
    grid = np.concatenate(
        [np.linspace(-6.005, 6.005, 801), m.exact_gamma_grid(scores, labels, seen, unseen)]
    )
    fast = m.gamma_sweep(scores, labels, seen, unseen, grid)
    slow = m.gamma_sweep_loop(scores, labels, seen, unseen, grid)
    for a, b in zip(fast[1:], slow[1:]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    if not integer:  # seen-biased scores: calibration helps
        assert fast.h.max() > fast.h[np.argmin(np.abs(grid))]


def test_exact_ausuc_matches_loop_and_fine_grid():
    scores, labels, seen, unseen = random_case(7)
    exact = m.ausuc(scores, labels, seen, unseen)
    grid = m.exact_gamma_grid(scores, labels, seen, unseen)
    loop = m.gamma_sweep_loop(scores, labels, seen, unseen, grid)
    assert loop.unseen[0] == 0 and loop.seen[-1] == 0  # endpoints (0, S_max) and (U_max, 0)
    assert exact == pytest.approx(m.ausuc_from_curve(loop.unseen, loop.seen), abs=1e-12)
    fine = m.gamma_sweep(scores, labels, seen, unseen, np.linspace(-20, 20, 20001))
    assert exact == pytest.approx(m.ausuc_from_curve(fine.unseen, fine.seen), abs=2e-3)


def test_ausuc_hand_computed():
    # staircase: unseen 1 flips right at t=0, seen 0 lost at t=1, unseen 3 at t=2, seen 2 at t=3
    scores = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 4, 2], [0, 0, 3, 0]], dtype=float)
    labels = np.array([0, 1, 3, 2])
    # (0,1) -> (.5,1) -> (.5,.5) -> (1,.5) -> (1,0): area .5 + .25
    assert m.ausuc(scores, labels, SEEN, UNSEEN) == pytest.approx(0.75)
    # rectangle: every unseen image flips before any seen image: the curve passes (1, 1)
    scores = np.array([[5, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 5, 0]], dtype=float)
    assert m.ausuc(scores, labels, SEEN, UNSEEN) == pytest.approx(1.0)
    # rectangle of height S_max = 1 and width U_max = 1/2 (unseen class 3 is never right)
    scores[2] = [0, 1, 0, 0]
    assert m.ausuc(scores, labels, SEEN, UNSEEN) == pytest.approx(0.5)
    # triangle: one seen and one unseen image flip at the same gamma: (0,1) -> (1,0)
    scores = np.array([[1, 0, 0, 0], [1, 0, 0, 0]], dtype=float)
    assert m.ausuc(scores, np.array([0, 1]), SEEN, UNSEEN) == pytest.approx(0.5)
    # the hand-worked GZSL case: .125 + .125 + .25 (diagonal at t=1) + 1/24
    assert m.ausuc(SCORES, LABELS, SEEN, UNSEEN) == pytest.approx(13 / 24)


def test_choose_gamma_uses_validation_only():
    params = list(inspect.signature(m.choose_gamma).parameters)
    assert params == ["val_scores", "val_labels", "val_seen", "val_unseen", "grid"]
    val = random_case(11)
    test = random_case(12)
    chosen = m.choose_gamma(*val)
    # it maximises validation H over a brute-force loop on a fine grid
    fine = m.gamma_sweep_loop(*val, np.linspace(-6, 6, 1201))
    assert m.gzsl_accuracy(*val, chosen)[2] >= fine.h.max() - 1e-12
    result = m.evaluate_scores(*test, m.Calibration("val"), val=val)
    assert result["gamma"] == chosen and result["calibration"] == "val"
    assert result["val_gzsl_h"] == pytest.approx(100 * m.gzsl_accuracy(*val, chosen)[2])
    # the test set cannot move it: other test scores, same gamma
    noisy = test[0] + np.random.default_rng(0).normal(size=test[0].shape)
    other = m.evaluate_scores(noisy, *test[1:], m.Calibration("val"), val=val)
    assert other["gamma"] == chosen
    # a gamma chosen on validation earlier (a run's) is applied as given
    assert m.evaluate_scores(*test, m.Calibration("val", val=chosen))["gzsl_h"] == result["gzsl_h"]
    assert result["gzsl_h"] <= result["test_sweep_h"]


def test_choose_gamma_on_grid_takes_middle_of_plateau():
    # H is best (6/13) for every gamma in [0.2, 1): grid points 0.25, 0.5, 0.75
    grid = np.arange(0, 3.01, 0.25)
    assert m.choose_gamma(SCORES, LABELS, SEEN, UNSEEN, grid=grid) == 0.5
    assert 0.2 < m.choose_gamma(SCORES, LABELS, SEEN, UNSEEN) < 1  # exact grid: 0.6


def test_evaluate_scores_contract_and_modes():
    scores, labels, seen, unseen = random_case(9)
    keys = {"zsl_top1", "gzsl_unseen", "gzsl_seen", "gzsl_h", "ausuc", "gamma", "calibration"}
    swept = m.evaluate_scores(scores, labels, seen, unseen, m.Calibration("test-sweep"))
    assert keys <= swept.keys()
    assert swept["gzsl_h"] == swept["test_sweep_h"] >= swept["gzsl_h_uncalibrated"]
    u, s, h = m.gzsl_accuracy(scores, labels, seen, unseen, swept["gamma"])
    assert (swept["gzsl_unseen"], swept["gzsl_seen"], swept["gzsl_h"]) == pytest.approx((100 * u, 100 * s, 100 * h))
    assert swept["ausuc"] == pytest.approx(100 * m.ausuc(scores, labels, seen, unseen))
    fixed = m.evaluate_scores(scores, labels, seen, unseen, m.Calibration("fixed", fixed=swept["gamma"]))
    assert fixed["gzsl_h"] == pytest.approx(swept["gzsl_h"])
    u, s, h = m.gzsl_accuracy(scores, labels, seen, unseen, 0.3)
    fixed = m.evaluate_scores(torch.tensor(scores), torch.tensor(labels), seen, unseen,
                              m.Calibration("fixed", fixed=0.3, val=0.9))  # fixed ignores a val gamma
    reported = (fixed["gzsl_unseen"], fixed["gzsl_seen"], fixed["gzsl_h"])
    assert reported == pytest.approx((100 * u, 100 * s, 100 * h))
    assert fixed["zsl_top1"] == pytest.approx(100 * m.zsl_accuracy(scores, labels, unseen))
    on_grid = m.evaluate_scores(scores, labels, seen, unseen,
                                m.Calibration("test-sweep", grid=m.gamma_grid(-1, 1, 0.01)))
    assert on_grid["test_sweep_h"] <= swept["test_sweep_h"]  # the exact grid is never beaten


def test_bad_input():
    with pytest.raises(UserError, match="needs a gamma chosen on validation"):
        m.evaluate_scores(SCORES, LABELS, SEEN, UNSEEN, m.Calibration("val", fixed=0.5))
    with pytest.raises(UserError, match="needs a gamma"):
        m.evaluate_scores(SCORES, LABELS, SEEN, UNSEEN, m.Calibration("fixed", val=0.5))
    with pytest.raises(UserError, match="calibration must be one of"):
        m.evaluate_scores(SCORES, LABELS, SEEN, UNSEEN, m.Calibration("best"))
    with pytest.raises(UserError, match="overlap"):
        m.gzsl_accuracy(SCORES, LABELS, [0, 1, 2], UNSEEN)
    with pytest.raises(UserError, match="outside"):
        m.gzsl_accuracy(SCORES, LABELS, [0], UNSEEN)
    with pytest.raises(UserError):
        m.gamma_grid(1, -1, 0.01)
    assert m.gamma_grid(-1, 1, 0.01).size == 201


def test_zsl_confusion_counts_unseen_only_predictions():
    # classes 0, 1 seen; 2, 3, 4 unseen (given out of order); seen images are ignored
    scores = np.array([
        [9, 0, 1, 0, 0],  # class 2, best unseen candidate 2 (the seen 0 does not count)
        [0, 0, 0, 2, 1],  # class 2 -> 3
        [0, 0, 0, 1, 3],  # class 4 -> 4
        [0, 0, 2, 1, 0],  # class 4 -> 2
        [0, 0, 0, 5, 1],  # class 3 -> 3
        [5, 0, 0, 0, 0],  # a seen image
    ], dtype=float)
    labels = np.array([2, 2, 4, 4, 3, 0])
    unseen = np.array([4, 2, 3])
    counts = m.zsl_confusion(scores, labels, unseen)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]
    per_class = np.diag(counts) / counts.sum(1)
    assert per_class.mean() == pytest.approx(m.zsl_accuracy(scores, labels, unseen))


def test_per_class_report_names_the_most_confused_class():
    counts = np.array([[3, 1, 0], [0, 4, 0], [2, 1, 1]])
    report = m.per_class_report(counts, ["a", "b", "c"])
    assert [r["top1"] for r in report] == [75.0, 100.0, 25.0]
    assert [(r["confused_with"], r["confused_share"]) for r in report] == [("b", 25.0), (None, 0.0), ("a", 50.0)]
    assert m.per_class_report(np.zeros((1, 1), dtype=int), ["x"])[0]["top1"] is None


def test_each_stage_is_measured_at_its_own_validation_gamma():
    stages = [random_case(seed) for seed in (3, 4)]
    scores = torch.as_tensor(np.stack([s[0] for s in stages], axis=1))  # (N, 2, K): one case per stage
    labels, seen, unseen = stages[0][1:]
    val = m.stage_gammas(scores, labels, seen, unseen)
    assert val == [m.choose_gamma(scores[:, l].numpy(), labels, seen, unseen) for l in range(2)]
    calibration = m.Calibration("val", val=0.0)
    out = m.stage_metrics(scores, labels, seen, unseen, calibration, stage_val_gammas=[0.3, -0.2])
    plain = m.stage_metrics(scores, labels, seen, unseen, calibration)
    for l, (entry, gamma) in enumerate(zip(out["stages"], [0.3, -0.2])):
        u, s, h = m.gzsl_accuracy(scores[:, l].numpy(), labels, seen, unseen, gamma)
        assert entry["gamma"] == gamma and (entry["gzsl_unseen"], entry["gzsl_seen"], entry["gzsl_h"]) == \
            pytest.approx((100 * u, 100 * s, 100 * h))
        assert {k: entry[k] for k in plain["stages"][l]} == plain["stages"][l]  # the rest is unchanged
        assert "gzsl_h" not in plain["stages"][l]  # a run saved without stage gammas: no stage GZSL under val
