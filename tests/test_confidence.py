"""Temperature scaling and its measures (evaluation/confidence.py) against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny

from mgmrn.evaluation.confidence import (
    BINS,
    candidate_logits,
    fit_temperature,
    nll,
    probability_report,
    reliability,
)


def sampled(temperature: float, n: int = 20000, k: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits / temperature): calibrated at ``temperature``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, (n, k))
    p = np.exp(logits / temperature)
    p /= p.sum(1, keepdims=True)
    labels = np.array([rng.choice(k, p=row) for row in p])
    return logits, labels


def direct_ece(p: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """ECE (%) by looping over the bins (lo, hi], the first also holding 0."""
    confidence, correct = p.max(1), p.argmax(1) == labels
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = (confidence > lo) & (confidence <= hi) | ((b == 0) & (confidence == 0))
        if inside.any():
            total += inside.sum() * abs(correct[inside].mean() - confidence[inside].mean())
    return 100 * total / len(labels)


@pytest.mark.parametrize("true_t", [0.5, 3.0])
def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_at(true_t):
    logits, labels = sampled(true_t)
    assert fit_temperature(logits, labels) == pytest.approx(true_t, rel=0.08)


def test_the_fit_minimises_the_nll_and_lowers_the_ece_of_overconfident_scores():
    logits, labels = sampled(4.0)
    t = fit_temperature(logits, labels)
    assert nll(logits, labels, t) < min(nll(logits, labels, t * 1.05), nll(logits, labels, t / 1.05))
    assert reliability(logits, labels, t).ece < reliability(logits, labels).ece / 3


def test_reliability_bins_and_ece_match_a_loop():
    logits, labels = sampled(2.0, n=3000)
    for t in (1.0, 2.0, 7.0):
        r = reliability(logits, labels, t)
        p = np.exp(logits / t)
        p /= p.sum(1, keepdims=True)
        assert r.ece == pytest.approx(direct_ece(p, labels), abs=1e-9)
        assert r.counts.sum() == len(labels) and len(r.counts) == BINS
        filled = r.counts > 0
        assert np.all((r.confidence[filled] > r.edges[:-1][filled]) & (r.confidence[filled] <= r.edges[1:][filled]))


def test_candidate_logits_take_gamma_off_the_seen_columns_and_map_labels():
    scores = np.arange(12, dtype=float).reshape(2, 6)
    seen, unseen = np.array([4, 1]), np.array([0, 5])
    logits, targets, is_seen = candidate_logits(scores, [1, 5], seen, unseen, gamma=2.5)
    assert logits.tolist() == [[4 - 2.5, 1 - 2.5, 0, 5], [10 - 2.5, 7 - 2.5, 6, 11]]
    assert targets.tolist() == [1, 3] and is_seen.tolist() == [True, False]


def test_the_report_measures_seen_and_unseen_images_apart_and_keeps_the_ranking():
    logits, labels = sampled(3.0, n=4000, k=10)
    seen, unseen = np.arange(6), np.arange(6, 10)
    report = probability_report(logits, labels, seen, unseen, gamma=0.0, temperature=3.0)
    is_seen = labels < 6
    assert report["seen"]["images"] == is_seen.sum() and report["unseen"]["images"] == (~is_seen).sum()
    for name, mask in (("seen", is_seen), ("unseen", ~is_seen), ("all", np.ones_like(is_seen))):
        side = report[name]
        assert side["ece_uncalibrated"] == pytest.approx(reliability(logits[mask], labels[mask]).ece)
        assert side["nll"] == pytest.approx(nll(logits[mask], labels[mask], 3.0))
        assert side["nll"] < side["nll_uncalibrated"]
    plain = probability_report(logits, labels, seen, unseen, gamma=0.0, temperature=None)
    assert "ece" not in plain["seen"] and plain["temperature"] is None


def test_fitting_the_temperature_changes_no_metric_of_a_run(demo_run, tmp_path, monkeypatch):
    """The shared tiny run (conftest) trained again without the temperature, the stage gammas
    and the probability report: every metric and every log entry they share is the same to the
    digit; the temperature applied is the one fitted at the selected epoch."""
    import csv
    import json

    from mgmrn.cli.main import main
    from mgmrn.evaluation import evaluate
    from mgmrn.training import trainer

    monkeypatch.setattr(trainer, "fit_on_split", lambda *args: None)
    monkeypatch.setattr(trainer, "stage_gammas", lambda *args: None)
    monkeypatch.setattr(evaluate, "probability_report", lambda *args: None)
    assert main(["train", "demo", "--output", str(tmp_path / "without"), *tiny(demo_run.parent)]) == 0
    folders = [demo_run, tmp_path / "without"]
    runs = [json.loads((folder / "metrics.json").read_text()) for folder in folders]
    logs = [list(csv.DictReader((folder / "log.csv").open())) for folder in folders]
    selected = logs[0][runs[0]["selected_epoch"] - 1]
    assert runs[0]["probabilities"]["temperature"] == float(selected["val_temperature"])
    assert runs[1]["probabilities"] is None
    keys = list(runs[1]["stages"][0])  # without stage gammas: the calibration-free entries
    stages = [[{k: s[k] for k in keys} for s in m.pop("stages")] for m in runs]
    assert stages[0] == stages[1] and {k: v for k, v in runs[0].items() if k != "probabilities"} == \
        {k: v for k, v in runs[1].items() if k != "probabilities"}
    shared = ("epoch", "lr", "loss", "val_zsl_top1", "val_unseen", "val_seen", "val_h", "val_gamma")
    assert [[r[k] for k in shared] for r in logs[0]] == [[r[k] for k in shared] for r in logs[1]]
