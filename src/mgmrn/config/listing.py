"""Every setting of a config resolved, as YAML to train from: each key with its one-line help
and where its value came from (``default``, ``preset NAME``, ``file PATH``, ``--set``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from mgmrn.config import Config, load_config, parse_overrides, read_layers
from mgmrn.utils.settings import help_of


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict of their leaves under dotted keys (``{"model.stages": 3}``)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def origins(source: str | None, overrides: list[str]) -> dict[str, str]:
    """Where each key that is not at its default got its value: the last preset or file of
    ``source``'s ``base:`` chain that sets it, or ``--set``."""
    found: dict[str, str] = {}
    for label, data in read_layers(source) if source else []:
        found.update(dict.fromkeys(flatten(data), label))
    found.update(dict.fromkeys(flatten(parse_overrides(overrides)), "--set"))
    return found


def _value(key: str, value: Any) -> str:
    """``key: value`` as one line of YAML (a list in flow style): ``value`` is written as the one
    item of a flow-style list, whose brackets are then cut off."""
    item = yaml.safe_dump([value], default_flow_style=True, width=2**31 - 1).strip()
    return f"{key}: {item[1:-1]}"


def _lines(obj: Any, where: dict[str, str], prefix: str = "", depth: int = 0) -> list[str]:
    """The YAML lines of a config dataclass's settings, each with its source and help."""
    lines, indent = [], "  " * depth
    for field in dataclasses.fields(obj):
        value, key = getattr(obj, field.name), f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            lines += [f"{indent}{field.name}:", *_lines(value, where, f"{key}.", depth + 1)]
        else:
            lines.append(f"{indent}{_value(field.name, value)}  # [{where.get(key, 'default')}] {help_of(field)}")
    return lines


def describe(source: str | None, overrides: list[str]) -> str:
    """The resolved config of ``source`` (a preset name or YAML path; None: the defaults) with
    ``overrides``, as commented YAML that ``mgmrn train`` reads back to the same config."""
    cfg: Config = load_config(source, overrides)
    where = origins(source, overrides)
    given = " ".join([source or "(defaults)", *(["--set", *overrides] if overrides else [])])
    header = [f"# mgmrn config {given}",
              "# every setting resolved: key: value  # [where the value came from] what it sets"]
    return "\n".join([*header, *_lines(cfg, where)]) + "\n"
