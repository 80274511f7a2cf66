"""``mgmrn serve RUN [--host 127.0.0.1] [--port 8000]``.

A local web app (the ``serve`` extra: ``pip install -e ".[serve]"``): drop photos on the page
and see their top classes among the run's seen and unseen classes (calibrated as ``mgmrn
predict``), the attention behind a class (as ``mgmrn attention``), and describe new classes by
their attributes to rank the photos among them. Its JSON API is documented at
``/openapi.json``. It listens on 127.0.0.1 (this machine only) unless ``--host`` says
otherwise, and loads no checkpoint but RUN.
"""

from __future__ import annotations

import argparse

from mgmrn.errors import UserError

INSTALL = 'pip install -e ".[serve]"'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="RUN", help="run directory or checkpoint file (the only one loaded)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every network)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0: any free one)")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be in [0, 65535], got {args.port}")
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise UserError(f"mgmrn serve needs the serve extra ({exc.name} is missing): {INSTALL}") from None
    from mgmrn.engine.predict import Predictor
    from mgmrn.serve.app import create_app

    uvicorn.run(create_app(Predictor(args.checkpoint)), host=args.host, port=args.port)
    return 0
