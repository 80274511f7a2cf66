"""What one server holds: the run's predictor, run on one worker thread, and the classes its
clients defined (in memory, thread-safe, bounded in number).

Every model call goes through :meth:`ServerState.run`, a single-worker executor, so calls
are serialised. The model would tolerate concurrent calls (its forward pass in eval mode
changes no module state, and ``torch.no_grad`` is per thread), but each forward pass already
spreads over all cores with torch's intra-op threads: concurrent ones would only contend.
"""

from __future__ import annotations

import asyncio
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import numpy as np

from mgmrn.errors import UserError
from mgmrn.inference.classes import ClassSet
from mgmrn.inference.predictor import Predictor

MAX_DEFINED = 100  # classes defined on one server at once
MAX_NAME = 200  # characters of a defined class's name
DEFINED = "defined classes"  # names them in errors

T = TypeVar("T")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a defined class, or ``None``: it must hold 1 to :data:`MAX_NAME`
    characters, not all blank, no control characters, and not be ``.`` or ``..`` (which no
    address can hold: the page deletes a class at ``/api/classes/{name}``)."""
    if not name.strip():
        return "a class needs a name"
    if len(name) > MAX_NAME:
        return f"a class name may have at most {MAX_NAME} characters, this one has {len(name):,}"
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        return "a class name may not hold control characters (line breaks, tabs...)"
    if name in (".", ".."):
        return f"'{name}' cannot be a class name"
    return None


def check_names(names: Sequence[str], source: str | Path) -> None:
    """A UserError naming ``source`` and the first name :func:`name_problem` refuses."""
    for name in names:
        problem = name_problem(name)
        if problem:
            shown = name if len(name) <= 40 else f"{name[:40]}..."
            raise UserError(f"class {shown!r}: {problem}", source)


class ServerState:
    """The predictor of the run being served and the classes defined by clients."""

    def __init__(self, predictor: Predictor, max_defined: int = MAX_DEFINED) -> None:
        self.predictor = predictor
        self.max_defined = max_defined
        self._defined: dict[str, np.ndarray] = {}  # name -> raw attribute values, model order
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mgmrn-model")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the model's worker thread, after the calls before it."""
        return await asyncio.wrap_future(self._worker.submit(fn, *args))

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    def values(self, attributes: Mapping[str, float]) -> np.ndarray:
        """Raw values by attribute name -> a vector in the model's order (others 0)."""
        names = self.predictor.attribute_names
        unknown = [a for a in attributes if a not in names]
        if unknown:
            raise UserError(f"unknown attributes {unknown[:5]} (the model knows {len(names)}, "
                            f"e.g. {', '.join(names[:2])}; GET /api/attributes lists them)")
        vector = np.zeros(len(names))
        vector[[names.index(a) for a in attributes]] = list(attributes.values())
        return vector

    def define(self, names: Sequence[str], values: np.ndarray, source: str | Path = DEFINED) -> None:
        """Add classes (raw values, model order; a defined class of the same name is replaced):
        all of them, or none and a UserError. Every route that defines classes comes here, and
        every check is made before anything is stored."""
        if len(names) > self.max_defined:
            raise UserError(f"at most {self.max_defined} classes can be defined on this server, "
                            f"got {len(names):,}", source)
        check_names(names, source)
        taken = [n for n in names if n in self.predictor.classes.names]
        if taken:
            raise UserError(f"{taken[:3]} are classes of the run: give new classes other names", source)
        ClassSet.described(self.predictor.run, names, values, source)  # refuses NaN, a zero L2 norm...
        with self._lock:
            if len(self._defined.keys() | set(names)) > self.max_defined:
                raise UserError(f"at most {self.max_defined} classes can be defined on this server "
                                f"({len(self._defined)} are): delete some first", source)
            self._defined.update((n, np.asarray(v, dtype=np.float64)) for n, v in zip(names, values))

    def delete(self, name: str) -> None:
        with self._lock:
            if self._defined.pop(name, None) is None:
                raise UserError(f"no defined class '{name}'")

    def defined(self) -> dict[str, np.ndarray]:
        """A copy of the defined classes: name -> raw attribute values (model order)."""
        with self._lock:
            return dict(self._defined)

    def candidates(self, among: str) -> ClassSet:
        """The classes to rank among, ``among``: the run's (calibrated: gamma off the seen ones),
        the defined ones (no gamma: new to the model; the run's temperature), or both."""
        if among == "run":
            return self.predictor.classes
        defined = self.defined()
        if not defined:
            raise UserError("no classes are defined yet (POST /api/classes)")
        classes = ClassSet.described(self.predictor.run, list(defined), np.stack(list(defined.values())), DEFINED)
        return self.predictor.classes + classes if among == "both" else classes
