"""Typed configuration: dataclasses, YAML presets and ``--set key=value`` overrides.

A config is a tree of dataclasses (:class:`Config`). Presets live in
``mgmrn/presets/<name>.yaml``; a YAML file may also be given by path. Overrides use dotted
keys (``model.stages=4``); values are parsed as YAML scalars/lists and type-checked
against the dataclass field. Unknown keys are user errors.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Union

import yaml

from mgmrn.bounds import require
from mgmrn.config.evaluation import EvalConfig
from mgmrn.config.training import LossConfig, TrainConfig
from mgmrn.data.config import DataConfig
from mgmrn.errors import UserError
from mgmrn.models.config import ModelConfig
from mgmrn.utils.settings import setting

INT_LIMIT = 2**53  # the largest integer a config value may be (exact as a float, in JSON too)
SEED_LIMIT = 2**32  # seeds lie in [0, 2**32): per-epoch seeds derived from them fit in 64 bits


@dataclass
class Config:
    """The whole configuration of a run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = setting(0, "seeds the heads' initialisation, batches and flips (runs are reproducible)")


def preset_names() -> list[str]:
    """Names of the bundled YAML presets."""
    folder = resources.files("mgmrn") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _source_text(source: str, presets: list[str]) -> tuple[str, str]:
    """The text of a preset or YAML file, and how errors name it."""
    path = Path(source)
    if source in presets:
        return (resources.files("mgmrn") / "presets" / f"{source}.yaml").read_text(), f"preset '{source}'"
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists() or path.is_dir():
            raise UserError("config file not found", path)
        try:
            return path.read_text(), str(path)
        except UnicodeDecodeError as exc:
            raise UserError(f"not a text file (byte {exc.start} is not UTF-8); a config is YAML", path) from None
        except OSError as exc:
            raise UserError(f"cannot read the config ({exc.strerror})", path) from None
    raise UserError(
        f"unknown preset '{source}' (presets: {', '.join(presets)}; "
        "or give a path to a YAML file)"
    )


def _parse(text: str, origin: str) -> dict[str, Any]:
    """A config's YAML text as nested dicts, old key names renamed."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"invalid YAML at {where}{problem}", origin) from None
    if not isinstance(data, dict):
        raise UserError("a config must be a mapping of sections", origin)
    return rename_old_keys(data)


def read_layers(source: str, chain: tuple[str, ...] = ()) -> list[tuple[str, dict[str, Any]]]:
    """A preset or YAML file and the ones its ``base:`` names (a preset name, or a YAML path
    relative to the file that names it), base first, each as (``preset NAME`` or ``file PATH``,
    nested dicts); ``chain`` lists the files that led here."""
    path = Path(source)
    presets = preset_names()
    text, origin = _source_text(source, presets)
    identity = origin if source in presets else str(path.resolve())
    if identity in chain:
        raise UserError(f"'base:' loops back to {origin} ({' -> '.join([*chain, identity])})")
    data = _parse(text, origin)
    label = f"preset {source}" if source in presets else f"file {source}"
    base = data.pop("base", None)
    if base is None:
        return [(label, data)]
    base = str(base)
    beside = path.parent / base
    if base not in presets and source not in presets and beside.exists():
        base = str(beside)
    return [*read_layers(base, (*chain, identity)), (label, data)]


def _read_yaml(source: str) -> dict[str, Any]:
    """A preset or YAML file as nested dicts, its ``base:`` chain merged underneath."""
    merged: dict[str, Any] = {}
    for _, data in read_layers(source):
        deep_update(merged, data)
    return merged


def deep_update(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_update(target[key], value)
        else:
            target[key] = value


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check/convert ``value`` to the type ``hint`` of field ``key``."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except UserError as exc:
                errors.append(str(exc))
        raise UserError(f"config key '{key}': {value!r} does not fit {hint}")
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise UserError(f"config key '{key}': expected a list, got {value!r}")
        return [_coerce(v, item, key) for v in value]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"config key '{key}': expected true/false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= INT_LIMIT:
            return value
        raise UserError(f"config key '{key}': expected an integer (of at most 2**53 in size), got {value!r}")
    if hint is float:
        number = _number(value)
        if number is not None and math.isfinite(number):
            return number
        raise UserError(f"config key '{key}': expected a finite number, got {value!r}")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise UserError(f"config key '{key}': expected a string, got {value!r}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise UserError(f"config key '{key}': expected a mapping, got {value!r}")
        return _build(hint, value, key)
    return value


def unknown_key(full: str, key: str, names: set[str]) -> str:
    """The error for config key ``full`` (``key`` in a section whose keys are ``names``),
    naming the closest known key when one is close."""
    close = difflib.get_close_matches(key, names, n=1)
    guess = f": did you mean '{full[: len(full) - len(key)]}{close[0]}'?" if close else ""
    return f"unknown config key '{full}'{guess} (known here: {', '.join(sorted(names))})"


def _number(value: Any) -> float | None:
    """``value`` as a float, or ``None`` if it is not a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer beyond float's range
            return None
    if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise UserError(f"config section '{prefix or 'root'}': key {key!r} is not a name")
        full = f"{prefix}.{key}" if prefix else key
        if key not in names:
            if (prefix, key) in REMOVED_KEYS:
                raise UserError(f"config key '{full}' was removed")
            raise UserError(unknown_key(full, key, names))
        kwargs[key] = _coerce(value, hints[key], full)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(f"config section '{prefix or 'root'}': {exc}") from None
    return obj


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain nested dicts (for YAML/JSON/checkpoints)."""
    return dataclasses.asdict(cfg)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["model.stages=4", ...]`` -> nested dict with YAML-parsed values."""
    tree: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"override '{pair}' must look like key=value")
        key, raw = pair.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = tree
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"override '{pair}' conflicts with another override")
        node[parts[-1]] = value
    return rename_old_keys(tree)


def from_dict(values: dict[str, Any]) -> Config:
    """Build and validate a :class:`Config` from nested dicts (old key names renamed)."""
    cfg = _build(Config, rename_old_keys(values))
    validate(cfg)
    return cfg


# Keys whose default is not what runs saved before the key existed did: a saved config
# (config.yaml or a checkpoint's, always complete) that lacks both the key and the later key
# named beside it was written before the key existed, and gets the old value. One that lacks
# only the key was saved after the key was removed (REMOVED_KEYS: whether the run loads).
OLD_DEFAULTS: dict[tuple[str, str], tuple[Any, tuple[str, str]]] = {
    ("model", "norm_position"): ("tokens", ("model", "fusion_tokens")),
}
# Keys removed since runs were saved with them, and the value at which each had no effect
# (ANY: none had). A saved config with that value loads without the key; any other value is
# a run this version cannot reproduce.
ANY = object()
REMOVED_KEYS: dict[tuple[str, str], Any] = {
    ("train", "log_every"): ANY, ("loss", "label_smoothing"): 0.0, ("loss", "fused_weight"): 0.0,
    ("train", "mixup"): 0.0, ("train", "ema_decay"): 0.0, ("train", "cache_flip"): 0.0,
    ("eval", "tta_flip"): False, ("model", "norm_position"): "maps",
}


# Keys renamed to say what they set: the old name still works (in a YAML file, in --set and in a
# saved run), with a note on stderr naming the new one.
RENAMED: dict[tuple[str, str], str] = {
    ("train", "gamma"): "lr_decay", ("train", "step_size"): "lr_step_epochs",
    ("train", "scheduler"): "lr_schedule", ("train", "schedule"): "stage_updates",
    ("train", "finetune_schedule"): "finetune_lr_schedule", ("train", "cache_dir"): "feature_cache_dir",
    ("data", "cache_dir"): "generated_dir", ("eval", "gamma"): "fixed_gamma",
}
_NOTED: set[tuple[str, str]] = set()  # the old names already noted in this process


def rename_old_keys(values: dict[str, Any]) -> dict[str, Any]:
    """Rename old keys of ``values`` (nested dicts) in place; the ones not noted yet in this
    process are noted on stderr, in one line."""
    noted = []
    for (section, old), new in RENAMED.items():
        part = values.get(section)
        if not isinstance(part, dict) or old not in part:
            continue
        if new in part:
            raise UserError(f"config keys '{section}.{old}' and '{section}.{new}' are one setting "
                            f"('{section}.{old}' is its old name): give only '{section}.{new}'")
        part[new] = part.pop(old)
        if (section, old) not in _NOTED:
            _NOTED.add((section, old))
            noted.append(f"'{section}.{old}' is now '{section}.{new}'")
    if noted:
        print(f"mgmrn: note: config key{'s' if len(noted) > 1 else ''} renamed: {'; '.join(noted)}", file=sys.stderr)
    return values


def upgrade_saved(values: dict[str, Any]) -> dict[str, Any]:
    """Give a config saved by an earlier version the new names of renamed keys, the old defaults
    of keys it lacks, and drop removed keys that were off (a UserError for one that was on)."""
    rename_old_keys(values)
    for (section, key), (old, (later_section, later)) in OLD_DEFAULTS.items():
        part, newer = values.setdefault(section, {}), values.get(later_section)
        if isinstance(newer, dict) and later in newer:
            continue
        if isinstance(part, dict):  # anything else is refused when the config is built
            part.setdefault(key, old)
    for (section, key), off in REMOVED_KEYS.items():
        part = values.get(section)
        if not isinstance(part, dict) or key not in part:
            continue
        value = part.pop(key)
        if off is not ANY and value != off:
            raise UserError(f"config key '{section}.{key}' was removed, and this run was saved with "
                            f"{section}.{key}={value!r}; it cannot be loaded or resumed by this version")
    return values


def load_config(source: str | None = None, overrides: list[str] | None = None, saved: bool = False) -> Config:
    """Load a preset name or YAML path (or defaults), then apply ``key=value`` overrides.

    ``saved=True`` marks ``source`` as a run's own config.yaml (see :func:`upgrade_saved`).
    """
    values = _read_yaml(source) if source else {}
    if saved:
        upgrade_saved(values)
    deep_update(values, parse_overrides(overrides or []))
    return from_dict(values)


# Keys that name files or folders, and their values that are not paths.
PATH_KEYS = {
    ("data", "root"): ("",), ("data", "splits"): ("",), ("data", "w2v"): ("", "none", "text"),
    ("data", "attribute_names"): ("",), ("data", "generated_dir"): ("",),
    ("train", "feature_cache_dir"): ("",),
    ("model", "pretrained"): ("auto", "none"),
}


def absolute_paths(cfg: Config) -> None:
    """Make the config's relative paths absolute (from the current directory), so that a run's
    saved config reads the same files from any directory."""
    for (section, key), not_paths in PATH_KEYS.items():
        part = getattr(cfg, section)
        value = getattr(part, key)
        if isinstance(value, str) and value not in not_paths:
            setattr(part, key, os.path.abspath(os.path.expanduser(value)))


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    from mgmrn.utils.io import atomic_open

    with atomic_open(path, "w") as handle:
        yaml.safe_dump(to_dict(cfg), handle, sort_keys=False)


def validate(cfg: Config) -> None:
    """Cross-field checks; each section validates itself in ``__post_init__``."""
    require("seed", cfg.seed, 0, SEED_LIMIT, below=True)
    stages = cfg.model.stages
    if isinstance(cfg.model.prototypes, list) and len(cfg.model.prototypes) != stages:
        raise UserError(
            f"model.prototypes lists {len(cfg.model.prototypes)} values for "
            f"model.stages={stages}"
        )
