"""The HTTP API's shapes: request and response models (they make the OpenAPI schema) and the
JSON error body every failure is answered with, `{"error": {"type", "message", ...}}`."""

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

# ---------------------------------------------------------------- errors


class ApiError(Exception):
    """An error answered as JSON: {"error": {"type", "message", **extra}}."""

    def __init__(
        self, status: int, type: str, message: str, headers: dict | None = None, **extra: Any
    ):
        super().__init__(message)
        self.status, self.type, self.message = status, type, message
        self.headers = headers
        self.extra = extra

    def response(self) -> JSONResponse:
        body = {"error": {"type": self.type, "message": self.message, **self.extra}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def field_error(name: str, message: str) -> ApiError:
    """A 422 naming one invalid field."""
    fields = [{"field": name, "message": message, "type": "value_error"}]
    return ApiError(422, "validation_error", f"{name}: {message}", fields=fields)


def field_name(loc: Sequence[Any]) -> str:
    """A validation error's location as a dotted field name (`texts.1`), `body` for the body."""
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


class ErrorDetail(BaseModel):
    type: str = Field(description="e.g. validation_error, limit_exceeded, unauthorized")
    message: str
    limit: str | None = Field(None, description="the limit exceeded (413)")
    max: int | None = Field(None, description="the limit's value (413)")
    fields: list[dict[str, Any]] | None = Field(None, description="invalid fields (422)")


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries for these error codes."""
    descriptions = {
        401: "missing or invalid API key",
        408: "the request body arrived too slowly",
        413: "the request body is larger than max_body_bytes",
        422: "invalid JSON or fields, or a limit exceeded (max_texts, max_chars)",
        503: "model not loaded yet, or the queue is full",
        504: "the prediction took longer than the request timeout",
    }
    return {c: {"model": ErrorResponse, "description": descriptions[c]} for c in codes}


# ---------------------------------------------------------------- requests


def _integer_only(value: Any) -> Any:
    """JSON integers (also written 3.0, as JSON Schema allows); not strings or booleans."""
    if isinstance(value, (str, bool)):
        raise ValueError("must be an integer")
    return value


def request_model(max_texts: int, max_chars: int, pair: bool) -> type[BaseModel]:
    """The request body schema, with this server's limits in it (maxItems, maxLength) and,
    for a model trained on text pairs, a required `text_pairs`."""
    Text = Annotated[str, Field(strict=True, json_schema_extra={"maxLength": max_chars})]
    Texts = Annotated[list[Text], Field(min_length=1, json_schema_extra={"maxItems": max_texts})]

    class PredictRequest(BaseModel):
        model_config = ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [{"texts": ["a gripping, beautifully shot film"]}]},
        )

        texts: Texts = Field(description="texts to classify (see /v1/model for the limits)")
        top_k: Annotated[int | None, BeforeValidator(_integer_only)] = Field(
            None, ge=1, description="also list the k most probable labels (not for regression)"
        )

    if not pair:
        return PredictRequest

    class PairPredictRequest(PredictRequest):
        model_config = ConfigDict(
            json_schema_extra={"examples": [{"texts": ["a question"], "text_pairs": ["a text"]}]}
        )

        text_pairs: Texts = Field(description="the second text of each pair, one per text")

    return PairPredictRequest


# ---------------------------------------------------------------- responses


class LabelProbability(BaseModel):
    label: str
    probability: float


class Prediction(BaseModel):
    """One text's prediction: labels and probabilities (classification) or a value
    (regression: only `value`)."""

    label: str | None = Field(
        None, description="the predicted label (multi-label: the most probable; null for none)"
    )
    labels: list[str] | None = Field(
        None, description="all predicted labels ([label] for single-label)"
    )
    probabilities: dict[str, float] | None = Field(
        None, description="probability of each class (classification)"
    )
    value: float | None = Field(None, description="the predicted value (regression only)")
    thresholds: dict[str, float] | None = Field(None, description="multi-label only")
    top_k: list[LabelProbability] | None = None


class PredictResponse(BaseModel):
    model: str
    version: str
    task: str
    predictions: list[Prediction]


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str
    task: str
    labels: list[str]
    architecture: str  # transformer, bilstm, linear or ensemble
    text_pair: bool
    max_length: int | None  # None: a linear model reads whole texts
    truncation: str | None = Field(
        description="What a longer text keeps: head, tail, head+tail, windows; None for linear."
    )
    backend: str  # torch, onnx, or numpy (linear); an ensemble's members', `+`-joined
    precision: str
    quantize: str | None
    metrics: dict[str, Any]
    config_sha256: str | None
    base_model: str | None
    ensemble: dict[str, Any] | None = Field(
        None,
        description="An ensemble directory: its method, groups, member models and weights; "
        "null for a single model.",
    )
    textclass_version: str
    limits: dict[str, Any]
    batching: dict[str, Any]


class Status(BaseModel):
    status: str
