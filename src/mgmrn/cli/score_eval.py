"""``mgmrn score-eval SCORES.npz [--val VAL.npz | --gamma G] [--json] [--figure PNG]``: the
metrics of any model's class scores (a score file, :mod:`mgmrn.utils.score_file`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mgmrn.errors import UserError

if TYPE_CHECKING:
    from mgmrn.utils.score_file import ScoreFile

FIGURE_FORMATS = (".png", ".svg", ".pdf")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scores", type=Path, metavar="SCORES.npz",
                        help="arrays scores (images x classes), labels (class columns), seen (one boolean per "
                             "class); optional gamma (chosen on validation) and temperature, as "
                             "'mgmrn eval --save-scores' writes them")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--val", type=Path, metavar="VAL.npz",
                     help="validation scores in the same form: gamma is chosen there (best H)")
    how.add_argument("--gamma", type=float, help="a fixed gamma (calibration 'fixed')")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object only")
    parser.add_argument("--figure", type=Path, metavar="PNG",
                        help="draw the seen-unseen curve (Fig. 3) to this .png, .svg or .pdf file")


def _check_figure(path: Path | None) -> None:
    if path is None:
        return
    if path.suffix.lower() not in FIGURE_FORMATS:
        raise UserError(f"the figure must be a {', '.join(FIGURE_FORMATS)} file", path)
    if not path.parent.is_dir():
        raise UserError("no such folder for the figure", path.parent)


def _checked(path: Path) -> ScoreFile:
    """The score file ``path``, its arrays checked (:func:`mgmrn.metrics.check`), problems naming it."""
    from mgmrn.metrics import check
    from mgmrn.utils.score_file import load_scores

    scores = load_scores(path)
    try:
        check(scores.scores, scores.labels, scores.seen)
        _check_stages(scores)
    except UserError as exc:
        raise UserError(str(exc), path) from None
    return scores


def _check_stages(s: ScoreFile) -> None:
    """``stage_scores`` (N, L, K) beside ``scores``, each stage's scores evaluable; ``stage_gammas``
    one finite number per stage."""
    import numpy as np

    from mgmrn.metrics import check

    if s.stage_scores is None:
        if s.stage_gammas is not None:
            raise UserError("'stage_gammas' without 'stage_scores'")
        return
    n, k = np.shape(s.scores)
    if s.stage_scores.ndim != 3 or s.stage_scores.shape[::2] != (n, k):
        raise UserError(f"'stage_scores' must be (images, stages, classes) = ({n}, L, {k}), "
                        f"got shape {s.stage_scores.shape}")
    for stage in range(s.stage_scores.shape[1]):
        check(s.stage_scores[:, stage], s.labels, s.seen)
    if s.stage_gammas is not None and (
            s.stage_gammas.shape != s.stage_scores.shape[1:2] or s.stage_gammas.dtype.kind not in "iuf"
            or not np.isfinite(s.stage_gammas).all()):
        raise UserError(f"'stage_gammas' must be one finite number per stage ({s.stage_scores.shape[1]}), "
                        f"got shape {s.stage_gammas.shape} of {s.stage_gammas.dtype}")


def _stage_calibration(test: ScoreFile, val: ScoreFile | None, gamma: float | None,
                       stage: int) -> dict[str, Any] | None:
    """:func:`mgmrn.metrics.evaluate`'s calibration of a stage, the fused score's: chosen on
    ``val``'s stage scores, ``gamma``, the test file's stage gamma, or (no gamma at all) the
    test sweep; ``None`` when the fused score's is chosen on validation and the stage's is not
    known (its entry then has no GZSL metrics, as in ``metrics.json``)."""
    if val is not None:
        return None if val.stage_scores is None else {"val": (val.stage_scores[:, stage], val.labels, val.seen)}
    if gamma is not None:
        return {"gamma": gamma}
    if test.gamma is not None:
        return None if test.stage_gammas is None else {"val_gamma": float(test.stage_gammas[stage])}
    return {}


def stage_entries(test: ScoreFile, val: ScoreFile | None, gamma: float | None) -> list[dict[str, Any]]:
    """Each stage's entry of ``metrics.json``'s ``stages``: calibration-free metrics, and its
    GZSL under its calibration (:func:`_stage_calibration`)."""
    from mgmrn.evaluation.metrics import STAGE_GZSL_KEYS, STAGE_KEYS
    from mgmrn.metrics import evaluate

    assert test.stage_scores is not None
    entries = []
    for stage in range(test.stage_scores.shape[1]):
        how = _stage_calibration(test, val, gamma, stage)
        m = evaluate(test.stage_scores[:, stage], test.labels, test.seen, **(how or {}))
        entries.append({k: m[k] for k in STAGE_KEYS + (STAGE_GZSL_KEYS if how is not None else ())})
    return entries


def score_metrics(test: ScoreFile, val: ScoreFile | None = None, gamma: float | None = None) -> dict[str, Any]:
    """The metrics of checked score files (:func:`mgmrn.metrics.evaluate`), gamma chosen on
    ``val``'s scores, else ``gamma``, else the test file's own (chosen on validation), else the
    test sweep's; with the test file's temperature, ``probabilities`` as in ``metrics.json``;
    with its stage scores, ``stages`` as there (:func:`stage_entries`)."""
    from mgmrn.metrics import evaluate

    arrays = test.scores, test.labels, test.seen
    if val is not None:
        metrics = evaluate(*arrays, val=val[:3])
    else:
        metrics = evaluate(*arrays, val_gamma=test.gamma if gamma is None else None, gamma=gamma)
    if test.stage_scores is not None:
        metrics["stages"] = stage_entries(test, val, gamma)
    if test.temperature is not None:
        import numpy as np

        from mgmrn.evaluation.confidence import probability_report

        seen = np.asarray(test.seen, bool)
        metrics["probabilities"] = probability_report(test.scores, test.labels, np.flatnonzero(seen),
                                                      np.flatnonzero(~seen), metrics["gamma"], test.temperature)
    return metrics


def draw_curve(path: Path, s: ScoreFile, name: str, gamma: float) -> None:
    """Fig. 3 of a score file's scores, ``gamma`` marked, drawn as the report draws it."""
    from mgmrn.metrics import gzsl, seen_unseen_curve
    from mgmrn.utils.io import atomic_open
    from mgmrn.viz.report.seen_unseen import Curve, draw

    c = seen_unseen_curve(s.scores, s.labels, s.seen)
    at, raw = (gzsl(s.scores, s.labels, s.seen, g) for g in (gamma, 0.0))
    figure = draw([Curve(c.gammas, 100 * c.unseen, 100 * c.seen, 100 * c.ausuc, gamma,
                         (100 * at.unseen, 100 * at.seen), (100 * raw.unseen, 100 * raw.seen))],
                  [[]], [name])
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format=path.suffix.lower()[1:], dpi=100)


def run(args: argparse.Namespace) -> int:
    _check_figure(args.figure)
    test = _checked(args.scores)
    val = _checked(args.val) if args.val is not None else None
    metrics = score_metrics(test, val, args.gamma)
    if args.json:
        print(json.dumps(metrics))
    else:
        from mgmrn.cli.common import format_metrics

        print(format_metrics(metrics))
    if args.figure is not None:
        draw_curve(args.figure, test, args.scores.stem, metrics["gamma"])
        if not args.json:
            print(f"seen-unseen curve: {args.figure}")
    return 0
