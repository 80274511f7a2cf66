"""Shared helpers of the benchmark scripts: machine line, reproduce command, result files."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from mgmrn.runtime.precision import cpu_has_native_bf16

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def commit() -> str:
    """The commit of the code being measured ("+changes" when the tree differs from it)."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "../src", "."],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "commit": commit(),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": cpu_has_native_bf16(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def machine_line(info: dict[str, Any]) -> str:
    gpu = f"; GPU {info['gpu']} (CUDA {info['cuda']})" if "gpu" in info else ""
    bf16 = "native bf16" if info.get("native_bf16") else "no native bf16"
    return (f"machine: {info['cpu']}, {info['cores']} cores ({info['torch_threads']} torch threads), "
            f"CPU capability {info.get('cpu_capability', 'unknown')}, {bf16}{gpu}; "
            f"torch {info['torch']}, Python {info['python']}; commit {info.get('commit', 'unknown')}; "
            f"date {info['date']}")


def command() -> str:
    """The command that reproduces this run (from the repository root)."""
    return ".venv/bin/python " + " ".join(shlex.quote(a) for a in sys.argv)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pastes straight into BENCHMARKS.md)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "| " + " | ".join("-" * w for w in widths) + " |"] + [line(r) for r in cells[1:]])


def write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=float))
    os.replace(tmp, path)


def slug(name: str) -> str:
    """A file-name form of a row name."""
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def claim(out: Path, name: str) -> bool:
    """Claim run ``name`` for this process, so that several invocations can share one results
    folder. A claim is a file holding the owner's pid; one whose process has ended is taken over."""
    path = out / "claims" / slug(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(path.read_text() or 0), 0)
            return False  # its owner is alive
        except (ProcessLookupError, ValueError):
            path.unlink(missing_ok=True)
            return claim(out, name)
    with os.fdopen(fd, "w") as handle:
        handle.write(str(os.getpid()))
    return True
