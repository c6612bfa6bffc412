"""Serve a trained model over HTTP: FastAPI under uvicorn, with dynamic batching.

    textclass serve runs/rotten_tomatoes/model                 # http://127.0.0.1:8000
    curl -s localhost:8000/v1/predict -H 'content-type: application/json' \\
         -d '{"texts": ["a gripping film"]}'

From Python, `create_app(ServeSettings(model_dir=...))` gives the ASGI app (tests pass a ready
`Classifier` instead); `serve(settings)` runs it under uvicorn.

Endpoints (`routes.py`): `POST /v1/predict`, `GET /v1/model`, `GET /health` (liveness),
`GET /ready` (model loaded), `GET /metrics` (Prometheus text format). With API keys configured,
`/v1/*` and `/metrics` need `Authorization: Bearer KEY`.

How a request flows: the texts are cleaned exactly as at training time; with the cache on, the
cleaned texts already seen are answered from an LRU cache; the rest go to the `DynamicBatcher`
(`batcher.py`), which gathers the texts of concurrent requests (up to `max_batch_size` texts,
waiting at most `max_wait_ms` for more) into one pass that runs in a worker thread, so the event
loop never waits on the model. Inside a pass the texts are sorted by length and run in chunks of
`forward_batch_size` (`inference.predict_logits`), so short texts are not padded to long ones.

Errors are JSON, `{"error": {"type": ..., "message": ..., ...}}` (`schemas.py`): 401 (API key),
413 (body larger than `max_body_bytes`), 422 (invalid JSON, wrong types, an empty list, or a
limit: texts per request, characters per text; `fields` names the field, `limit` the limit),
503 (model not loaded, queue full), 504 (timeout). Bad input never causes a 500.

Needs the `serve` extra: pip install "textclass[serve]".
"""

import asyncio
import contextlib
import functools
import logging
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from textclass import runtime
from textclass.errors import TextclassError
from textclass.inference.classifier import Classifier
from textclass.inference.onnx import is_onnx_dir
from textclass.serving.middleware import (
    BodyLimitMiddleware,
    MetricsMiddleware,
    ServeMetrics,
    TimeoutMiddleware,
)
from textclass.serving.routes import build_router
from textclass.serving.schemas import ApiError, field_name
from textclass.serving.service import ModelService, is_pair_model, load_classifier
from textclass.serving.settings import API_KEYS_ENV, ServeSettings
from textclass.workflows import rundir

log = logging.getLogger(__name__)


def create_app(settings: ServeSettings, classifier: Classifier | None = None) -> FastAPI:
    """The FastAPI app. The model is loaded in the lifespan (from `settings.model_dir`, unless a
    ready `classifier` is given) and reached through the `get_service` dependency."""
    metrics = ServeMetrics()
    app = FastAPI(
        title="textclass",
        summary="Text classification over HTTP",
        version=_version(),
        lifespan=functools.partial(_lifespan, classifier=classifier),
    )
    app.state.service = None
    app.state.settings = settings
    app.state.metrics = metrics
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _crash)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(TimeoutMiddleware, timeout=settings.request_timeout)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(build_router(settings, is_pair_model(classifier, settings.model_dir)))
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI, classifier: Classifier | None = None):
    """Load the model (unless given), start its service, and stop it at shutdown."""
    settings = app.state.settings
    clf = classifier
    if clf is None:
        clf = await asyncio.to_thread(load_classifier, settings)
    service = ModelService(clf, settings, app.state.metrics, settings.model_dir)
    await service.start()
    app.state.service = service
    log.info(
        "serving %s (%s, %s) with %s",
        service.info["name"],
        service.info["backend"],
        service.info["precision"],
        "batching" if settings.batching else "no batching",
    )
    try:
        yield
    finally:
        app.state.service = None
        await service.stop()


# ---------------------------------------------------------------- errors, all as JSON


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return exc.response()


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming every invalid field; the message names the first."""
    fields = []
    for err in exc.errors():
        entry = {
            "field": field_name(err.get("loc", ())),
            "message": err.get("msg", "invalid"),
            "type": err.get("type", "invalid"),
        }
        if entry["type"] == "extra_forbidden" and entry["field"] == "text_pairs":
            entry["message"] = "this model classifies single texts; omit text_pairs"
        if err.get("type") == "json_invalid":
            where = err.get("loc", ("body", "?"))[-1]
            reason = (err.get("ctx") or {}).get("error", "")
            entry.update(field="body", message=f"invalid JSON at character {where}: {reason}")
        fields.append(entry)
    first = fields[0] if fields else {"field": "body", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}"
    if len(fields) > 1:
        message += f" (and {len(fields) - 1} more)"
    return ApiError(422, "validation_error", message, fields=fields).response()


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:  # FastAPI: a body that is not even text (bad UTF-8)
        fields = [{"field": "body", "message": "not UTF-8 JSON", "type": "json_invalid"}]
        message = "body: invalid JSON: the body could not be decoded (send UTF-8 JSON)"
        return ApiError(422, "validation_error", message, fields=fields).response()
    kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return ApiError(exc.status_code, kind, str(exc.detail), headers=exc.headers).response()


async def _crash(request: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return ApiError(500, "internal_error", "internal server error").response()


def _version() -> str:
    import textclass

    return textclass.__version__


# ---------------------------------------------------------------- the entry point


def serve(settings: ServeSettings) -> None:
    """Run the app under uvicorn until Ctrl-C (loading the model first). The entry point: it
    alone sets the process-wide settings (inference threads, allocator)."""
    import uvicorn

    _check_servable(settings)
    # Inference threads: one core is left to the event loop (HTTP, JSON, tokenization) and the
    # clients on the same machine; threads that spin on a busy core slow every pass many-fold.
    # ONNX Runtime sessions follow torch's count (inference/onnx.py).
    runtime.set_threads(settings.threads or max(1, (os.cpu_count() or 2) - 1))
    runtime.tune_allocator()
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
        server_header=False,
    )


def _check_servable(settings: ServeSettings) -> None:
    """Fail before binding a port: a missing model, or onnx asked for without an export; warn
    when the server is reachable from other machines without API keys."""
    model_dir = settings.model_dir
    found = [rundir.HF_CONFIG, rundir.ENSEMBLE]  # a model or an ensemble directory
    if model_dir is None or not any((Path(model_dir) / name).is_file() for name in found):
        load_classifier(settings)  # raises the standard "not a model directory" error
    if settings.backend == "onnx" and not is_onnx_dir(model_dir):
        raise TextclassError(
            f"{model_dir} has no model.onnx; create one with `textclass export {model_dir}` "
            "and serve that directory."
        )
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not settings.api_keys:
        log.warning(
            "listening on %s without API keys: anyone who can reach this address can use the "
            "model. Set --api-key-file or %s.",
            settings.host,
            API_KEYS_ENV,
        )
