"""Shared fixtures: the real data in ../shared/data (never copied into the repository), and
tiny synthetic runs trained once per session.

Tests that need the real data skip when it is absent, unless ``MGMRN_REQUIRE_DATA=1`` (set by
CI's ``.ci/run``): then they fail, so that CI can never pass by skipping them.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest

from mgmrn.utils.threads import configure

# The suite runs as mgmrn does, on the cores free at its start (README, 'CPU speed'); set
# here, before any test module loads torch.
configure()

SHARED_DATA = Path(os.environ.get("MGMRN_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))
REQUIRED = os.environ.get("MGMRN_REQUIRE_DATA", "") not in ("", "0")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data`` (or ``$MGMRN_SHARED_DATA``); skips the test when missing."""
    if not SHARED_DATA.is_dir():
        message = (f"real data not found at {SHARED_DATA} (set MGMRN_SHARED_DATA; "
                   "README, 'Development')")
        if REQUIRED:
            pytest.fail(message + " and MGMRN_REQUIRE_DATA is set")
        pytest.skip(message)
    return SHARED_DATA


def tiny(tmp: Path, *extra: str) -> list[str]:
    """``--set`` arguments of a small, fast synthetic run (frozen pretrained Lite0, 64x64,
    2 stages, 2 epochs) whose generated set and feature cache live in ``tmp``; ``extra``
    settings come last (and win)."""
    sets = [
        "data.synthetic.classes=12", "data.synthetic.unseen_classes=4", "data.synthetic.images_per_class=12",
        "data.synthetic.image_size=64", "data.image_size=64", f"data.generated_dir={tmp / 'data'}",
        f"train.feature_cache_dir={tmp / 'features'}", "train.epochs=2", "model.stages=2", "model.hidden=32",
        "data.val_classes=0.25", *extra,
    ]
    return [arg for s in sets for arg in ("--set", s)]


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _trained(folder: Path, name: str, *extra: str) -> Iterator[Path]:
    """A :func:`tiny` run trained in ``folder / name`` (set and cache in ``folder``); after
    the session, a failure if any test changed its files."""
    from mgmrn.cli.main import main

    run = folder / name
    assert main(["train", "demo", *tiny(folder, *extra), "--output", str(run)]) == 0
    before = digests(run)
    yield run
    assert digests(run) == before, f"a test changed the shared run {run}: copy it (tmp_path) first"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Iterator[Path]:
    """The :func:`tiny` run (L = 2), trained once per session and shared: read it, or copy it
    to change it. Its generated set and feature cache are in its parent folder."""
    yield from _trained(tmp_path_factory.mktemp("demo"), "run")


@pytest.fixture(scope="session")
def demo_run_one_stage(demo_run: Path) -> Iterator[Path]:
    """The same run with L = 1 (``model.stages=1``), beside it: same generated set and feature
    cache, the same config but for that setting."""
    yield from _trained(demo_run.parent, "one-stage", "model.stages=1")


@pytest.fixture(scope="session")
def run_dirs(demo_run: Path, demo_run_one_stage: Path, tmp_path_factory) -> list[Path]:
    """Two runs that differ only in L (model.stages): copies of the shared ones, since
    ``mgmrn report`` writes its cache into a run."""
    tmp = tmp_path_factory.mktemp("report")
    for run, name in ((demo_run, "L2"), (demo_run_one_stage, "L1")):
        shutil.copytree(run, tmp / name)
    return [tmp / "L2", tmp / "L1"]


@pytest.fixture(scope="session")
def report_dir(run_dirs: list[Path]) -> Path:
    """The report of both runs."""
    from mgmrn.cli.main import main

    out = run_dirs[0].parent / "report"
    assert main(["report", *map(str, run_dirs), "--output", str(out)]) == 0
    return out


@contextlib.contextmanager
def serving_here(run: Path, log: Path, *options: str) -> Iterator[SimpleNamespace]:
    """``mgmrn serve RUN --port 0 OPTIONS`` run in this process, its uvicorn loop in a thread
    (for tests of what is served, not of the server's process): ``url``, ``port``, and ``log``,
    the file its start-up output (stdout and stderr) was written to."""
    import threading
    import time

    import uvicorn

    from mgmrn.cli.main import main

    real_run, started = uvicorn.Server.run, []

    def run_in_a_thread(self: uvicorn.Server, sockets: list) -> None:
        thread = threading.Thread(target=real_run, args=(self,), kwargs={"sockets": sockets}, daemon=True)
        started.extend([self, thread, sockets[0].getsockname()[1]])
        thread.start()

    output = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        patch.setattr(uvicorn.Server, "run", run_in_a_thread)
        status = main(["serve", str(run), "--port", "0", *options])
    log.write_text(output.getvalue())
    assert status == 0, output.getvalue()
    served, thread, port = started
    deadline = time.monotonic() + 60
    while not served.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}", port=port, log=log)
    finally:
        served.should_exit = True
        thread.join(30)


@pytest.fixture(scope="session")
def token_served(demo_run: Path, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """``mgmrn serve --token s3cret`` on :func:`demo_run` (:func:`serving_here`), shared by
    the tests that only read from it: the API's and the page's."""
    if importlib.util.find_spec("fastapi") is None:
        pytest.skip('the serve extra is not installed (pip install -e ".[test]")')
    with serving_here(demo_run, tmp_path_factory.mktemp("token-serve") / "serve.log", "--token", "s3cret") as served:
        yield served
