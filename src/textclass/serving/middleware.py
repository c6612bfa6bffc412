"""ASGI middleware around the app: Prometheus metrics (`ServeMetrics`), the request body limit
(413) and the whole-request timeout (408/504)."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from textclass.serving.schemas import ApiError


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
        except TimeoutError:
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
