"""Uploads: the size limit of a request, and an uploaded file kept in memory under its name."""

from __future__ import annotations

import io
from pathlib import PurePosixPath

from fastapi import UploadFile
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mgmrn.errors import UserError
from mgmrn.serve.errors import error

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # a request's body: the file and the form fields together
TOO_LARGE = f"request larger than the upload limit ({MAX_UPLOAD_BYTES:,} bytes)"


class TooLarge(HTTPException):
    """A request body that went past :data:`MAX_UPLOAD_BYTES` as it was read."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


class BodyLimit:
    """ASGI middleware: a request body above :data:`MAX_UPLOAD_BYTES` is refused with 413, by
    its Content-Length before it is read, or as soon as more arrives (:class:`TooLarge`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = Headers(scope=scope).get("content-length", "") if scope["type"] == "http" else ""
        if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
            await error(413, TOO_LARGE)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_UPLOAD_BYTES:
                raise TooLarge
            return message

        await self.app(scope, counted, send)


class Upload(io.BytesIO):
    """An uploaded file in memory (an open binary file, as ``Predictor.load_image`` takes);
    ``str()`` gives its file name without folders, which errors name."""

    def __init__(self, data: bytes, filename: str | None) -> None:
        super().__init__(data)
        self.filename = PurePosixPath((filename or "").replace("\\", "/")).name or "upload"

    def __str__(self) -> str:
        return self.filename

    def text(self) -> str:
        """The file as UTF-8 text (a byte-order mark dropped)."""
        try:
            return self.getvalue().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UserError("not UTF-8 text", self.filename) from None


async def read_upload(file: UploadFile) -> Upload:
    """The whole upload (its size is bounded by the request limit, :data:`MAX_UPLOAD_BYTES`)."""
    return Upload(await file.read(), file.filename)
