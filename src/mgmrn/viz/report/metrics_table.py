"""The metrics table: ZSL T1, GZSL U, S, H, AUSUC and gamma, per stage and fused, per run, every
row under the run's calibration (for ``val``: each stage at its own validation gamma), and the
test-sweep gamma and H (the reference protocol, chosen on the test split) in their own columns."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any, Optional, Sequence

from matplotlib.figure import Figure

from mgmrn.evaluation.metrics import Calibration, evaluate_scores
from mgmrn.viz.report.figure import new_figure
from mgmrn.viz.report.page import Section, table
from mgmrn.viz.report.predictions import Predictions
from mgmrn.viz.report.runs import Run

HOW = {"val": "on validation (best H)", "test-sweep": "on the test split (best H, labelled)",
       "fixed": "fixed (eval.fixed_gamma)"}
HEADER = ("run", "scores", "ZSL T1", "U", "S", "H", "AUSUC", "gamma", "gamma chosen", "test-sweep gamma",
          "test-sweep H")
COMPARED = ("zsl_top1", "gzsl_unseen", "gzsl_seen", "gzsl_h", "ausuc")
NO_GAMMA = "none saved (run predates per-stage gammas)"


@dataclass
class Row:
    """One line of the table (percentages); GZSL ``None`` for a stage of a run saved without
    per-stage validation gammas."""

    run: str
    scores: str  # "stage 1", ..., "fused"
    zsl_top1: float
    gzsl_unseen: Optional[float]
    gzsl_seen: Optional[float]
    gzsl_h: Optional[float]
    ausuc: float
    gamma: Optional[float]
    how: str
    test_sweep_gamma: float
    test_sweep_h: float


def _row(run: str, scores: str, m: dict[str, Any], gzsl: bool = True) -> Row:
    gzsl_values = [float(m[k]) if gzsl else None for k in ("gzsl_unseen", "gzsl_seen", "gzsl_h")]
    return Row(run, scores, float(m["zsl_top1"]), *gzsl_values, float(m["ausuc"]),
               float(m["gamma"]) if gzsl else None, HOW[m["calibration"]] if gzsl else NO_GAMMA,
               float(m["test_sweep_gamma"]), float(m["test_sweep_h"]))


def metrics_rows(run: Run, preds: Predictions) -> list[Row]:
    """Each stage's metrics, then the fused score's, all under the run's calibration: for
    ``val``, each stage at its own gamma chosen on validation (``model.pt``'s
    ``stage_gammas``; a run saved without them has no stage GZSL), as ``metrics.json``'s
    ``stages`` report them."""
    d = preds.data
    calibration = Calibration.from_config(run.cfg.eval, run.saved.val_gamma)
    scores = preds.stage_scores()
    saved = run.saved.stage_gammas or [None] * scores.shape[1]
    rows = []
    for l, gamma in enumerate(saved):
        gzsl = calibration.how != "val" or gamma is not None
        stage = calibration._replace(val=gamma) if gzsl else calibration.sweeping()
        rows.append(_row(run.label, f"stage {l + 1}",
                         evaluate_scores(scores[:, l], preds.labels, d.seen, d.unseen, stage), gzsl))
    return rows + [_row(run.label, "fused", evaluate_scores(preds.fused_scores(), preds.labels, d.seen,
                                                              d.unseen, calibration))]


def disagreements(run: Run, fused: Row) -> list[str]:
    """The fused metrics that differ from ``metrics.json`` by more than 0.01 points."""
    return [f"{k} {getattr(fused, k):.2f} here, {float(run.metrics[k]):.2f} in metrics.json" for k in COMPARED
            if abs(getattr(fused, k) - float(run.metrics[k])) > 0.01]


def _cells(row: Row) -> list[object]:
    values = astuple(row)
    return [*("-" if v is None else v for v in values[:7]), "-" if row.gamma is None else f"{row.gamma:.3g}",
            row.how, f"{row.test_sweep_gamma:.3g}", row.test_sweep_h]


def draw(rows: Sequence[Row]) -> Figure:
    """The table as a figure."""
    figure = new_figure(14, 0.6 + 0.3 * len(rows))
    ax = figure.add_subplot()
    ax.axis("off")
    cells = [[f"{v:.1f}" if isinstance(v, float) else str(v) for v in _cells(r)] for r in rows]
    drawn = ax.table(cellText=cells, colLabels=HEADER, loc="center", cellLoc="right")
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(8)
    drawn.auto_set_column_width(list(range(len(HEADER))))
    for (r, _), cell in drawn.get_celld().items():
        if r > 0 and rows[r - 1].scores == "fused":
            cell.set_text_props(fontweight="bold")
    return figure


def section(runs: Sequence[Run], preds: Sequence[Predictions]) -> Section:
    rows = [r for run, p in zip(runs, preds) for r in metrics_rows(run, p)]
    fused = [r for r in rows if r.scores == "fused"]
    notes = [f"{run.label}: {d}" for run, f in zip(runs, fused) for d in disagreements(run, f)]
    html = table(HEADER, [_cells(r) for r in fused]) if len(runs) > 1 else ""
    html += table(HEADER, [_cells(r) for r in rows])
    if notes:
        html += "".join(f'<p class="warning">Recomputed test scores differ: {n}</p>' for n in notes)
    caption = ("ZSL top-1 among the unseen classes, GZSL accuracies on the unseen (U) and seen (S) classes and "
               "their harmonic mean H at the gamma subtracted from the seen classes' scores (calibrated "
               "stacking), and the area under the seen-unseen curve (%). Per stage: each stage's own score "
               "(Eq. 11); fused: Eq. 14. Every row is under the run's calibration (with eval.calibration=val, "
               "each stage at its own gamma chosen on validation). The last two columns are the reference "
               "protocol, for comparison only: the gamma of the best H on the test split itself, and that H."
               + (" First one row per run (fused), then every stage." if len(runs) > 1 else ""))
    return Section("metrics", "Metrics", caption, draw(rows), html, inline=False)
