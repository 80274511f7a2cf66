"""What the commands share: the ``CONFIG --set`` arguments, argument types, path checks made
before torch loads, and the one-line metrics summary."""

from __future__ import annotations

import argparse
from typing import Any

from mgmrn.utils.paths import require_file, resolve_checkpoint


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got '{text}'")
    return int(text)


def add_config_arguments(parser: argparse.ArgumentParser, nargs: str | None = None) -> None:
    """The shared ``CONFIG [--set key=value ...]`` arguments."""
    parser.add_argument("config", metavar="CONFIG", nargs=nargs, help="preset name or YAML file")
    add_set_argument(parser, "override a config key, e.g. --set model.stages=4 train.epochs=5")


class KeyValues(argparse.Action):
    """``--set k=v [k=v ...]``, repeatable: every word up to the next option must be a pair."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        for value in values:
            if "=" not in value:
                raise argparse.ArgumentError(self, f"'{value}' is not KEY=VALUE (--set takes every word up "
                                                   "to the next option: give the positional arguments first)")
        setattr(namespace, self.dest, [*getattr(namespace, self.dest), *values])


def add_set_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--set KEY=VALUE [KEY=VALUE ...]`` into ``args.overrides`` (repeatable; later pairs win)."""
    parser.add_argument("--set", dest="overrides", nargs="+", action=KeyValues, default=[],
                        metavar="KEY=VALUE", help=f"{help_text} (several pairs after one --set, or "
                                                  "--set repeated; after the positional arguments)")


def check_paths(args: argparse.Namespace) -> None:
    """The checkpoint and the ``--classes`` CSV, before torch is imported (a mistyped path fails at once)."""
    resolve_checkpoint(args.checkpoint)
    if args.classes is not None:
        require_file(args.classes, "class-attribute CSV")


def format_metrics(m: dict) -> str:
    """One summary line of the contract metrics, and one of the probabilities' calibration."""
    line = (f"ZSL T1 {m['zsl_top1']:.1f}  GZSL U {m['gzsl_unseen']:.1f} S {m['gzsl_seen']:.1f} "
            f"H {m['gzsl_h']:.1f}  AUSUC {m['ausuc']:.1f}  (calibration {m['calibration']}, "
            f"gamma {m['gamma']:.3g}; test-sweep H {m['test_sweep_h']:.1f})")
    p = m.get("probabilities")
    if not p or p["temperature"] is None:
        return line
    sides = "; ".join(f"{k} {p[k]['ece_uncalibrated']:.1f} -> {p[k]['ece']:.1f}" for k in ("seen", "unseen") if k in p)
    return f"{line}\nprobabilities: temperature {p['temperature']:.3g}, test ECE (%) with T = 1 -> with it: {sides}"
