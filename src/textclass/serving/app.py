"""Serve a trained model over HTTP: FastAPI under uvicorn, with dynamic batching.

    textclass serve runs/rotten_tomatoes/model                 # http://127.0.0.1:8000
    curl -s localhost:8000/v1/predict -H 'content-type: application/json' \\
         -d '{"texts": ["a gripping film"]}'

From Python, `create_app(ServeSettings(model_dir=...))` gives the ASGI app (tests pass a ready
`Classifier` instead); `serve(settings)` runs it under uvicorn.

Endpoints: `POST /v1/predict`, `GET /v1/model`, `GET /health` (liveness), `GET /ready` (model
loaded), `GET /metrics` (Prometheus text format). With API keys configured, `/v1/*` and
`/metrics` need `Authorization: Bearer KEY`.

How a request flows: the texts are cleaned exactly as at training time; with the cache on, the
cleaned texts already seen are answered from an LRU cache; the rest go to the `DynamicBatcher`,
which gathers the texts of concurrent requests (up to `max_batch_size` texts, waiting at most
`max_wait_ms` for more) into one pass that runs in a worker thread, so the event loop never waits
on the model. Inside a pass the texts are sorted by length and run in chunks of
`forward_batch_size` (`inference.predict_logits`), so short texts are not padded to long ones.

Errors are JSON, `{"error": {"type": ..., "message": ..., ...}}`: 401 (API key), 413 (body
larger than `max_body_bytes`), 422 (invalid JSON, wrong types, an empty list, or a limit: texts
per request, characters per text; `fields` names the field, `limit` the limit), 503 (model not
loaded, queue full), 504 (timeout). Bad input never causes a 500.

Needs the `serve` extra: pip install "textclass[serve]".
"""

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from textclass.data.clean import clean_texts
from textclass.errors import TextclassError
from textclass.inference.classifier import Classifier

try:
    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        generate_latest,
    )
    from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise TextclassError(
        f'serving needs the serve extra ({exc.name} is missing): pip install "textclass[serve]".'
    ) from None

log = logging.getLogger(__name__)

API_KEYS_ENV = "TEXTCLASS_API_KEYS"
API_PREFIX = "/v1"


# ---------------------------------------------------------------- settings


@dataclass
class ServeSettings:
    """Everything `textclass serve` can set. Limits protect the server from huge requests."""

    model_dir: Path | None = None
    backend: Literal["auto", "torch", "onnx"] = "auto"
    precision: str = "auto"  # torch backend: auto | fp32 | bf16
    host: str = "127.0.0.1"
    port: int = 8000
    batching: bool = True
    max_batch_size: int = 32  # texts gathered into one pass
    max_wait_ms: float = 2.0  # how long a pass waits for more texts to arrive
    forward_batch_size: int = 8  # texts per forward call: a pass, sorted by length, in chunks
    max_queue: int = 4096  # texts waiting; beyond it requests get 503
    cache_size: int = 0  # LRU entries; 0 = off
    max_texts: int = 256  # per request
    max_chars: int = 10_000  # per text (and per text pair)
    request_timeout: float = 30.0  # seconds, whole request; 504 after that
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    log_level: str = "info"
    threads: int | None = None  # `serve`: inference threads; None = all cores but one

    def __post_init__(self) -> None:
        if self.model_dir is not None:
            self.model_dir = Path(self.model_dir)
        positive = (
            "max_batch_size",
            "forward_batch_size",
            "max_queue",
            "max_texts",
            "max_chars",
            "port",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise TextclassError(f"{name} must be at least 1 (got {getattr(self, name)}).")
        for name in ("cache_size", "max_wait_ms"):
            if getattr(self, name) < 0:
                raise TextclassError(f"{name} must not be negative (got {getattr(self, name)}).")
        if self.request_timeout <= 0:
            raise TextclassError("request_timeout must be positive.")
        if self.backend not in ("auto", "torch", "onnx"):
            raise TextclassError(f"backend {self.backend!r}: use auto, torch or onnx.")

    @property
    def max_body_bytes(self) -> int:
        """Largest accepted request body: the text limits at 6 bytes a character (JSON's
        \\uXXXX escapes), texts and pairs, plus room for the JSON around them."""
        return 2 * self.max_texts * (6 * self.max_chars + 16) + 64 * 1024


def load_api_keys(key_file: str | Path | None = None, env: str = API_KEYS_ENV) -> tuple[str, ...]:
    """API keys from a file (one a line; blank lines and `#` comments ignored) and/or the
    environment variable (comma- or space-separated). No keys: authentication is off."""
    keys: list[str] = []
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise TextclassError(f"--api-key-file {path}: no such file.")
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(line)
        if not keys:
            raise TextclassError(f"--api-key-file {path} holds no keys (one key a line).")
        if os.name == "posix" and path.stat().st_mode & 0o004:
            log.warning("%s is readable by every user; consider chmod 600.", path)
    keys += os.environ.get(env, "").replace(",", " ").split()
    for key in keys:
        if len(key) < 16:
            log.warning("an API key is shorter than 16 characters; use long random keys.")
            break
    return tuple(dict.fromkeys(keys))


class KeyChecker:
    """Constant-time API key check: the digests of all keys are compared, every time."""

    def __init__(self, keys: Sequence[str]):
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def valid(self, key: str | None) -> bool:
        given = hashlib.sha256((key or "").encode()).digest()
        ok = False
        for digest in self._digests:
            ok |= hmac.compare_digest(digest, given)
        return ok and key is not None


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


class ErrorDetail(BaseModel):
    type: str = Field(description="e.g. validation_error, limit_exceeded, unauthorized")
    message: str
    limit: str | None = Field(None, description="the limit exceeded (413)")
    max: int | None = Field(None, description="the limit's value (413)")
    fields: list[dict[str, Any]] | None = Field(None, description="invalid fields (422)")


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def _error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        401: "missing or invalid API key",
        408: "the request body arrived too slowly",
        413: "the request body is larger than max_body_bytes",
        422: "invalid JSON or fields, or a limit exceeded (max_texts, max_chars)",
        503: "model not loaded yet, or the queue is full",
        504: "the prediction took longer than the request timeout",
    }
    return {c: {"model": ErrorResponse, "description": descriptions[c]} for c in codes}


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


# ---------------------------------------------------------------- metrics


class ServeMetrics:
    """Prometheus metrics in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "textclass_http_requests", "HTTP requests", ["method", "path", "status"], registry=r
        )
        self.latency = Histogram(
            "textclass_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "path"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.batch_size = Histogram(
            "textclass_batch_size",
            "texts per forward pass",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.inference = Histogram(
            "textclass_inference_seconds",
            "time of one forward pass (tokenization included)",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.texts = Counter("textclass_predicted_texts", "texts predicted", registry=r)
        self.cache_hits = Counter("textclass_cache_hits", "texts answered from cache", registry=r)
        self.cache_misses = Counter(
            "textclass_cache_misses", "texts not in the cache (cache on)", registry=r
        )
        self.queued = Gauge("textclass_queued_texts", "texts waiting for a pass", registry=r)
        self.ready = Gauge("textclass_model_ready", "1 once the model is loaded", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts requests and their latency by route template (not raw path: bounded labels)."""

    def __init__(self, app: Any, metrics: ServeMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(method, path).observe(time.perf_counter() - start)


class BodyLimitMiddleware:
    """413 (as JSON) for a body over `max_bytes`: at once from Content-Length, or as soon as a
    chunked body grows past it."""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def _error(self) -> ApiError:
        return ApiError(
            413,
            "limit_exceeded",
            f"the request body is larger than max_body_bytes={self.max_bytes}.",
            limit="max_body_bytes",
            max=self.max_bytes,
        )

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._error().response()(scope, receive, send)
                return
        seen = 0

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._error()
            return message

        await self.app(scope, limited_receive, send)


class TimeoutMiddleware:
    """Bounds a whole request: 408 if its body has not fully arrived in time, else 504."""

    def __init__(self, app: Any, timeout: float):
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        body_done = scope.get("method") in ("GET", "HEAD")

        async def receive_tracked() -> dict:
            nonlocal body_done
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_done = True
            return message

        async def send_tracked(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, receive_tracked, send_tracked), self.timeout)
        except asyncio.TimeoutError:
            if started:
                raise
            if body_done:
                error = ApiError(
                    504,
                    "timeout",
                    f"the request took longer than request_timeout={self.timeout:g} s; "
                    "the server is overloaded or the request too large.",
                )
            else:
                error = ApiError(
                    408,
                    "timeout",
                    f"the request body did not arrive within request_timeout={self.timeout:g} s.",
                )
            await error.response()(scope, receive, send)


# ---------------------------------------------------------------- cache and batching


class LRUCache:
    """Probabilities of recently seen (cleaned text, cleaned pair) keys; size 0 = off."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict[tuple[str, str | None], np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: tuple[str, str | None]) -> np.ndarray | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: tuple[str, str | None], value: np.ndarray) -> None:
        if self.size <= 0:
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)


class Overloaded(Exception):
    pass


@dataclass
class _Job:
    texts: list[str]
    pairs: list[str] | None
    future: asyncio.Future


PredictFn = Callable[[list[str], "list[str] | None"], np.ndarray]


class DynamicBatcher:
    """Gathers the texts of concurrent requests into shared forward passes.

    A pass starts when `max_batch_size` texts are waiting or `max_wait_ms` after its first
    request arrived, whichever is first; requests that arrive while a pass runs form the next
    one. Passes run one at a time in a worker thread (the model uses all cores itself), so the
    event loop stays free. With `enabled=False` every request is its own pass.
    """

    def __init__(
        self,
        predict: PredictFn,
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 2.0,
        enabled: bool = True,
        max_queue: int = 4096,
        metrics: ServeMetrics | None = None,
    ):
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.enabled = enabled
        self.max_queue = max_queue
        self.metrics = metrics
        self.queued_texts = 0
        self._jobs: deque[_Job] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="textclass-inference")
        self._task = asyncio.create_task(self._loop(), name="textclass-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._jobs:
            job = self._jobs.popleft()
            if not job.future.done():
                job.future.set_exception(Overloaded("the server is shutting down"))
        self.queued_texts = 0
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        """Probabilities for `texts` (already cleaned), once their pass has run."""
        if not self.running or self._wake is None:
            raise Overloaded("the model is not running")
        if self.queued_texts + len(texts) > self.max_queue and self.queued_texts > 0:
            raise Overloaded(f"{self.queued_texts} texts are already waiting (max_queue)")
        future = asyncio.get_running_loop().create_future()
        self._jobs.append(_Job(texts, pairs, future))
        self._set_queued(self.queued_texts + len(texts))
        self._wake.set()
        return await future

    def _set_queued(self, n: int) -> None:
        self.queued_texts = n
        if self.metrics is not None:
            self.metrics.queued.set(n)

    def _waiting_texts(self) -> int:
        return sum(len(job.texts) for job in self._jobs if not job.future.done())

    async def _loop(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._jobs:
                self._wake.clear()
                await self._wake.wait()
            if self.enabled and self.max_wait > 0:
                deadline = loop.time() + self.max_wait
                while self._waiting_texts() < self.max_batch_size:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    self._wake.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), remaining)
            batch = self._take()
            if batch:
                await self._run(batch, loop)

    def _take(self) -> list[_Job]:
        """Jobs for one pass: the first waiting one, then more while they fit."""
        batch: list[_Job] = []
        n = 0
        while self._jobs:
            job = self._jobs[0]
            if job.future.done():  # timed out or cancelled while waiting
                self._jobs.popleft()
                self._set_queued(self.queued_texts - len(job.texts))
                continue
            if batch and (not self.enabled or n + len(job.texts) > self.max_batch_size):
                break
            self._jobs.popleft()
            self._set_queued(self.queued_texts - len(job.texts))
            batch.append(job)
            n += len(job.texts)
        return batch

    async def _run(self, batch: list[_Job], loop: asyncio.AbstractEventLoop) -> None:
        texts = [t for job in batch for t in job.texts]
        has_pairs = batch[0].pairs is not None
        pairs = [p for job in batch for p in (job.pairs or [])] if has_pairs else None
        start = time.perf_counter()
        try:
            probs = await loop.run_in_executor(self._executor, self.predict, texts, pairs)
        except asyncio.CancelledError:  # shutting down: nobody waits forever
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(Overloaded("the server is shutting down"))
            raise
        except Exception as exc:  # reported to the requests of this pass only
            log.exception("prediction failed for a batch of %d texts", len(texts))
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        if self.metrics is not None:
            self.metrics.inference.observe(time.perf_counter() - start)
            self.metrics.batch_size.observe(len(texts))
            self.metrics.texts.inc(len(texts))
        offset = 0
        for job in batch:
            part = probs[offset : offset + len(job.texts)]
            offset += len(job.texts)
            if not job.future.done():
                job.future.set_result(part)


# ---------------------------------------------------------------- the model service


def _sha256(path: Path) -> str:
    from textclass.data.prepare import sha256_file

    return sha256_file(path)


def model_info(clf: Classifier, model_dir: Path | None) -> dict[str, Any]:
    """What `GET /v1/model` reports: identity, labels, task, training metrics, config hash."""
    import textclass

    meta = clf.meta
    name = version = config_sha256 = None
    if model_dir is not None:
        config_file = model_dir / "config.yaml"
        if config_file.is_file():
            import yaml

            config_sha256 = _sha256(config_file)
            with contextlib.suppress(yaml.YAMLError, AttributeError):
                name = (yaml.safe_load(config_file.read_text()) or {}).get("name")
        name = name or (model_dir.parent.name if model_dir.name == "model" else model_dir.name)
        for weights in ("model.safetensors", "model.onnx"):
            if (model_dir / weights).is_file():
                version = _sha256(model_dir / weights)[:12]
                break
    from textclass.inference.onnx import OnnxSequenceClassifier

    backend = "onnx" if isinstance(clf.model, OnnxSequenceClassifier) else "torch"
    quantize = (meta.get("export") or {}).get("quantize")
    return {
        "name": meta.get("name") or name or "model",
        "version": str(meta.get("version") or version or "unknown"),
        "task": meta.get("task", "single_label"),
        "labels": list(clf.labels),
        "text_pair": bool(clf.columns.get("text_pair")),
        "max_length": clf.max_length,
        "backend": backend,
        "precision": quantize or clf.precision,
        "quantize": quantize,
        "metrics": meta.get("metrics", {}),
        "config_sha256": config_sha256,
        "base_model": meta.get("base_model"),
        "textclass_version": textclass.__version__,
    }


class ModelService:
    """The loaded model with its cache and batcher; what the endpoints depend on."""

    def __init__(
        self,
        clf: Classifier,
        settings: ServeSettings,
        metrics: ServeMetrics | None = None,
        model_dir: Path | None = None,
    ):
        self.clf = clf
        self.settings = settings
        self.metrics = metrics or ServeMetrics()
        self.info = model_info(clf, model_dir)
        self.task = self.info["task"]
        self.thresholds: dict[str, float] = dict(clf.meta.get("thresholds") or {})
        self.pair = self.info["text_pair"]
        self.cache = LRUCache(settings.cache_size)
        self.batcher = DynamicBatcher(
            self._predict,
            max_batch_size=settings.max_batch_size,
            max_wait_ms=settings.max_wait_ms,
            enabled=settings.batching,
            max_queue=settings.max_queue,
            metrics=self.metrics,
        )

    def _predict(self, texts: list[str], pairs: list[str] | None) -> np.ndarray:
        # predict_logits sorts the texts by length and runs them in chunks of this size, so
        # short texts are not padded to the longest of the pass (measured: bf16 MiniLM, 1
        # thread, passes of 16 reviews: 270 texts/s in one chunk, 318 in chunks of 8).
        return self.clf.predict_proba(
            texts, pairs, batch_size=self.settings.forward_batch_size, clean=False
        )

    @property
    def ready(self) -> bool:
        return self.batcher.running

    async def start(self) -> None:
        await self.batcher.start()
        await self.batcher.submit(["warm-up"], ["warm-up"] if self.pair else None)
        self.metrics.ready.set(1)

    async def stop(self) -> None:
        self.metrics.ready.set(0)
        await self.batcher.stop()

    async def probabilities(self, texts: list[str], pairs: list[str] | None) -> np.ndarray:
        """Cleans, looks up the cache, batches the rest; one row of probabilities per text."""
        cleaning = self.clf.cleaning
        if sum(map(len, texts)) > 50_000:  # long cleaning off the event loop
            cleaned = await asyncio.to_thread(clean_texts, texts, cleaning)
            cleaned_pairs = await asyncio.to_thread(clean_texts, pairs, cleaning) if pairs else None
        else:
            cleaned = clean_texts(texts, cleaning)
            cleaned_pairs = clean_texts(pairs, cleaning) if pairs is not None else None
        keys = list(zip(cleaned, cleaned_pairs or [None] * len(cleaned), strict=True))
        found: dict[tuple[str, str | None], np.ndarray] = {}
        if self.cache.size:
            for key in keys:
                row = self.cache.get(key)
                if row is not None:
                    found[key] = row
            hits = sum(1 for key in keys if key in found)
            self.metrics.cache_hits.inc(hits)
            self.metrics.cache_misses.inc(len(keys) - hits)
        todo = [key for key in dict.fromkeys(keys) if key not in found]  # unique, in order
        if todo:
            rows = await self.batcher.submit(
                [k[0] for k in todo], [k[1] or "" for k in todo] if pairs is not None else None
            )
            for key, row in zip(todo, rows, strict=True):
                found[key] = row
                self.cache.put(key, row)
        return np.stack([found[key] for key in keys])

    def predictions(self, probs: np.ndarray, top_k: int | None) -> list[dict[str, Any]]:
        labels = self.clf.labels
        out = []
        for row in probs.tolist():
            scores = dict(zip(labels, row, strict=True))
            item: dict[str, Any]
            if self.task == "multi_label":
                thresholds = {lab: float(self.thresholds.get(lab, 0.5)) for lab in labels}
                chosen = [lab for lab in labels if scores[lab] >= thresholds[lab]]
                chosen.sort(key=scores.__getitem__, reverse=True)
                item = {"label": chosen[0] if chosen else None, "labels": chosen}
                item["probabilities"] = scores
                item["thresholds"] = thresholds
            else:
                best = labels[max(range(len(labels)), key=row.__getitem__)]
                item = {"label": best, "labels": [best], "probabilities": scores}
            if top_k is not None:
                ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:top_k]
                item["top_k"] = [{"label": lab, "probability": p} for lab, p in ranked]
            out.append(item)
        return out


# ---------------------------------------------------------------- request / response schemas


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
            None, ge=1, description="also list the k most probable labels"
        )

    if not pair:
        return PredictRequest

    class PairPredictRequest(PredictRequest):
        model_config = ConfigDict(
            json_schema_extra={"examples": [{"texts": ["a question"], "text_pairs": ["a text"]}]}
        )

        text_pairs: Texts = Field(description="the second text of each pair, one per text")

    return PairPredictRequest


class LabelProbability(BaseModel):
    label: str
    probability: float


class Prediction(BaseModel):
    label: str | None = Field(description="the predicted label (multi-label: the most probable)")
    labels: list[str] = Field(description="all predicted labels ([label] for single-label)")
    probabilities: dict[str, float] = Field(description="probability of each class")
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
    text_pair: bool
    max_length: int
    backend: str
    precision: str
    quantize: str | None
    metrics: dict[str, Any]
    config_sha256: str | None
    base_model: str | None
    textclass_version: str
    limits: dict[str, Any]
    batching: dict[str, Any]


class Status(BaseModel):
    status: str


# ---------------------------------------------------------------- the app


async def get_service(request: Request) -> ModelService:
    """The dependency every model endpoint uses (tests override it)."""
    service = getattr(request.app.state, "service", None)
    if service is None or not service.ready:
        raise ApiError(503, "not_ready", "the model is not loaded yet; retry shortly.")
    return service


ServiceDep = Annotated[ModelService, Depends(get_service)]


def load_classifier(settings: ServeSettings) -> Classifier:
    if settings.model_dir is None:
        raise TextclassError("no model directory given.")
    return Classifier.load(
        settings.model_dir, precision=settings.precision, backend=settings.backend
    )


def create_app(settings: ServeSettings, classifier: Classifier | None = None) -> FastAPI:
    """The FastAPI app. The model is loaded in the lifespan (from `settings.model_dir`, unless a
    ready `classifier` is given) and reached through the `get_service` dependency."""
    metrics = ServeMetrics()
    keys = KeyChecker(settings.api_keys)
    pair = _is_pair_model(classifier, settings.model_dir)
    PredictRequest = request_model(settings.max_texts, settings.max_chars, pair)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        clf = classifier
        if clf is None:
            clf = await asyncio.to_thread(load_classifier, settings)
        service = ModelService(clf, settings, metrics, settings.model_dir)
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

    app = FastAPI(
        title="textclass",
        summary="Text classification over HTTP",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.service = None
    app.state.settings = settings
    app.state.metrics = metrics

    bearer = HTTPBearer(auto_error=False, description="an API key: Authorization: Bearer KEY")

    async def require_key(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if not keys.valid(credentials.credentials if credentials else None):
            raise ApiError(
                401,
                "unauthorized",
                "missing or invalid API key; send `Authorization: Bearer <key>`.",
                headers={"WWW-Authenticate": "Bearer"},
            )

    protected = [Depends(require_key)] if keys else []
    auth_errors = (401,) if keys else ()

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            entry = {
                "field": _field_name(err.get("loc", ())),
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

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI: a body that is not even text (bad UTF-8)
            fields = [{"field": "body", "message": "not UTF-8 JSON", "type": "json_invalid"}]
            message = "body: invalid JSON: the body could not be decoded (send UTF-8 JSON)"
            return ApiError(422, "validation_error", message, fields=fields).response()
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return ApiError(exc.status_code, kind, str(exc.detail), headers=exc.headers).response()

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return ApiError(500, "internal_error", "internal server error").response()

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(TimeoutMiddleware, timeout=settings.request_timeout)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.post(
        f"{API_PREFIX}/predict",
        response_model=PredictResponse,
        dependencies=protected,
        responses=_error_responses(*auth_errors, 408, 413, 422, 503, 504),
        summary="Labels and class probabilities for a list of texts",
    )
    async def predict(body: PredictRequest, service: ServiceDep) -> JSONResponse:
        _check_request(body, settings)
        try:
            probs = await service.probabilities(body.texts, getattr(body, "text_pairs", None))
        except Overloaded as exc:
            raise ApiError(
                503, "overloaded", f"{exc}; retry shortly.", headers={"Retry-After": "1"}
            ) from None
        top_k = min(body.top_k, len(service.clf.labels)) if body.top_k else None
        return JSONResponse(
            {
                "model": service.info["name"],
                "version": service.info["version"],
                "task": service.task,
                "predictions": service.predictions(probs, top_k),
            }
        )

    @app.get(
        f"{API_PREFIX}/model",
        response_model=ModelInfo,
        dependencies=protected,
        responses=_error_responses(*auth_errors, 503),
        summary="The served model: name, version, labels, task, training metrics, config hash",
    )
    async def model(service: ServiceDep) -> dict[str, Any]:
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

    @app.get("/health", response_model=Status, summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        response_model=Status,
        responses=_error_responses(503),
        summary="Readiness: the model is loaded and accepting requests",
    )
    async def ready(request: Request) -> dict[str, str]:
        service = getattr(request.app.state, "service", None)
        if service is None or not service.ready:
            raise ApiError(503, "not_ready", "the model is not loaded yet.")
        return {"status": "ready"}

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        dependencies=protected,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            **{  # JSON errors, spelled out: a `model` would take this route's text/plain
                code: {
                    "description": spec["description"],
                    "content": {"application/json": {"schema": ERROR_SCHEMA_REF}},
                }
                for code, spec in _error_responses(*auth_errors).items()
            },
        },
        summary="Prometheus metrics: requests, latency, batch sizes, cache hits",
    )
    async def prometheus_metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app


def _check_request(body: Any, settings: ServeSettings) -> None:
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
        raise _field_error("text_pairs", f"{len(pairs)} text_pairs for {n} texts; they must match")


def _is_pair_model(classifier: Classifier | None, model_dir: Path | None) -> bool:
    if classifier is not None:
        return bool(classifier.columns.get("text_pair"))
    from textclass.inference.classifier import MODEL_META

    meta_file = Path(model_dir) / MODEL_META if model_dir is not None else None
    if meta_file is None or not meta_file.is_file():
        return False
    import json

    return bool((json.loads(meta_file.read_text()).get("columns") or {}).get("text_pair"))


def _field_error(name: str, message: str) -> ApiError:
    fields = [{"field": name, "message": message, "type": "value_error"}]
    return ApiError(422, "validation_error", f"{name}: {message}", fields=fields)


def _version() -> str:
    import textclass

    return textclass.__version__


def serve(settings: ServeSettings) -> None:
    """Run the app under uvicorn until Ctrl-C (loading the model first)."""
    import uvicorn

    model_dir = settings.model_dir
    if model_dir is None or not (Path(model_dir) / "config.json").is_file():
        load_classifier(settings)  # raises the standard "not a model directory" error
    if settings.backend == "onnx" and not (Path(model_dir) / "model.onnx").is_file():
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
    # Inference threads: one core is left to the event loop (HTTP, JSON, tokenization) and the
    # clients on the same machine; threads that spin on a busy core slow every pass many-fold.
    import torch

    threads = settings.threads or max(1, (os.cpu_count() or 2) - 1)
    torch.set_num_threads(threads)  # ONNX Runtime sessions follow it (export.py)
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
