"""Config words: renamed keys keep working under their old names (a note once per key), every
setting has its one-line help, and ``mgmrn config`` prints a config that trains the same."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import mgmrn.config
from mgmrn.cli.main import main
from mgmrn.config import Config, RENAMED, from_dict, load_config, preset_names, to_dict, upgrade_saved
from mgmrn.errors import UserError
from mgmrn.utils.settings import help_of

OLD = {"train.gamma": 0.5, "train.step_size": 3, "train.scheduler": "cosine", "train.schedule": "per-stage",
       "train.finetune_schedule": "restart", "train.cache_dir": "/tmp/features", "data.cache_dir": "/tmp/sets",
       "eval.gamma": 1.5}
NEW = {"train.lr_decay": 0.5, "train.lr_step_epochs": 3, "train.lr_schedule": "cosine",
       "train.stage_updates": "per-stage", "train.finetune_lr_schedule": "restart",
       "train.feature_cache_dir": "/tmp/features", "data.generated_dir": "/tmp/sets", "eval.fixed_gamma": 1.5}


@pytest.fixture(autouse=True)
def fresh_notes(monkeypatch) -> None:
    """Each test starts with no old name noted yet."""
    monkeypatch.setattr(mgmrn.config, "_NOTED", set())


def value(cfg: Config, key: str) -> object:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def nested(flat: dict[str, object]) -> dict[str, dict[str, object]]:
    tree: dict[str, dict[str, object]] = {}
    for key, v in flat.items():
        section, name = key.split(".")
        tree.setdefault(section, {})[name] = v
    return tree


def assert_noted_once(err: str) -> None:
    """Every old name is noted on stderr exactly once, naming its new name, all in one line."""
    for (section, old), new in RENAMED.items():
        note = f"'{section}.{old}' is now '{section}.{new}'"
        assert err.count(note) == 1, (note, err)
    assert err.splitlines()[0].startswith("mgmrn: note: config keys renamed: ") and len(err.splitlines()) == 1


def test_the_renames_cover_the_old_names():
    assert {f"{s}.{o}": f"{s}.{n}" for (s, o), n in RENAMED.items()} == dict(zip(OLD, NEW))


def test_old_names_in_a_yaml_file_still_work(tmp_path: Path, capsys):
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump({"base": "demo", **nested(OLD)}))
    for _ in range(2):  # loaded twice: noted once
        cfg = load_config(str(path))
    assert all(value(cfg, key) == v for key, v in NEW.items())
    assert_noted_once(capsys.readouterr().err)


def test_old_names_in_set_still_work_and_override_the_preset(capsys):
    pairs = [f"{key}={v}" for key, v in OLD.items()]
    cfg = load_config("demo", pairs)  # demo sets train.lr_schedule: the old name overrides it
    load_config("demo", pairs)
    assert all(value(cfg, key) == v for key, v in NEW.items())
    assert_noted_once(capsys.readouterr().err)


def test_old_and_new_name_of_one_key_together_are_refused():
    with pytest.raises(UserError, match="'train.gamma' and 'train.lr_decay' are one setting"):
        load_config("demo", ["train.gamma=0.5", "train.lr_decay=0.2"])


def test_a_run_saved_with_the_old_names_loads(tmp_path: Path, capsys):
    """A checkpoint's config dict and a run's config.yaml, both complete and under the old names."""
    cfg = load_config("demo", [f"{key}={v}" for key, v in NEW.items()])
    saved = to_dict(cfg)
    for key in OLD:
        section, name = key.split(".")
        new = RENAMED[(section, name)]
        saved[section][name] = saved[section].pop(new)
    assert from_dict(upgrade_saved(json.loads(json.dumps(saved)))) == cfg  # a checkpoint's dict
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    assert load_config(str(tmp_path / "config.yaml"), saved=True) == cfg  # a run's config.yaml (--resume)
    assert_noted_once(capsys.readouterr().err)


def test_every_setting_has_one_line_of_help():
    def missing(cls: type, prefix: str = "") -> list[str]:
        found = []
        for field in dataclasses.fields(cls):
            hint = field.default_factory if dataclasses.is_dataclass(field.default_factory) else None
            if hint is not None:
                found += missing(hint, f"{prefix}{field.name}.")
            elif not help_of(field).strip() or "\n" in help_of(field):
                found.append(f"{prefix}{field.name}")
        return found

    assert missing(Config) == []


def printed(capsys, argv: list[str]) -> str:
    assert main(["config", *argv]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", preset_names())
def test_config_output_trains_the_same_config(tmp_path: Path, capsys, name: str):
    sets = ["train.epochs=3", "model.stages=3", "model.prototypes=[2, 3, 4]", "train.lr=1e-5", "data.w2v=none"]
    for argv in ([name], [name, "--set", *sets]):
        saved = tmp_path / "saved.yaml"
        saved.write_text(printed(capsys, argv))
        assert load_config(str(saved)) == load_config(name, argv[2:])  # what mgmrn train saved.yaml loads


def test_config_output_has_every_key_with_its_source_and_help(tmp_path: Path, capsys):
    user = tmp_path / "mine.yaml"
    user.write_text("base: cub100-ft\ntrain:\n  workers: 1\n")
    out = printed(capsys, [str(user), "--set", "train.lr=0.002", "data.synthetic.seed=4"])
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if not line.startswith("#")}
    expected = {"backbone": "[preset cub100]", "epochs": "[preset cub100-ft]", "workers": f"[file {user}]",
                "lr": "[--set]", "seed": "[default]", "momentum": "[default]"}
    for key, source in expected.items():
        assert f"  # {source} " in lines[key], (key, lines[key])
    assert "    seed: 4  # [--set] " in out  # data.synthetic.seed; the top-level seed is the default
    assert "lr: 0.002  # [--set] learning rate" in out
    settings = [line for line in out.splitlines() if "  # [" in line and not line.startswith("#")]
    assert len(settings) == 81 and all(line.split("] ", 1)[1].strip() for line in settings)


def test_config_command_reads_old_names_and_imports_no_torch(tmp_path: Path):
    probe = ("import json, sys\nfrom mgmrn.cli.main import main\n"
             "status = main(['config', 'demo', '--set', 'train.gamma=0.5'])\n"
             "print(json.dumps([status, [m for m in ('torch', 'timm', 'torchvision') if m in sys.modules]]))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    status, heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert status == 0 and heavy == []
    assert "lr_decay: 0.5  # [--set]" in proc.stdout
    assert proc.stderr.strip() == "mgmrn: note: config key renamed: 'train.gamma' is now 'train.lr_decay'"
