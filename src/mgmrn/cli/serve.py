"""``mgmrn serve RUN [--host 127.0.0.1] [--port 8000]``.

A local web app (the ``serve`` extra: ``pip install -e ".[serve]"``): drop photos on the page
and see their top classes among the run's seen and unseen classes (calibrated as ``mgmrn
predict``), the attention behind a class (as ``mgmrn attention``), and describe new classes by
their attributes to rank the photos among them. Its JSON API is documented at
``/openapi.json``. It listens on 127.0.0.1 (this machine only) unless ``--host`` says
otherwise, and loads no checkpoint but RUN. It answers to requests addressed to an IP address,
``localhost``, ``--host`` or an ``--allowed-host``, refuses state-changing requests from other
sites' pages, and with ``--token`` answers API requests only when they carry the token.
"""

from __future__ import annotations

import argparse
import errno
import secrets
import socket
import sys

from mgmrn.errors import UserError
from mgmrn.serve.limits import BODY_SECONDS
from mgmrn.utils.paths import resolve_checkpoint

INSTALL = 'pip install -e ".[serve]"'
GENERATE = ""  # --token without a value: a random token
BACKLOG = 2048  # connections waiting to be accepted (uvicorn's default)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="RUN", help="run directory or checkpoint file (the only one loaded)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every network)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0: any free one)")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="a host name users reach the server by (repeatable; IP addresses, localhost and "
                             "--host are always answered, other names refused)")
    parser.add_argument("--body-timeout", type=float, default=BODY_SECONDS, metavar="SECONDS",
                        help=f"seconds a request's body may take to arrive (default {BODY_SECONDS:g}); a slower "
                             "one is answered 408 and its connection closed")
    parser.add_argument("--token", nargs="?", const=GENERATE, metavar="TOKEN",
                        help="answer API requests only with 'Authorization: Bearer TOKEN' (the page takes it "
                             "from its address, /#token=TOKEN; without a value a random token is made and its "
                             "address printed)")


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port``; a UserError if it cannot be (a port in use...)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise UserError(f"--host {host}: not an address to listen on ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(BACKLOG)  # the port is taken from here on, while the model loads
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} of {host} is in use (another server?): choose another with --port, "
                            "or --port 0 for any free one") from None
        raise UserError(f"cannot listen on {host} port {port} ({exc.strerror or exc})") from None
    return sock


def announce(host: str, port: int, token: str | None) -> None:
    """One line: the page's address, and who can use the server when it is reachable beyond
    this machine or needs a token."""
    from mgmrn.serve.guard import is_loopback

    address = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    if token is not None:
        line = f"open {address}#token={token} (API requests need the token)"
    elif not is_loopback(host):
        line = (f"open {address}; listening beyond this machine: anyone who can reach it can use it "
                "(--token makes it ask for a token)")
    else:
        line = f"open {address}"
    print(f"mgmrn serve: {line}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be in [0, 65535], got {args.port}")
    if not 0 < args.body_timeout <= 3600:
        raise UserError(f"--body-timeout must be in (0, 3600] seconds, got {args.body_timeout}")
    if args.token is not None and args.token != GENERATE and not args.token.isprintable():
        raise UserError("--token must be printable text")
    resolve_checkpoint(args.checkpoint)  # a mistyped run fails at once, before torch is imported
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise UserError(f"mgmrn serve needs the serve extra ({exc.name} is missing): {INSTALL}") from None
    sock = listen(args.host, args.port)  # a port in use fails before the model loads
    token = secrets.token_urlsafe(24) if args.token == GENERATE else args.token
    from mgmrn.inference.predictor import Predictor
    from mgmrn.serve.app import create_app

    predictor = Predictor(args.checkpoint)
    if predictor.note:  # e.g. a run saved without a temperature: plain softmax probabilities
        print(f"mgmrn serve: note: {predictor.note}", file=sys.stderr, flush=True)
    app = create_app(predictor, allowed_hosts=[args.host, *args.allowed_host], token=token,
                     body_seconds=args.body_timeout)
    announce(args.host, sock.getsockname()[1], token)
    uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port)).run(sockets=[sock])
    return 0
