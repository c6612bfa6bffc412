"""The HTTP endpoints: `POST /v1/predict`, `GET /v1/model`, `/health`, `/ready`, `/metrics`.

The model is reached through the `get_service` dependency (tests swap it with
`app.dependency_overrides[get_service]`); the server's settings through `get_settings`.
`build_router` puts this server's limits into the request schema and, when API keys are set,
the key check in front of `/v1/*` and `/metrics`.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from textclass.serving.batcher import Overloaded
from textclass.serving.schemas import (
    ERROR_SCHEMA_REF,
    ApiError,
    ModelInfo,
    PredictResponse,
    Status,
    error_responses,
    field_error,
    request_model,
)
from textclass.serving.service import ModelService
from textclass.serving.settings import KeyChecker, ServeSettings

API_PREFIX = "/v1"


async def get_service(request: Request) -> ModelService:
    """The dependency every model endpoint uses (tests override it)."""
    service = getattr(request.app.state, "service", None)
    if service is None or not service.ready:
        raise ApiError(503, "not_ready", "the model is not loaded yet; retry shortly.")
    return service


def get_settings(request: Request) -> ServeSettings:
    return request.app.state.settings


ServiceDep = Annotated[ModelService, Depends(get_service)]
SettingsDep = Annotated[ServeSettings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="an API key: Authorization: Bearer KEY")


def key_check(keys: KeyChecker) -> Any:
    """The dependency that answers 401 unless the request carries one of `keys`."""

    async def require_key(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if not keys.valid(credentials.credentials if credentials else None):
            raise ApiError(
                401,
                "unauthorized",
                "missing or invalid API key; send `Authorization: Bearer <key>`.",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_key


# ---------------------------------------------------------------- the endpoints


def predict_endpoint(body_model: type[BaseModel]) -> Any:
    """`POST /v1/predict` for a request schema made by `request_model` (it holds the limits)."""

    async def predict(body: body_model, service: ServiceDep, settings: SettingsDep) -> JSONResponse:
        check_request(body, settings)
        try:
            outputs = await service.probabilities(body.texts, getattr(body, "text_pairs", None))
        except Overloaded as exc:
            raise ApiError(
                503, "overloaded", f"{exc}; retry shortly.", headers={"Retry-After": "1"}
            ) from None
        top_k = min(body.top_k, len(service.clf.labels)) if body.top_k else None
        return JSONResponse(
            {
                "model": service.info["name"],
                "version": service.info["version"],
                "task": service.info["task"],
                "predictions": service.predictions(outputs, top_k),
            }
        )

    return predict


async def model(service: ServiceDep, settings: SettingsDep) -> dict[str, Any]:
    return {
        **service.info,
        "limits": {
            "max_texts": settings.max_texts,
            "max_chars": settings.max_chars,
            "max_body_bytes": settings.max_body_bytes,
            "request_timeout": settings.request_timeout,
        },
        "batching": {
            "enabled": settings.batching,
            "max_batch_size": settings.max_batch_size,
            "max_wait_ms": settings.max_wait_ms,
            "forward_batch_size": settings.forward_batch_size,
            "cache_size": settings.cache_size,
        },
    }


async def health() -> dict[str, str]:
    return {"status": "ok"}


async def ready(request: Request) -> dict[str, str]:
    service = getattr(request.app.state, "service", None)
    if service is None or not service.ready:
        raise ApiError(503, "not_ready", "the model is not loaded yet.")
    return {"status": "ready"}


async def prometheus_metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def check_request(body: Any, settings: ServeSettings) -> None:
    """The limits, as 422 errors naming them (they are in the schema as maxItems/maxLength)."""
    pairs = getattr(body, "text_pairs", None)
    n = len(body.texts)
    if n > settings.max_texts:
        raise ApiError(
            422,
            "limit_exceeded",
            f"texts: {n} texts in one request; the limit is max_texts={settings.max_texts}. "
            "Split the request.",
            limit="max_texts",
            max=settings.max_texts,
            fields=[{"field": "texts", "message": "too many texts", "type": "too_long"}],
        )
    for name, values in (("texts", body.texts), ("text_pairs", pairs or [])):
        for i, text in enumerate(values):
            if len(text) > settings.max_chars:
                raise ApiError(
                    422,
                    "limit_exceeded",
                    f"{name}.{i}: {len(text)} characters; the limit is "
                    f"max_chars={settings.max_chars}.",
                    limit="max_chars",
                    max=settings.max_chars,
                    fields=[{"field": f"{name}.{i}", "message": "too long", "type": "too_long"}],
                )
    if pairs is not None and len(pairs) != n:
        raise field_error("text_pairs", f"{len(pairs)} text_pairs for {n} texts; they must match")


# ---------------------------------------------------------------- the router


def _text_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """A text/plain 200 with JSON errors, spelled out: a `model` would take the route's
    text/plain."""
    return {
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **{
            code: {
                "description": spec["description"],
                "content": {"application/json": {"schema": ERROR_SCHEMA_REF}},
            }
            for code, spec in error_responses(*codes).items()
        },
    }


def build_router(settings: ServeSettings, pair: bool) -> APIRouter:
    """The endpoints for this server: its limits in the request schema (`pair`: a model trained
    on text pairs, which needs `text_pairs`), and its API keys, if any, on /v1/* and /metrics."""
    keys = KeyChecker(settings.api_keys)
    protected = [Depends(key_check(keys))] if keys else []
    auth = (401,) if keys else ()
    body_model = request_model(settings.max_texts, settings.max_chars, pair)
    router = APIRouter()
    router.add_api_route(
        f"{API_PREFIX}/predict",
        predict_endpoint(body_model),
        methods=["POST"],
        response_model=PredictResponse,
        dependencies=protected,
        responses=error_responses(*auth, 408, 413, 422, 503, 504),
        summary="Labels and class probabilities for a list of texts",
    )
    router.add_api_route(
        f"{API_PREFIX}/model",
        model,
        methods=["GET"],
        response_model=ModelInfo,
        dependencies=protected,
        responses=error_responses(*auth, 503),
        summary="The served model: name, version, labels, task, training metrics, config hash",
    )
    router.add_api_route(
        "/health",
        health,
        methods=["GET"],
        response_model=Status,
        summary="Liveness: the process answers",
    )
    router.add_api_route(
        "/ready",
        ready,
        methods=["GET"],
        response_model=Status,
        responses=error_responses(503),
        summary="Readiness: the model is loaded and accepting requests",
    )
    router.add_api_route(
        "/metrics",
        prometheus_metrics,
        methods=["GET"],
        response_class=PlainTextResponse,
        dependencies=protected,
        responses=_text_responses(*auth),
        summary="Prometheus metrics: requests, latency, batch sizes, cache hits",
    )
    return router
