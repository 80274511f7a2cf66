"""The metrics table: ZSL T1, GZSL U, S, H, AUSUC and gamma, per stage and fused, per run."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any, Sequence

from matplotlib.figure import Figure

from mgmrn.engine.metrics import Calibration, evaluate_scores
from mgmrn.viz.report.figure import new_figure
from mgmrn.viz.report.page import Section, table
from mgmrn.viz.report.predictions import Predictions
from mgmrn.viz.report.runs import Run

HOW = {"val": "on validation (best H)", "test-sweep": "on the test split (best H, labelled)",
       "fixed": "fixed (eval.gamma)"}
HEADER = ("run", "scores", "ZSL T1", "U", "S", "H", "AUSUC", "gamma", "gamma chosen")
COMPARED = ("zsl_top1", "gzsl_unseen", "gzsl_seen", "gzsl_h", "ausuc")


@dataclass
class Row:
    """One line of the table (percentages)."""

    run: str
    scores: str  # "stage 1", ..., "fused"
    zsl_top1: float
    gzsl_unseen: float
    gzsl_seen: float
    gzsl_h: float
    ausuc: float
    gamma: float
    how: str


def _row(run: str, scores: str, m: dict[str, Any]) -> Row:
    return Row(run, scores, *(float(m[k]) for k in COMPARED), float(m["gamma"]), HOW[m["calibration"]])


def metrics_rows(run: Run, preds: Predictions) -> list[Row]:
    """Each stage's metrics (gamma: its best H on the test split, as ``metrics.json``'s
    ``stages`` report them), then the fused score's (the run's calibration)."""
    d = preds.data
    calibration = Calibration.from_config(run.cfg.eval, run.state.get("gamma"))
    scores = preds.stage_scores()
    rows = [_row(run.label, f"stage {l + 1}",
                 evaluate_scores(scores[:, l], preds.labels, d.seen, d.unseen, calibration.sweeping()))
            for l in range(scores.shape[1])]
    return rows + [_row(run.label, "fused", evaluate_scores(preds.fused_scores(), preds.labels, d.seen,
                                                              d.unseen, calibration))]


def disagreements(run: Run, fused: Row) -> list[str]:
    """The fused metrics that differ from ``metrics.json`` by more than 0.01 points."""
    return [f"{k} {getattr(fused, k):.2f} here, {float(run.metrics[k]):.2f} in metrics.json" for k in COMPARED
            if abs(getattr(fused, k) - float(run.metrics[k])) > 0.01]


def _cells(row: Row) -> list[object]:
    return [*astuple(row)[:7], f"{row.gamma:.3g}", row.how]


def draw(rows: Sequence[Row]) -> Figure:
    """The table as a figure."""
    figure = new_figure(11, 0.6 + 0.3 * len(rows))
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
               "(Eq. 11), gamma its best H on the test split; fused: Eq. 14, with the run's calibration."
               + (" First one row per run (fused), then every stage." if len(runs) > 1 else ""))
    return Section("metrics", "Metrics", caption, draw(rows), html, inline=False)
