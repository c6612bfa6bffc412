"""The HTTP service, one module per job:

- `app.py`: `create_app` (lifespan, error handlers, middleware) and the `serve` entry point;
- `routes.py`: the endpoints, with the `get_service` dependency;
- `service.py`: the loaded model (`ModelService`: cleaning, cache, batcher, response items);
- `batcher.py`: dynamic batching (`DynamicBatcher`) and the `LRUCache`;
- `middleware.py`: Prometheus metrics, the body limit, the request timeout;
- `schemas.py`: request, response and error models;
- `settings.py`: `ServeSettings`, API keys.
"""

try:
    import fastapi  # noqa: F401
    import prometheus_client  # noqa: F401
    import pydantic  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    from textclass.errors import TextclassError

    raise TextclassError(
        f'serving needs the serve extra ({exc.name} is missing): pip install "textclass[serve]".'
    ) from None
