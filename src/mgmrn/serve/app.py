"""The web app of ``mgmrn serve``: the page (``/``) and the JSON API behind it, documented
at ``/openapi.json``. It reads images and class-attribute CSVs from uploads only: no client
names a file on the server, and the only checkpoint is the one it was created with."""

from __future__ import annotations

import base64
import io
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, AsyncIterator, Sequence

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from mgmrn import __version__
from mgmrn.inference.classes import ClassSet, candidate_classes
from mgmrn.inference.predictor import Predictor
from mgmrn.serve.errors import add_error_handlers
from mgmrn.serve.guard import Guard
from mgmrn.serve.limits import BODY_SECONDS, MAX_UPLOAD_BYTES
from mgmrn.serve.schemas import (
    Among,
    Attributes,
    Classes,
    Definition,
    Error,
    Explanation,
    Health,
    Prediction,
)
from mgmrn.serve.state import MAX_DEFINED, ServerState
from mgmrn.serve.uploads import BodyLimit, Upload
from mgmrn.viz.attention import explain, render

TILE = 112  # side of each map of the attention drawing, in pixels


def server(request: Request) -> ServerState:
    return request.app.state.server


Server = Annotated[ServerState, Depends(server)]
AmongField = Annotated[Among, Form(description="rank among the run's classes, the defined ones, or both")]
router = APIRouter(responses={code: {"model": Error} for code in (400, 401, 403, 404, 408, 413, 422)})


def listing(state: ServerState) -> dict[str, Any]:
    """The run's classes and the defined ones (their non-zero raw attribute values)."""
    names, run = state.predictor.attribute_names, state.predictor.classes
    return {
        "run": [{"name": n, "seen": bool(s)} for n, s in zip(run.names, run.seen)],
        "defined": [{"name": n, "attributes": {names[i]: float(v[i]) for i in np.flatnonzero(v)}}
                    for n, v in state.defined().items()],
        "max_defined": state.max_defined,
    }


def rank_upload(predictor: Predictor, classes: ClassSet, image: UploadFile, top_k: int) -> list[dict[str, Any]]:
    """The ``top_k`` of ``classes`` for one uploaded image, as ``mgmrn predict`` ranks them."""
    return predictor.rank(predictor.load_image(Upload.of(image))[None], top_k, classes=classes)[0]


def explain_upload(predictor: Predictor, classes: ClassSet, image: UploadFile, class_name: str | None,
                   top_k: int) -> dict[str, Any]:
    """``mgmrn attention`` for one uploaded image: the summary and the drawing (base64 PNG)."""
    explanation = explain(predictor, Upload.of(image), classes=classes, class_name=class_name, top_k=top_k)
    png = io.BytesIO()
    render(explanation, TILE).save(png, format="PNG")
    return {**explanation.to_dict(), "png": base64.b64encode(png.getvalue()).decode()}


@router.get("/", include_in_schema=False)
async def page() -> HTMLResponse:
    return HTMLResponse((files("mgmrn.serve") / "static" / "index.html").read_text(encoding="utf-8"))


@router.get("/health", response_model=Health)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/api/classes", response_model=Classes, summary="the run's classes and the defined ones")
async def classes(state: Server) -> dict[str, Any]:
    return listing(state)


@router.get("/api/attributes", response_model=Attributes, summary="the attribute names classes are described by")
async def attributes(state: Server) -> dict[str, Any]:
    return {"attributes": state.predictor.attribute_names}


@router.post("/api/classes", response_model=Classes, summary="define classes by raw attribute values")
async def define(definition: Definition, state: Server) -> dict[str, Any]:
    names = [c.name for c in definition.classes]
    state.define(names, np.stack([state.values(c.attributes) for c in definition.classes]))
    return listing(state)


@router.post("/api/classes/csv", response_model=Classes,
             summary="define classes from a class-attribute CSV (as `mgmrn predict --classes` takes)")
async def define_csv(file: UploadFile, state: Server) -> dict[str, Any]:
    await run_in_threadpool(define_from_csv, state, file)  # parsing it: off the event loop
    return listing(state)


def define_from_csv(state: ServerState, file: UploadFile) -> None:
    upload = Upload.of(file)
    names, values = candidate_classes(Path(upload.filename), state.predictor.attribute_names, upload.text())
    state.define(names, values, upload.filename)


@router.delete("/api/classes/{name:path}", response_model=Classes, summary="delete a defined class")
async def delete(name: str, state: Server) -> dict[str, Any]:
    state.delete(name)
    return listing(state)


@router.post("/api/predict", response_model=Prediction, summary="the top classes for one image")
async def predict(image: UploadFile, state: Server, among: AmongField = "run",
                  top_k: Annotated[int, Form(ge=1, le=100)] = 5) -> dict[str, Any]:
    return {"top": await state.run(rank_upload, state.predictor, state.candidates(among), image, top_k)}


@router.post("/api/explain", response_model=Explanation,
             summary="attention of every stage for the attributes behind a class's score")
async def explain_image(image: UploadFile, state: Server, among: AmongField = "run",
                        class_name: Annotated[str | None, Form(alias="class",
                                                               description="default: the predicted class")] = None,
                        top_k: Annotated[int, Form(ge=1, le=16, description="attributes drawn")] = 4) -> dict[str, Any]:
    return await state.run(explain_upload, state.predictor, state.candidates(among), image, class_name, top_k)


def create_app(predictor: Predictor, max_defined: int = MAX_DEFINED, allowed_hosts: Sequence[str] = (),
               token: str | None = None, body_seconds: float = BODY_SECONDS) -> FastAPI:
    """The app serving ``predictor`` (among the run's classes, and those its clients define); it
    answers to IP addresses, ``localhost`` and ``allowed_hosts`` (see :mod:`mgmrn.serve.guard`),
    with ``token`` only to requests that carry it, and gives a body ``body_seconds`` to arrive."""
    state = ServerState(predictor, max_defined)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(title="mgmrn serve", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Classify photos among a run's classes and among classes described by attributes. "
                              f"Uploads: at most {MAX_UPLOAD_BYTES:,} bytes a request. "
                              'Errors: a 4xx status and {"error": "one line"}.')
    app.state.server = state
    add_error_handlers(app)
    app.add_middleware(BodyLimit, seconds=body_seconds)
    app.add_middleware(Guard, allowed_hosts=allowed_hosts, token=token)  # outermost: refuses before any body
    app.include_router(router)
    app.mount("/static", StaticFiles(packages=[("mgmrn.serve", "static")]), name="static")
    return app
