"""``mgmrn report RUN [RUN ...] [--output DIR]``: the paper's figures for trained runs, in one HTML page.

Writes ``report.html`` (self-contained: the figures inline, no script) and every figure as PNG
and SVG: the metrics per stage and fused, the seen-unseen curve (Fig. 3), the training curves,
the per-class accuracy and confusions, the attribute-prediction error (Fig. 5), the t-SNE of
the features (Fig. 6), the attention (Fig. 7), and T1 and H against L or N_p (Fig. 4) when the
runs differ only there. The test predictions are computed once per run and kept in
``RUN/report_cache.npz`` (recomputed when ``model.pt`` changes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mgmrn.utils.paths import require_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", metavar="RUN", nargs="+", type=Path, help="run directory (of mgmrn train)")
    parser.add_argument("--output", type=Path, metavar="DIR",
                        help="where to write the report (default: RUN/report for one run, ./report for several)")


def default_output(runs: list[Path]) -> Path:
    return runs[0] / "report" if len(runs) == 1 else Path("report")


def run(args: argparse.Namespace) -> int:
    for folder in args.runs:  # before torch and matplotlib are imported: a mistyped run fails at once
        require_run(folder)
    from mgmrn.viz.report.build import write_report

    path = write_report(args.runs, args.output or default_output(args.runs))
    print(f"wrote {path}")
    return 0
