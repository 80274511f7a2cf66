"""``mgmrn cache list [--json]``, ``mgmrn cache clear (--all | KEY...)``: what mgmrn keeps on disk.

Two kinds of cache, each a folder named by a key: ``features`` (the backbone's stage maps,
``train.freeze_backbone``; in ``$MGMRN_CACHE`` or ``~/.cache/mgmrn/features``) and
``synthetic`` (generated data sets, in ``$XDG_CACHE_HOME/mgmrn/synthetic`` or
``~/.cache/mgmrn/synthetic``). Caches in folders a config names (``train.feature_cache_dir``,
``data.generated_dir``) are not listed. A feature cache still being written by a running
process is listed as such and never cleared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from mgmrn.errors import UserError
from mgmrn.utils.cache_dirs import data_cache_root, feature_cache_dir
from mgmrn.utils.process import alive

_WRITER = re.compile(r"\.tmp(\d+)\.npy$")  # FeatureCache.extract's temporary files


@dataclass
class Entry:
    """One cache folder."""

    key: str
    kind: str
    path: str
    bytes: int
    writer: int | None  # the live process writing it, if any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="each cache's key, kind, size and folder, and the total",
                             description="each cache's key, kind, size and folder, and the total")
    listing.add_argument("--json", action="store_true",
                         help="one JSON list: key, kind, path, bytes, writer (the pid writing it, or null)")
    clear = sub.add_parser("clear", help="delete caches (they are rebuilt when needed)",
                           description="delete caches (they are rebuilt when needed)")
    which = clear.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every cache listed by 'mgmrn cache list'")
    which.add_argument("keys", metavar="KEY", nargs="*", default=[], help="the caches with these keys")


def cache_folders() -> dict[str, Path]:
    """Where each kind of cache lives (see the module doc)."""
    return {"features": feature_cache_dir(), "synthetic": data_cache_root() / "synthetic"}


def describe(kind: str, folder: Path) -> Entry:
    """Size and live writer of one cache folder."""
    size, writer = 0, None
    for top, _, names in os.walk(folder):
        for name in names:
            size += (Path(top) / name).lstat().st_size
            match = _WRITER.search(name)
            if match and alive(int(match.group(1))):
                writer = int(match.group(1))
    return Entry(folder.name, kind, str(folder), size, writer)


def entries() -> list[Entry]:
    """Every cache folder of every kind, by kind then key."""
    found = []
    for kind, root in cache_folders().items():
        if root.is_dir():
            found += [describe(kind, p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    return found


def human(size: float) -> str:
    """``size`` bytes as B, KB, MB, GB or TB (powers of 1000)."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def list_caches(as_json: bool) -> None:
    found = entries()
    if as_json:
        print(json.dumps([asdict(e) for e in found]))
        return
    if not found:
        print("no caches in " + " or ".join(str(p) for p in cache_folders().values()))
        return
    for e in found:
        busy = f"  (being written by process {e.writer})" if e.writer else ""
        print(f"{e.key:<20}  {e.kind:<9}  {human(e.bytes):>8}  {e.path}{busy}")
    print(f"total {human(sum(e.bytes for e in found))} in {len(found)} caches")


def clear_caches(keys: list[str], everything: bool) -> None:
    found = entries()
    unknown = sorted(set(keys) - {e.key for e in found})
    if unknown:
        raise UserError(f"no cache with key {', '.join(unknown)} (see mgmrn cache list)")
    freed = 0
    for e in found:
        if not (everything or e.key in keys):
            continue
        if e.writer:
            print(f"left {e.key}: being written by process {e.writer}")
            continue
        shutil.rmtree(e.path)
        freed += e.bytes
        print(f"deleted {e.kind} cache {e.key} ({human(e.bytes)})")
    print(f"freed {human(freed)}")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        list_caches(args.json)
    else:
        clear_caches(args.keys, args.all)
    return 0
