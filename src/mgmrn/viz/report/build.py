"""The whole report: open the runs, compute (or reuse) their test predictions, draw every
figure, write the PNG and SVG files and ``report.html`` into one folder."""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Callable, Sequence

from mgmrn.errors import UserError
from mgmrn.utils.io import atomic_open
from mgmrn.viz.report import (attention, attribute_error, embedding, metrics_table, per_class, reliability,
                              seen_unseen, sweep, training)
from mgmrn.viz.report.figure import write_figure
from mgmrn.viz.report.page import Section, page
from mgmrn.viz.report.predictions import Predictions, predictions
from mgmrn.viz.report.runs import Run, label_runs, open_run

REPORT = "report.html"
SECTIONS: tuple[Callable[[Sequence[Run], Sequence[Predictions]], Section | None], ...] = (
    metrics_table.section, seen_unseen.section, reliability.section, training.section, per_class.section,
    per_class.confusion_section, attribute_error.section, attribute_error.breakdown_section, embedding.section, attention.section, sweep.section,
)


def _intro(runs: Sequence[Run]) -> str:
    items = "".join(f"<li>{html.escape(r.label)}: {html.escape(str(r.folder))} "
                    f"({html.escape(r.cfg.data.format)} data, {html.escape(r.cfg.model.variant)} model)</li>"
                    for r in runs)
    return f"<p>Runs:</p><ul>{items}</ul>"


def write_report(folders: Sequence[str | Path], output: str | Path) -> Path:
    """``output/report.html`` and each figure as PNG and SVG beside it; returns the page's path."""
    output = Path(output)
    runs = [open_run(f) for f in folders]
    if output.exists() and not output.is_dir():
        raise UserError("--output must be a directory, and this is a file", output)
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write the report here ({exc.strerror or exc})", output) from None
    label_runs(runs)
    start = time.perf_counter()
    preds = [predictions(r) for r in runs]
    drawn = []
    for make in SECTIONS:
        found = make(runs, preds)
        if found is None:
            continue
        png = write_figure(found.figure, output, found.name)
        for name, content in found.files.items():
            with atomic_open(output / name, "wb") as handle:
                handle.write(content)
        drawn.append((found, png))
    title = "mgmrn report: " + "; ".join(r.label for r in runs)
    with atomic_open(output / REPORT, "w") as handle:
        handle.write(page(title, _intro(runs), drawn))
    print(f"report: {len(drawn)} figures in {time.perf_counter() - start:.1f} s")
    return output / REPORT
