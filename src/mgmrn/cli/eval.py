"""``mgmrn eval CHECKPOINT [--set ...] [--output FILE]``: test metrics of a saved model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mgmrn.cli.train import format_metrics
from mgmrn.config import from_dict, parse_overrides, to_dict, deep_update
from mgmrn.data.build import build_data
from mgmrn.engine.checkpoint import load_checkpoint
from mgmrn.engine.distributed import init_distributed
from mgmrn.engine.inputs import Inputs
from mgmrn.engine.predict import model_from_checkpoint
from mgmrn.engine.trainer import evaluate_checkpoint_model
from mgmrn.utils.io import write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint file or run directory")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the checkpoint's config (e.g. eval.calibration=test-sweep)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the metrics as JSON to FILE")


def run(args: argparse.Namespace) -> int:
    state = load_checkpoint(args.checkpoint)
    values = state["config"]
    deep_update(values, parse_overrides(args.overrides))
    cfg = from_dict(values)
    state["config"] = to_dict(cfg)
    _, _, device = init_distributed()
    model, _ = model_from_checkpoint(state)
    model.to(device)
    data = build_data(cfg.data)
    inputs = Inputs.create(cfg, data, model, device)
    metrics = evaluate_checkpoint_model(model, inputs, data, cfg, device, gamma=state.get("gamma"))
    print(format_metrics(metrics))
    if args.output:
        write_json(args.output, metrics)
    else:
        print(json.dumps({k: v for k, v in metrics.items() if k != "stages"}))
    return 0
