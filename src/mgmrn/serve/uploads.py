"""Uploads: the size limit of a request, and an uploaded file kept in memory under its name."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import PurePosixPath

from fastapi import UploadFile
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mgmrn.errors import UserError
from mgmrn.serve.errors import error
from mgmrn.serve.limits import BODY_SECONDS, MAX_UPLOAD_BYTES

TOO_LARGE = f"request larger than the upload limit ({MAX_UPLOAD_BYTES:,} bytes)"
CLOSE = (b"connection", b"close")


class BodyRefused(HTTPException):
    """A request body refused as it was read: too large (413) or too slow (408). The answer
    closes the connection (what the client still sends is not waited for)."""


class BodyLimit:
    """ASGI middleware: a request body above :data:`MAX_UPLOAD_BYTES` is refused with 413, by
    its Content-Length before it is read, or as soon as more arrives; one that has not all
    arrived ``seconds`` after the request began is refused with 408."""

    def __init__(self, app: ASGIApp, seconds: float = BODY_SECONDS) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
            await error(413, TOO_LARGE, close=True)(scope, receive, send)
            return
        deadline = time.monotonic() + self.seconds
        received, complete, refused = 0, False, False

        async def counted() -> Message:
            nonlocal received, complete, refused
            if complete:  # the body is in: what follows is the client disconnecting
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                refused = True
                raise BodyRefused(408, f"request body not received within {self.seconds:g} s") from None
            received += len(message.get("body", b""))
            complete = not message.get("more_body", False)
            if received > MAX_UPLOAD_BYTES:
                refused = True
                raise BodyRefused(413, TOO_LARGE)
            return message

        async def closing(message: Message) -> None:
            if refused and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), CLOSE]}
            await send(message)

        await self.app(scope, counted, closing)


class Upload(io.BytesIO):
    """An uploaded file in memory (an open binary file, as ``Predictor.load_image`` takes);
    ``str()`` gives its file name without folders, which errors name."""

    def __init__(self, data: bytes, filename: str | None) -> None:
        super().__init__(data)
        self.filename = PurePosixPath((filename or "").replace("\\", "/")).name or "upload"

    def __str__(self) -> str:
        return self.filename

    @classmethod
    def of(cls, file: UploadFile) -> Upload:
        """The whole of an upload (bounded by the request limit, :data:`MAX_UPLOAD_BYTES`), read
        where it is used: beyond 1 MiB it waits on disk, not in memory."""
        file.file.seek(0)
        return cls(file.file.read(), file.filename)

    def text(self) -> str:
        """The file as UTF-8 text (a byte-order mark dropped)."""
        try:
            return self.getvalue().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UserError("not UTF-8 text", self.filename) from None
