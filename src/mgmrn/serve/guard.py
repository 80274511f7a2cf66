"""Who the server answers: requests addressed to it (their Host), from its own page (their
Origin, for requests that change or cost anything), and, with a token, only from those who
hold it.

A page on another site can make a browser send requests to a local server (cross-site
requests), or have its own name resolve to the server's address (DNS rebinding, the request
then carries that site's name as its Host). A Host that is an IP address, ``localhost``, or a
name the server was told of (``--host``, ``--allowed-host``) is answered; a state-changing
request whose Origin is not the server's own is refused. Clients that are not browsers send no
Origin and are answered.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mgmrn.serve.errors import error

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
OPEN_PATHS = ("/", "/health", "/openapi.json")  # and /static/: the page and its files need no token


def host_name(host: str) -> str:
    """The name or address of a Host header (``name:port``, ``[v6]:port``), lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    name, _, port = host.rpartition(":")
    return name.rstrip(".") if name and port.isdigit() else host.rstrip(".")


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """Whether a listening address reaches this machine only."""
    name = host_name(host)
    return name == "localhost" or (is_address(name) and ipaddress.ip_address(name).is_loopback)


class Guard:
    """ASGI middleware: 400 for a Host the server does not answer to, 403 for a state-changing
    request from another origin, 401 for an API request without the token (when there is one)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = (), token: str | None = None) -> None:
        self.app = app
        self.names = {host_name(h) for h in allowed_hosts}
        self.token = token

    def answers(self, name: str) -> bool:
        return is_address(name) or name == "localhost" or name.endswith(".localhost") or name in self.names

    def problem(self, scope: Scope) -> tuple[int, str] | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if host and not self.answers(host_name(host)):
            return 400, (f"this server does not answer to the host name '{host_name(host)}' "
                         "(mgmrn serve --allowed-host adds one)")
        origin = headers.get("origin")
        own = f"{scope.get('scheme', 'http')}://{host}".lower()
        if scope["method"] not in SAFE_METHODS and origin is not None and origin.lower() != own:
            return 403, f"refused a request from another site (Origin {origin}); use this server's own page"
        path = scope["path"]
        if self.token is not None and not (path in OPEN_PATHS or path.startswith("/static/")):
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
                return 401, ("this server needs its token: 'Authorization: Bearer TOKEN', "
                             "or open the page at /#token=TOKEN")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = self.problem(scope) if scope["type"] == "http" else None
        if refused is None:
            await self.app(scope, receive, send)
        else:
            await error(*refused, close=True)(scope, receive, send)
