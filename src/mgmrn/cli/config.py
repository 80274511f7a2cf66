"""``mgmrn config CONFIG [--set KEY=VALUE ...]``: every setting resolved, as YAML to train from."""

from __future__ import annotations

import argparse

from mgmrn.cli.common import add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from mgmrn.config.listing import describe

    print(describe(args.config, args.overrides), end="")
    return 0
