"""Every error answered as one line of JSON, ``{"error": "..."}``, with a 4xx status for bad
input: 400 (a UserError: unreadable image, unknown class or attribute, NaN value...), 404,
413 (a request above the upload limit), 422 (a missing or malformed field)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from mgmrn.errors import UserError


def error(status: int, message: str, close: bool = False) -> JSONResponse:
    """``{"error": message}``, its line breaks (from the input it names) made spaces;
    ``close``: the connection is closed after it."""
    return JSONResponse({"error": " ".join(message.splitlines())}, status_code=status,
                        headers={"Connection": "close"} if close else None)


async def user_error(request: Request, exc: Exception) -> JSONResponse:
    return error(400, str(exc))


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, str(exc.detail))


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    first = problems[0]
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return error(422, f"{'.'.join(map(str, first['loc']))}: {first['msg']}{more}")


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    return error(500, f"internal error ({type(exc).__name__}); the server goes on")


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(UserError, user_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, internal_error)
