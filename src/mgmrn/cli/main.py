"""``mgmrn`` entry point: dispatches to one module per command.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int``. User
errors (:class:`mgmrn.errors.UserError`) print one line and exit with status 2; a file
system refusal (``OSError``: no permission, a full disk) prints one line naming the path and
exits with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mgmrn import __version__
from mgmrn.cli.common import positive_int
from mgmrn.errors import UserError
from mgmrn.utils.threads import configure as configure_threads

COMMANDS = {
    "profile": ("mgmrn.cli.profile", "parameters, FLOPs and CPU throughput of a model"),
    "data-info": ("mgmrn.cli.data_info", "counts and problems of a dataset"),
    "train": ("mgmrn.cli.train", "train Mg-MRN and evaluate the selected model"),
    "eval": ("mgmrn.cli.eval", "evaluate a checkpoint on its test splits"),
    "predict": ("mgmrn.cli.predict", "classify images, among any classes given by attributes"),
    "attention": ("mgmrn.cli.attention", "draw where each stage's decoder looks, per attribute"),
    "report": ("mgmrn.cli.report", "the paper's figures for trained runs, in one HTML page"),
    "serve": ("mgmrn.cli.serve", "a local web app: classify photos, describe new classes by attributes"),
    "demo": ("mgmrn.cli.demo", "generate the synthetic set, train, evaluate and predict"),
    "cache": ("mgmrn.cli.cache", "list or clear the feature caches and generated data sets"),
    "score-eval": ("mgmrn.cli.score_eval", "metrics of any model's class scores (an .npz), and their Fig. 3"),
    "config": ("mgmrn.cli.config", "print every setting of a config resolved, as YAML to train from"),
}


NO_TORCH = {"cache", "score-eval", "config"}  # commands that never load torch (score-eval computes in numpy): no thread set-up


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mgmrn", description="Zero-shot image classification with Mg-MRN (train, evaluate, predict, explain).")
    parser.add_argument("--version", action="version", version=f"mgmrn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(command)
        if name not in NO_TORCH:
            command.add_argument("--threads", type=positive_int, default=None, metavar="N",
                                 help="torch CPU threads (default: the cores free at start-up; also "
                                      "MGMRN_THREADS=N; README, 'CPU speed')")
        command.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command not in NO_TORCH:
            configure_threads(args.threads)  # before torch loads: OpenMP reads its settings then
        return int(importlib.import_module(args._module).run(args) or 0)
    except UserError as exc:
        print(f"mgmrn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system refused: no permission, a full disk, a file for a folder
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"mgmrn {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
