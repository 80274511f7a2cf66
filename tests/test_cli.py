"""The command line itself: a light parser, ``--set`` pairs, key suggestions, ``mgmrn cache``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mgmrn.cli.main import main

HEAVY = ("torch", "timm", "torchvision", "numpy", "PIL", "yaml")


def modules_after(code: str) -> list[str]:
    """The heavy packages imported by ``code``, run in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_help_and_refused_arguments_import_nothing_heavy(tmp_path: Path):
    """Building the parser and refusing an argument import no torch, timm, numpy, PIL or yaml."""
    assert modules_after("from mgmrn.cli.main import build_parser\nbuild_parser().format_help()") == []
    refused = ("from mgmrn.cli.main import main\n"
               f"assert main(['predict', {str(tmp_path)!r}, 'x.png', '--top-k', '0']) == 2")
    assert modules_after(refused) == []


def test_one_set_takes_several_pairs_and_repeats(tmp_path: Path, capsys):
    tiny = ["data.synthetic.classes=6", "data.synthetic.unseen_classes=2", f"data.generated_dir={tmp_path}"]
    assert main(["data-info", "demo", "--json", "--set", *tiny, "--set", "data.synthetic.images_per_class=3",
                 "data.synthetic.image_size=32"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["seen_classes"], info["unseen_classes"], info["test_unseen"]) == (4, 2, 6)


def test_set_before_a_positional_argument_names_the_form(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--set", "train.epochs=1", "demo"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "'demo' is not KEY=VALUE" in err and "positional arguments first" in err and "Traceback" not in err


@pytest.mark.parametrize("key,unknown,hint", [
    ("train.epoch", "train.epoch", "did you mean 'train.epochs'?"),
    ("trian.epochs", "trian", "did you mean 'train'?"),
    ("data.synthetic.clases", "data.synthetic.clases", "did you mean 'data.synthetic.classes'?"),
    ("train.zzz", "train.zzz", None),
])
def test_a_mistyped_key_suggests_the_closest(key, unknown, hint, capsys):
    assert main(["data-info", "demo", "--set", f"{key}=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"unknown config key '{unknown}'" in err
    assert (hint in err) if hint else ("did you mean" not in err)


@pytest.fixture
def caches(tmp_path: Path, monkeypatch) -> dict[str, Path]:
    """A feature cache, one still written by a live process (this one), and a generated set."""
    features, data = tmp_path / "features", tmp_path / "xdg"
    monkeypatch.setenv("MGMRN_CACHE", str(features))
    monkeypatch.setenv("XDG_CACHE_HOME", str(data))
    folders = {"done": features / "aaaa", "busy": features / "bbbb", "set": data / "mgmrn" / "synthetic" / "cccc"}
    for folder in folders.values():
        (folder / "sub").mkdir(parents=True)
    (folders["done"] / "stage-1.npy").write_bytes(b"x" * 1500)
    (folders["busy"] / f"stage-1.tmp{os.getpid()}.npy").write_bytes(b"x" * 10)
    (folders["set"] / "sub" / "0.png").write_bytes(b"x" * 20)
    return folders


def test_cache_list_shows_each_cache_its_size_and_writer(caches, capsys):
    assert main(["cache", "list", "--json"]) == 0
    listed = {e["key"]: e for e in json.loads(capsys.readouterr().out)}
    assert {k: (e["kind"], e["bytes"], e["writer"]) for k, e in listed.items()} == {
        "aaaa": ("features", 1500, None), "bbbb": ("features", 10, os.getpid()), "cccc": ("synthetic", 20, None)}
    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    assert f"(being written by process {os.getpid()})" in out and "total 1.5 KB in 3 caches" in out


def test_cache_clear_by_key_and_all_leaves_caches_being_written(caches, capsys):
    assert main(["cache", "clear", "aaaa"]) == 0
    assert not caches["done"].exists() and caches["busy"].exists() and caches["set"].exists()
    assert main(["cache", "clear", "--all"]) == 0
    assert not caches["set"].exists() and caches["busy"].exists()
    assert f"left bbbb: being written by process {os.getpid()}" in capsys.readouterr().out
    assert main(["cache", "clear", "zzzz"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "mgmrn cache: error: no cache with key zzzz (see mgmrn cache list)"


def test_a_folder_the_file_system_refuses_is_one_line_and_exit_1(tmp_path: Path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["train", "demo", "--output", str(blocker / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"mgmrn train: error: {blocker / 'run'}: Not a directory"


def test_cache_list_imports_nothing_heavy():
    assert modules_after("from mgmrn.cli.main import main\nassert main(['cache', 'list', '--json']) == 0") == []


def run_fresh(argv: list[str], cwd: Path) -> tuple[int, str, list[str]]:
    """``main(argv)`` in a fresh interpreter in ``cwd``: exit status, stderr, heavy packages imported."""
    probe = (f"import json, sys\nfrom mgmrn.cli.main import main\nstatus = main({argv!r})\n"
             f"print(json.dumps([status, [m for m in {HEAVY!r} if m in sys.modules]]))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=cwd)
    status, heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    return status, proc.stderr, heavy


@pytest.mark.parametrize("argv", [["predict", "runs/dmeo", "x.png"], ["serve", "runs/dmeo"], ["report", "runs/dmeo"],
                                  ["eval", "runs/dmeo"], ["attention", "runs/dmeo", "x.png"]])
def test_a_mistyped_run_fails_in_one_line_before_torch_loads(tmp_path: Path, argv: list[str]):
    (tmp_path / "runs" / "demo").mkdir(parents=True)
    (tmp_path / "runs" / "demo" / "model.pt").write_bytes(b"")
    status, err, heavy = run_fresh(argv, tmp_path)
    assert status == 2 and "torch" not in heavy, (status, err, heavy)
    assert len(err.splitlines()) == 1 and "runs/dmeo: " in err and "did you mean 'runs/demo'?" in err, err


def test_serve_on_a_port_in_use_is_one_line_before_the_model_loads(tmp_path: Path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.pt").write_bytes(b"not loaded: the port is checked first")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, err, heavy = run_fresh(["serve", "run", "--port", str(port)], tmp_path)
    assert status == 2 and "torch" not in heavy, (status, err, heavy)
    assert err == (f"mgmrn serve: error: port {port} of 127.0.0.1 is in use (another server?): choose another "
                   "with --port, or --port 0 for any free one\n")


def test_a_second_demo_says_it_replaces_the_first(tmp_path: Path, capsys):
    (tmp_path / "last.pt").write_bytes(b"an earlier demo")
    assert main(["demo", "--output", str(tmp_path), "--set", "train.epochs=0"]) == 2  # stops at the config
    assert capsys.readouterr().err.splitlines() == [
        f"mgmrn demo: replacing the run in {tmp_path} (the demo starts afresh; mgmrn train would refuse without "
        "--overwrite)", "mgmrn demo: error: train.epochs must be >= 1, got 0"]
