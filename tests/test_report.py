"""``mgmrn report``: each figure's data against an independent computation (metrics.json,
log.csv, direct loops), the report cache, the files written, and bad input."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mgmrn.cli.main import main
from mgmrn.storage.saved_run import SavedRun
from mgmrn.viz.attention import all_stages
from mgmrn.viz.report import predictions as predictions_module
from mgmrn.viz.report.attention import ATTRIBUTES, IMAGES, rows
from mgmrn.viz.report.attribute_error import attribute_errors, breakdown
from mgmrn.viz.report.build import SECTIONS
from mgmrn.viz.report.embedding import (
    CLASSES,
    SHADES,
    class_colours,
    colour_word,
    panels,
    section,
)
from mgmrn.viz.report.metrics_table import COMPARED, NO_GAMMA, metrics_rows
from mgmrn.viz.report.per_class import matrix, per_class
from mgmrn.viz.report.predictions import CACHE, Predictions, predictions
from mgmrn.viz.report.reliability import diagrams
from mgmrn.viz.report.runs import Run, label_runs, open_run
from mgmrn.viz.report.seen_unseen import curve, stage_curves
from mgmrn.viz.report.sweep import sweep
from mgmrn.viz.report.training import phases, selected


@pytest.fixture(scope="session")
def opened(run_dirs: list[Path], report_dir: Path) -> tuple[list[Run], list[Predictions]]:
    """The runs, labelled, and their (cached) test predictions."""
    runs = [open_run(d) for d in run_dirs]
    label_runs(runs)
    return runs, [predictions(r) for r in runs]


def test_the_report_writes_every_figure_as_png_and_svg_and_one_self_contained_page(report_dir: Path):
    names = ["metrics", "seen-unseen", "reliability", "training", "per-class", "confusion", "attribute-error",
             "attribute-breakdown", "tsne", "attention", "sweep"]
    assert len(SECTIONS) == len(names)
    for name in names:
        assert (report_dir / f"{name}.png").stat().st_size > 1000, name
        assert (report_dir / f"{name}.svg").read_text().lstrip().startswith("<?xml"), name
    page = (report_dir / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(names) - 1  # the metrics are an HTML table
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert page.count(" src=") == page.count(' src="data:')  # nothing loaded from elsewhere
    assert (report_dir / f"attention-stages-{IMAGES * 2}.png").is_file()


def test_runs_are_labelled_by_their_config_differences(opened):
    runs, _ = opened
    assert [r.label for r in runs] == ["model.stages=2", "model.stages=1"]
    alone = [open_run(runs[0].folder)]
    label_runs(alone)
    assert alone[0].label == "L2"


def test_the_metrics_table_reproduces_metrics_json(opened):
    runs, preds_of = opened
    for run, preds in zip(*opened):
        table = metrics_rows(run, preds)
        fused, stages = table[-1], table[:-1]
        assert fused.scores == "fused" and fused.gamma == pytest.approx(run.metrics["gamma"], abs=1e-6)
        for key in COMPARED:
            assert getattr(fused, key) == pytest.approx(run.metrics[key], abs=1e-6), key
        assert len(stages) == len(run.metrics["stages"]) == run.cfg.model.stages
        assert fused.test_sweep_h == pytest.approx(run.metrics["test_sweep_h"], abs=1e-6)
        assert run.metrics["calibration"] == "val" and len(run.saved.stage_gammas) == len(stages)
        for row, saved, gamma in zip(stages, run.metrics["stages"], run.saved.stage_gammas):
            assert row.gamma == saved["gamma"] == gamma and row.how == fused.how  # one protocol in every row
            for key in ("zsl_top1", "ausuc", "gzsl_unseen", "gzsl_seen", "gzsl_h", "test_sweep_gamma",
                        "test_sweep_h"):
                assert getattr(row, key) == pytest.approx(saved[key], abs=1e-6), key
    old = replace(runs[0], saved=runs[0].saved.replace(stage_gammas=None))
    assert all(r.gzsl_h is None and r.gamma is None for r in metrics_rows(old, preds_of[0])[:-1])


def direct_gzsl(scores: np.ndarray, labels: np.ndarray, seen: np.ndarray, unseen: np.ndarray,
                gamma: float) -> tuple[float, float]:
    """(U, S) in % by re-scoring every image (ties to the unseen class), per-class means."""
    calibrated = scores - gamma * np.isin(np.arange(scores.shape[1]), seen)
    order = np.concatenate([unseen, seen])
    pred = order[np.argmax(calibrated[:, order], axis=1)]

    def mean(classes: np.ndarray) -> float:
        present = [c for c in classes if (labels == c).any()]
        return 100 * float(np.mean([(pred[labels == c] == c).mean() for c in present]))

    return mean(unseen), mean(seen)


def test_the_seen_unseen_curve_has_the_area_and_the_point_of_metrics_json(opened):
    for run, preds in zip(*opened):
        c = curve(preds, run.metrics["gamma"])
        assert c.ausuc == pytest.approx(run.metrics["ausuc"], abs=1e-6)
        assert np.trapezoid(c.seen, c.unseen) / 100 == pytest.approx(run.metrics["ausuc"], abs=1e-6)  # %: of 100 x 100
        assert c.chosen == pytest.approx((run.metrics["gzsl_unseen"], run.metrics["gzsl_seen"]), abs=1e-6)
        assert c.uncalibrated == pytest.approx((run.metrics["gzsl_unseen_uncalibrated"],
                                                run.metrics["gzsl_seen_uncalibrated"]), abs=1e-6)
        for stage, saved in zip(stage_curves(run, preds), run.metrics["stages"], strict=True):
            assert stage.ausuc == pytest.approx(saved["ausuc"], abs=1e-6)
            assert stage.chosen == pytest.approx((saved["gzsl_unseen"], saved["gzsl_seen"]), abs=1e-6)
        assert c.unseen[0] == 0 and c.seen[-1] == 0 and np.all(np.diff(c.unseen) >= 0)
        args = (preds.fused_scores(), preds.labels, preds.data.seen, preds.data.unseen)
        for i in np.linspace(1, len(c.gammas) - 1, 5).astype(int):  # critical gammas: U, S by re-scoring
            assert (c.unseen[i], c.seen[i]) == pytest.approx(direct_gzsl(*args, c.gammas[i]), abs=1e-6)


def test_per_class_bars_average_to_the_zsl_top1_and_count_the_confusions(opened):
    for run, preds in zip(*opened):
        result = per_class(preds)
        assert float(np.mean(result.top1)) == pytest.approx(run.metrics["zsl_top1"], abs=1e-6)
        assert list(result.top1) == sorted(result.top1)
        d, fused = preds.data, preds.fused_scores()
        rows = np.isin(preds.labels, d.unseen)
        pred = d.unseen[np.argmax(fused[rows][:, d.unseen], axis=1)]
        true = preds.labels[rows]
        direct = {d.classes[c]: 100 * float((pred[true == c] == c).mean()) for c in np.unique(true)}
        assert dict(zip(result.names, result.top1)) == pytest.approx(direct)
        saved = {r["class"]: r["top1"] for r in run.metrics["zsl_per_class"]}
        assert dict(zip(result.names, result.top1)) == pytest.approx(saved)
        pairs = {(d.classes[t], d.classes[p]): int(((true == t) & (pred == p)).sum())
                 for t in np.unique(true) for p in d.unseen if p != t}
        for c in result.confusions:
            assert c.images == pairs[(c.true, c.predicted)] > 0
        assert result.confusions[0].images == max(pairs.values())


def test_the_confusion_matrix_has_each_class_s_images_and_top1_of_metrics_json(opened):
    for run, preds in zip(*opened):
        found = matrix(preds)
        saved = {r["class"]: r for r in run.metrics["zsl_per_class"]}
        assert sorted(found.names) == sorted(saved)
        shares = found.shares()
        for i, name in enumerate(found.names):
            assert found.counts[i].sum() == saved[name]["images"]
            if saved[name]["top1"] is not None:
                assert shares[i, i] == pytest.approx(saved[name]["top1"], abs=1e-9)
                assert shares[i].sum() == pytest.approx(100.0)
        top1 = [saved[n]["top1"] for n in found.names if saved[n]["top1"] is not None]
        assert top1 == sorted(top1)  # worst first


def test_attribute_errors_match_a_direct_computation(opened):
    for _, preds in zip(*opened):
        stats = attribute_errors(preds)
        L = preds.z.shape[1]
        assert stats.parts == [f"stage {l + 1}" for l in range(L)] + ["fused"]
        for k, unseen in enumerate((False, True)):
            values: list[list[float]] = [[] for _ in range(L + 1)]
            for z, y in zip(preds.z.astype(np.float64), preds.labels):
                if (y in preds.data.unseen) != unseen:
                    continue
                a = preds.data.attributes[y].astype(np.float64)
                units = [v / np.linalg.norm(v) for v in z]
                fused = sum(units) / np.linalg.norm(sum(units))
                for part, u in enumerate([*units, fused]):
                    values[part].extend(np.abs(u * np.linalg.norm(a) - a))
            assert stats.mean[k] == pytest.approx([np.mean(v) for v in values], rel=1e-9)
            assert stats.sd[k] == pytest.approx([np.std(v) for v in values], rel=1e-9)


def test_the_reliability_diagrams_have_the_ece_and_nll_of_metrics_json(opened):
    for run, preds in zip(*opened):
        saved = run.metrics["probabilities"]
        assert saved["gamma"] == run.metrics["gamma"] and saved["temperature"] == run.saved.temperature
        for d in diagrams(run, preds):
            side = saved[d.split]
            assert d.temperature == saved["temperature"] and d.plain.counts.sum() == side["images"]
            assert d.scaled.counts.sum() == side["images"]
            for mine, key in ((d.plain.ece, "ece_uncalibrated"), (d.scaled.ece, "ece"),
                              (d.nll_plain, "nll_uncalibrated"), (d.nll_scaled, "nll")):
                assert mine == pytest.approx(side[key], abs=1e-6), key
            unseen = np.isin(preds.labels, preds.data.unseen)
            assert side["images"] == int((unseen if d.split == "unseen" else ~unseen).sum())


def test_the_attribute_breakdown_has_the_largest_seen_unseen_differences(opened):
    for run, preds in zip(*opened):
        d = preds.data
        z = preds.z.astype(np.float64)
        fused = z / np.linalg.norm(z, axis=-1, keepdims=True)
        fused = fused.sum(1) / np.linalg.norm(fused.sum(1), axis=-1, keepdims=True)
        a = d.attributes[preds.labels]
        error = np.abs(fused * np.linalg.norm(a, axis=-1, keepdims=True) - a)
        unseen = np.isin(preds.labels, d.unseen)
        gap = error[unseen].mean(0) - error[~unseen].mean(0)
        found = breakdown(preds, largest=5)
        index = [list(d.attribute_names).index(n) for n in found.names]
        assert np.abs(gap[index]).min() >= np.sort(np.abs(gap))[-5] - 1e-12
        assert found.seen == pytest.approx(error[~unseen].mean(0)[index], rel=1e-9)
        assert found.unseen == pytest.approx(error[unseen].mean(0)[index], rel=1e-9)


def test_the_training_curves_mark_the_selected_epoch(opened):
    for run, _ in zip(*opened):
        log = list(csv.DictReader((run.folder / "log.csv").open()))
        found = phases(run)
        assert [e for p in found for e in p.epochs] == [int(r["epoch"]) for r in log]
        assert [x for p in found for x in p.lr] == [float(r["lr"]) for r in log]
        select = next(p for p in found if p.name == "select")
        for key in ("val_zsl_top1", "val_unseen", "val_seen", "val_h"):
            assert select.val[key] == [float(r[key]) for r in log if r["phase"] == "select"], key
        chosen = selected(run, found)
        assert chosen is not None and chosen.epoch == run.metrics["selected_epoch"]
        row = next(r for r in log if r["phase"] == chosen.phase and int(r["epoch"]) == chosen.epoch)
        assert chosen.loss == float(row["loss"])
        val_h = [float(r["val_h"]) for r in log if r["phase"] == "select"]
        assert chosen.val_h == max(val_h) and val_h.index(max(val_h)) + 1 == chosen.epoch  # train.select=val


def test_tsne_panels_show_the_same_classes_and_images_for_every_run(opened):
    runs, preds = opened
    found = [panels(r, p) for r, p in zip(runs, preds)]
    for run_panels, p in zip(found, preds):
        seen, unseen, joint = run_panels
        assert set(seen.labels) <= set(p.data.seen) and set(unseen.labels) <= set(p.data.unseen)
        for panel in (seen, unseen):
            assert len(panel.names) == min(CLASSES, len(np.intersect1d(panel.labels, p.labels)))
            assert panel.points.shape == (len(panel.labels), 2) and np.isfinite(panel.points).all()
        assert np.array_equal(np.sort(joint.labels), np.sort(np.concatenate([seen.labels, unseen.labels])))
        assert joint.names == {**seen.names, **unseen.names}
        assert joint.prototypes.shape == (len(joint.names), 2) and np.isfinite(joint.prototypes).all()
    for a, b in zip(*found):
        assert np.array_equal(a.labels, b.labels)
    caption = section(runs, preds).caption
    assert f"{len(found[0][0].names)} seen and {len(found[0][1].names)} unseen classes" in caption


def test_class_colours_follow_colour_words_and_others_avoid_them():
    names = ["large_cross_plain_green", "small_cross_striped_green", "Red_winged_Blackbird", "Laysan_Albatross",
             "Gray_Catbird", "Brandt_Cormorant"]
    colours = class_colours(names)
    assert len(set(colours.values())) == len(names)
    for name in names:
        word = colour_word(name)
        named = {c for w in ("green", "red", "grey") for c in SHADES[w]}
        assert colours[name] in SHADES[word] if word else colours[name] not in named


def test_attention_rows_share_images_and_attributes_and_sum_the_stages(opened):
    runs, preds = opened
    found = rows(runs, preds)
    assert len(found) == 2 * min(IMAGES, len(preds[0].data.unseen))
    unseen_names = {preds[0].data.classes[c] for c in preds[0].data.unseen}
    for first, second in zip(found[::2], found[1::2]):
        assert (first.run, second.run) == (runs[0].label, runs[1].label)
        assert first.explanation.image == second.explanation.image
        assert first.explanation.attributes == second.explanation.attributes
        assert len(first.explanation.attributes) == ATTRIBUTES
    for row in found:
        e = row.explanation
        assert e.predicted_class in unseen_names and e.class_name in unseen_names
        assert e.predicted == (e.predicted_class == e.class_name)
        total = torch.zeros_like(e.stages[0].own)
        for stage in e.stages:
            total += stage.own + (stage.fused if stage.fused is not None else 0)
        assert torch.allclose(all_stages(e), total)


def test_the_sweep_needs_runs_that_differ_only_in_l_or_n_p(opened):
    runs, _ = opened
    found = sweep(runs)
    assert found is not None and found.key == "model.stages" and found.values == [1, 2]
    assert found.zsl_top1 == [runs[1].metrics["zsl_top1"], runs[0].metrics["zsl_top1"]]
    assert found.gzsl_h == [runs[1].metrics["gzsl_h"], runs[0].metrics["gzsl_h"]]
    assert sweep(runs[:1]) is None
    other = replace(runs[1].cfg, seed=5)
    assert sweep([runs[0], replace(runs[1], saved=runs[1].saved.replace(config=other))]) is None


def test_the_cache_is_reused_and_recomputed_when_model_pt_changes(opened, tmp_path: Path, monkeypatch):
    runs, preds = opened
    folder = shutil.copytree(runs[0].folder, tmp_path / "run", ignore=shutil.ignore_patterns("report*"))
    computed = []
    original = predictions_module._predict
    monkeypatch.setattr(predictions_module, "_predict", lambda *a: computed.append(1) or original(*a))
    first = predictions(open_run(folder))
    again = predictions(open_run(folder))
    assert len(computed) == 1 and (folder / CACHE).is_file()
    assert np.array_equal(first.z, again.z) and np.array_equal(first.z, preds[0].z)
    saved = SavedRun.open(folder)
    saved.replace(weights={k: v + 0.01 if v.is_floating_point() else v for k, v in saved.weights.items()}).save(
        folder / "model.pt")
    changed = predictions(open_run(folder))
    assert len(computed) == 2 and not np.allclose(changed.z, first.z)


def test_a_run_saved_before_temperatures_and_stage_gammas_is_reported_as_it_was(opened, tmp_path: Path):
    runs, _ = opened
    folder = shutil.copytree(runs[0].folder, tmp_path / "old", ignore=shutil.ignore_patterns("report*"))
    SavedRun.open(folder).replace(temperature=None, before_temperatures=True, stage_gammas=None).save(
        folder / "model.pt")
    metrics = json.loads((folder / "metrics.json").read_text())
    del metrics["probabilities"]
    metrics["stages"] = [{k: m[k] for k in ("zsl_top1", "ausuc", "test_sweep_h")} for m in metrics["stages"]]
    (folder / "metrics.json").write_text(json.dumps(metrics))
    rows = list(csv.DictReader((folder / "log.csv").open()))
    kept = ["phase", "epoch", "lr", "loss", "img_s", "seconds", "val_zsl_top1", "val_h", "val_gamma"]
    with (folder / "log.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, kept, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    assert main(["report", str(folder), "--output", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Runs without a temperature" in page and NO_GAMMA in page
    old = open_run(folder)
    found = diagrams(old, predictions(old))
    assert all(d.temperature is None and d.scaled is None for d in found)
    assert found[0].plain.ece == pytest.approx(runs[0].metrics["probabilities"]["seen"]["ece_uncalibrated"], abs=1e-6)


@pytest.mark.parametrize("remove, named", [("model.pt", ""), ("metrics.json", "metrics.json"),
                                            ("log.csv", "log.csv"), ("run", "")])
def test_bad_input_is_one_line_naming_the_file(run_dirs, tmp_path: Path, capsys, remove, named):
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("model.pt", "metrics.json", "log.csv"):
        if name != remove:
            (folder / name).symlink_to(run_dirs[0] / name)
    target = tmp_path / "missing" if remove == "run" else folder
    capsys.readouterr()
    assert main(["report", str(target), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(target / named if named else target) in err
    assert not (tmp_path / "out").exists()


def test_a_metrics_file_that_is_not_json_is_named(run_dirs, tmp_path: Path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("model.pt", "log.csv"):
        (folder / name).symlink_to(run_dirs[0] / name)
    (folder / "metrics.json").write_text("{not json")
    assert main(["report", str(folder)]) == 2
    assert f"{folder / 'metrics.json'}: not readable JSON" in capsys.readouterr().err
    assert json.loads((run_dirs[0] / "metrics.json").read_text())  # the run itself is untouched


def test_an_output_that_is_a_file_is_refused(run_dirs, tmp_path: Path, capsys):
    (tmp_path / "out").write_text("")
    assert main(["report", str(run_dirs[0]), "--output", str(tmp_path / "out")]) == 2
    assert f"{tmp_path / 'out'}: --output must be a directory" in capsys.readouterr().err
