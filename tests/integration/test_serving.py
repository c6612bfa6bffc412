"""The HTTP service end to end: every endpoint, every error, auth on and off, batching, cache,
timeouts, group summaries, and a schemathesis fuzz run against a live server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import run_cli
from tests.serving_helpers import (
    LABELS,
    load,
    make_model_dir,
    make_regression_model_dir,
    running_server,
)
from textclass.errors import TextclassError
from textclass.serving.app import create_app
from textclass.serving.batcher import DynamicBatcher, LRUCache
from textclass.serving.routes import get_service
from textclass.serving.service import ModelService
from textclass.serving.settings import KeyChecker, ServeSettings, load_api_keys
from textclass.workflows.summaries import group_summary

KEY = "test-key-0123456789abcdef"
OTHER_KEY = "second-key-abcdefghijklmnop"
TEXTS = ["a gripping, beautifully shot film", "  dull <b>and</b>   far too long  ", "meh"]


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    return make_model_dir(tiny_model_dir, tmp_path_factory.mktemp("serve") / "model")


@pytest.fixture(scope="module")
def clf(model_dir):
    return load(model_dir)


@pytest.fixture(scope="module")
def pair_clf(tiny_model_dir, tmp_path_factory):
    return load(
        make_model_dir(tiny_model_dir, tmp_path_factory.mktemp("pair") / "model", pair=True)
    )


@pytest.fixture
def client_for(clf, model_dir):
    """An app around the tiny model, its lifespan run (model loaded) by TestClient."""
    opened: list[TestClient] = []

    def make(classifier=None, **settings) -> TestClient:
        settings.setdefault("model_dir", model_dir)
        app = create_app(ServeSettings(**settings), classifier=classifier or clf)
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def metric(client: TestClient, name: str, **labels: str) -> float:
    return client.app.state.metrics.registry.get_sample_value(name, labels) or 0.0


def slow_predictions(monkeypatch, seconds: float) -> None:
    """Make every forward pass except the start-up warm-up take `seconds` longer."""
    original = ModelService._predict

    def slow(self, texts, pairs):
        if texts != ["warm-up"]:
            time.sleep(seconds)
        return original(self, texts, pairs)

    monkeypatch.setattr(ModelService, "_predict", slow)


# ---------------------------------------------------------------- the endpoints


def test_predict_returns_labels_and_probabilities(client_for, clf):
    client = client_for()
    response = client.post("/v1/predict", json={"texts": TEXTS})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "tiny_reviews" and body["task"] == "single_label"
    expected = clf.predict_proba(TEXTS)  # cleans the texts, as the service must
    assert len(body["predictions"]) == len(TEXTS)
    for row, probs in zip(body["predictions"], expected, strict=True):
        got = [row["probabilities"][label] for label in LABELS]
        np.testing.assert_allclose(got, probs, atol=1e-5)
        assert row["label"] == LABELS[int(np.argmax(probs))]
        assert row["labels"] == [row["label"]]
        assert "top_k" not in row and "thresholds" not in row

    body = client.post("/v1/predict", json={"texts": ["fine"], "top_k": 5}).json()
    top = body["predictions"][0]["top_k"]
    assert [t["label"] for t in top] == sorted(
        LABELS, key=lambda lab: -dict(body["predictions"][0]["probabilities"])[lab]
    )
    assert len(top) == 2  # clamped to the number of labels


def test_model_info(client_for, model_dir):
    info = client_for().get("/v1/model").json()
    weights = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    config = hashlib.sha256((model_dir / "config.yaml").read_bytes()).hexdigest()
    assert info["name"] == "tiny_reviews"
    assert info["version"] == weights[:12]
    assert info["config_sha256"] == config
    assert info["labels"] == LABELS and info["task"] == "single_label"
    assert info["metrics"] == {"test": {"accuracy": 0.75, "f1_macro": 0.7}}
    assert info["backend"] == "torch" and info["text_pair"] is False
    assert info["truncation"] == "head"  # a model directory from before model.truncation
    assert info["limits"]["max_texts"] == 256 and info["batching"]["enabled"] is True


def test_health_and_ready(client_for, clf):
    client = client_for()
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}

    # Before the lifespan has loaded the model: alive, not ready, predictions refused.
    idle = TestClient(create_app(ServeSettings(), classifier=clf))
    assert idle.get("/health").status_code == 200
    response = idle.get("/ready")
    assert response.status_code == 503 and response.json()["error"]["type"] == "not_ready"
    response = idle.post("/v1/predict", json={"texts": ["x"]})
    assert response.status_code == 503


def test_metrics_in_prometheus_format(client_for):
    client = client_for(cache_size=4)
    client.post("/v1/predict", json={"texts": ["good", "bad"]})
    client.post("/v1/predict", json={"texts": ["good"]})
    client.post("/v1/predict", json={"texts": []})
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    ok = (("method", "POST"), ("path", "/v1/predict"), ("status", "200"))
    bad = (("method", "POST"), ("path", "/v1/predict"), ("status", "422"))
    assert samples[("textclass_http_requests_total", ok)] == 2
    assert samples[("textclass_http_requests_total", bad)] == 1
    assert samples[("textclass_cache_hits_total", ())] == 1
    assert samples[("textclass_cache_misses_total", ())] == 2
    assert samples[("textclass_batch_size_count", ())] == 2  # warm-up + the first request
    assert samples[("textclass_batch_size_sum", ())] == 3
    latency = (("method", "POST"), ("path", "/v1/predict"))
    assert samples[("textclass_http_request_duration_seconds_count", latency)] == 3


def test_pair_model(client_for, pair_clf):
    client = client_for(classifier=pair_clf)
    texts, pairs = ["is it good?", "what year?"], ["it is great", "in 1999"]
    body = client.post("/v1/predict", json={"texts": texts, "text_pairs": pairs}).json()
    got = [[p["probabilities"][lab] for lab in LABELS] for p in body["predictions"]]
    np.testing.assert_allclose(got, pair_clf.predict_proba(texts, pairs), atol=1e-5)
    assert client.get("/v1/model").json()["text_pair"] is True

    missing = client.post("/v1/predict", json={"texts": texts})
    assert missing.status_code == 422
    assert missing.json()["error"]["fields"][0]["field"] == "text_pairs"
    uneven = client.post("/v1/predict", json={"texts": texts, "text_pairs": ["one"]})
    assert uneven.status_code == 422 and "must match" in uneven.json()["error"]["message"]


def test_dependency_can_be_swapped(clf):
    class Stub(ModelService):
        async def probabilities(self, texts, pairs):
            return np.tile([0.25, 0.75], (len(texts), 1))

    app = create_app(ServeSettings(), classifier=clf)  # lifespan not run: nothing loaded
    stub = Stub(clf, ServeSettings())
    app.dependency_overrides[get_service] = lambda: stub
    body = TestClient(app).post("/v1/predict", json={"texts": ["a", "b"]}).json()
    assert [p["label"] for p in body["predictions"]] == ["rotten", "rotten"]
    assert body["predictions"][0]["probabilities"] == {"fresh": 0.25, "rotten": 0.75}


def test_multi_label_predictions_use_thresholds(clf):
    from textclass.inference.classifier import Classifier

    multi = Classifier(
        clf.model,
        clf.tokenizer,
        ["action", "comedy", "drama"],
        meta={"task": "multi_label", "thresholds": {"action": 0.3, "drama": 0.8}},
    )
    service = ModelService(multi, ServeSettings())
    rows = service.predictions(np.array([[0.4, 0.6, 0.7], [0.1, 0.2, 0.9]]), top_k=1)
    assert rows[0]["labels"] == ["comedy", "action"]  # drama under its 0.8 threshold
    assert rows[0]["label"] == "comedy"
    assert rows[0]["thresholds"] == {"action": 0.3, "comedy": 0.5, "drama": 0.8}
    assert rows[1]["labels"] == ["drama"] and rows[1]["top_k"][0]["label"] == "drama"


def test_regression_predictions_are_values(clf, model_dir, tmp_path):
    """A regression model answers `{"value": v}` per text, through the whole app; its values
    come from `Classifier.predict_values` (stubbed here: the service's side of the contract)."""
    from textclass.inference.classifier import Classifier

    reg = Classifier(clf.model, clf.tokenizer, ["score"], meta={"task": "regression"})
    seen = {}

    def predict_values(texts, pairs=None, *, batch_size=64, clean=True):
        seen.update(batch_size=batch_size, clean=clean)
        return np.array([len(t) / 10 for t in texts], dtype=np.float32)

    reg.predict_values = predict_values
    app = create_app(ServeSettings(model_dir=model_dir, forward_batch_size=4), classifier=reg)
    with TestClient(app) as client:
        assert client.get("/v1/model").json()["task"] == "regression"
        body = client.post("/v1/predict", json={"texts": ["abc", "abcdefgh"], "top_k": 2}).json()
    assert body["task"] == "regression"
    assert body["predictions"] == [{"value": pytest.approx(0.3)}, {"value": pytest.approx(0.8)}]
    assert seen == {"batch_size": 4, "clean": False}  # cleaned once, by the service
    schema = app.openapi()["components"]["schemas"]["Prediction"]
    assert "value" in schema["properties"] and "required" not in schema


def test_regression_needs_predict_values():
    from types import SimpleNamespace

    old = SimpleNamespace(
        task="regression", meta={}, labels=["score"], columns={}, max_length=8, model=None
    )
    old.precision = "fp32"
    with pytest.raises(TextclassError, match="predict_values"):
        ModelService(old, ServeSettings())


def test_regression_model_serves_values(tiny_model_dir, tmp_path):
    reg_dir = make_regression_model_dir(tiny_model_dir, tmp_path / "model")
    reg = load(reg_dir)
    with TestClient(create_app(ServeSettings(model_dir=reg_dir), classifier=reg)) as client:
        info = client.get("/v1/model").json()
        body = client.post("/v1/predict", json={"texts": TEXTS, "top_k": 1}).json()
    assert info["task"] == "regression" and info["labels"] == ["score"]
    assert info["name"] == "tiny_scores"
    assert body["task"] == "regression"
    assert all(set(p) == {"value"} for p in body["predictions"])
    got = [p["value"] for p in body["predictions"]]
    np.testing.assert_allclose(got, reg.predict_values(TEXTS), atol=1e-5)


# ---------------------------------------------------------------- bad input: never a 500


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"texts": []}, "texts"),
        ({"texts": "one string"}, "texts"),
        ({"texts": [1, 2]}, "texts.0"),
        ({"texts": ["ok", None]}, "texts.1"),
        ({}, "texts"),
        ({"texts": ["a"], "top_k": 0}, "top_k"),
        ({"texts": ["a"], "top_k": "2"}, "top_k"),
        ({"texts": ["a"], "top_k": 1.5}, "top_k"),
        ({"texts": ["a"], "typo": 1}, "typo"),
        ({"texts": ["a"], "text_pairs": ["b"]}, "text_pairs"),
        (["a", "b"], "body"),
        (None, "body"),
        (b'{"texts": ["a",', "body"),
        (b"\xff\xfe\x00garbage", "body"),
        (b"", "body"),
        (b"\x80\x81 not utf-8", "body"),
    ],
)
def test_bad_input_is_422_naming_the_field(client_for, payload, field):
    client = client_for()
    if isinstance(payload, bytes):
        headers = {"content-type": "application/json"}
        response = client.post("/v1/predict", content=payload, headers=headers)
    else:
        response = client.post("/v1/predict", json=payload)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert field in [f["field"] for f in error["fields"]]
    assert error["message"].startswith(field)


def test_wrong_content_type_and_unknown_routes(client_for):
    client = client_for()
    response = client.post(
        "/v1/predict", content='{"texts": ["a"]}', headers={"content-type": "text/plain"}
    )
    assert response.status_code == 422
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"
    response = client.get("/v1/predict")
    assert response.status_code == 405 and response.json()["error"]["type"] == (
        "method_not_allowed"
    )


def test_limits_name_the_limit(client_for):
    client = client_for(max_texts=3, max_chars=20)
    assert client.post("/v1/predict", json={"texts": ["x" * 20] * 3}).status_code == 200

    response = client.post("/v1/predict", json={"texts": ["a"] * 4})
    error = response.json()["error"]
    assert response.status_code == 422 and error["limit"] == "max_texts" and error["max"] == 3
    assert "max_texts=3" in error["message"]

    response = client.post("/v1/predict", json={"texts": ["short", "y" * 21]})
    error = response.json()["error"]
    assert response.status_code == 422 and error["limit"] == "max_chars"
    assert error["fields"][0]["field"] == "texts.1"

    big = json.dumps({"texts": ["z" * 200_000]})
    response = client.post("/v1/predict", content=big, headers={"content-type": "application/json"})
    error = response.json()["error"]
    assert response.status_code == 413 and error["limit"] == "max_body_bytes"

    schema = client.get("/openapi.json").json()["components"]["schemas"]["PredictRequest"]
    texts = schema["properties"]["texts"]
    assert texts["maxItems"] == 3 and texts["minItems"] == 1
    assert texts["items"]["maxLength"] == 20


# ---------------------------------------------------------------- access


def test_api_keys(client_for, caplog):
    caplog.set_level(logging.DEBUG)
    client = client_for(api_keys=(KEY, OTHER_KEY))
    for path, method in (("/v1/predict", "post"), ("/v1/model", "get"), ("/metrics", "get")):
        kwargs = {"json": {"texts": ["x"]}} if method == "post" else {}
        call = getattr(client, method)
        for headers in (
            {},
            {"Authorization": "Bearer wrong-key"},
            {"Authorization": f"Basic {KEY}"},
            {"Authorization": f"Bearer {KEY}x"},
            {"Authorization": "Bearer "},
        ):
            response = call(path, headers=headers, **kwargs)
            assert response.status_code == 401, (path, headers)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]["type"] == "unauthorized"
        for key in (KEY, OTHER_KEY):
            response = call(path, headers={"Authorization": f"Bearer {key}"}, **kwargs)
            assert response.status_code == 200, path
    assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert KEY not in caplog.text and OTHER_KEY not in caplog.text


def test_auth_off_by_default(client_for):
    client = client_for()
    assert client.get("/v1/model").status_code == 200
    assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})
    assert ServeSettings().host == "127.0.0.1"


def test_load_api_keys(tmp_path, monkeypatch):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# one key a line\n\n{KEY}\n  {OTHER_KEY}  \n")
    monkeypatch.setenv("TEXTCLASS_API_KEYS", f"env-key-aaaaaaaaaaaaaa, {KEY}")
    assert load_api_keys(keys) == (KEY, OTHER_KEY, "env-key-aaaaaaaaaaaaaa")
    monkeypatch.delenv("TEXTCLASS_API_KEYS")
    assert load_api_keys(None) == ()
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(TextclassError, match="holds no keys"):
        load_api_keys(tmp_path / "empty.txt")
    with pytest.raises(TextclassError, match="no such file"):
        load_api_keys(tmp_path / "missing.txt")
    checker = KeyChecker([KEY])
    assert checker.valid(KEY) and not checker.valid(KEY[:-1]) and not checker.valid(None)
    assert not KeyChecker([])


# ---------------------------------------------------------------- batching, cache, timeouts


def test_batcher_gathers_and_splits_results():
    passes: list[int] = []

    def predict(texts, pairs):
        passes.append(len(texts))
        return np.array([[float(len(t)), 0.0] for t in texts])

    async def main(enabled: bool) -> list[np.ndarray]:
        batcher = DynamicBatcher(predict, max_batch_size=4, max_wait_ms=20, enabled=enabled)
        await batcher.start()
        try:
            jobs = [batcher.submit(["x" * (i + 1)]) for i in range(10)]
            jobs.append(batcher.submit(["y" * 20] * 6))  # more than a batch: its own pass
            return await asyncio.gather(*jobs)
        finally:
            await batcher.stop()

    results = asyncio.run(main(enabled=True))
    assert [r[0, 0] for r in results[:10]] == [float(i + 1) for i in range(10)]
    assert results[10].shape == (6, 2) and (results[10][:, 0] == 20).all()
    assert passes == [4, 4, 2, 6]
    passes.clear()
    asyncio.run(main(enabled=False))
    assert passes == [1] * 10 + [6]


def test_concurrent_requests_share_forward_passes(clf, model_dir):
    """32 concurrent requests over HTTP: fewer passes than requests, same answers as one by one."""
    texts = [f"review number {i}: {'good ' * (i % 5)}film" for i in range(32)]
    expected = clf.predict_proba(texts)

    async def main(batching: bool) -> tuple[list[list[float]], float]:
        settings = ServeSettings(model_dir=model_dir, batching=batching, max_wait_ms=20)
        app = create_app(settings, classifier=clf)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                responses = await asyncio.gather(
                    *(http.post("/v1/predict", json={"texts": [t]}) for t in texts)
                )
            passes = app.state.metrics.registry.get_sample_value("textclass_batch_size_count")
        assert all(r.status_code == 200 for r in responses)
        probs = [
            [r.json()["predictions"][0]["probabilities"][lab] for lab in LABELS] for r in responses
        ]
        return probs, passes - 1  # minus the warm-up pass

    probs, passes = asyncio.run(main(batching=True))
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert passes <= 4
    probs, passes = asyncio.run(main(batching=False))
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert passes == 32


def test_event_loop_is_not_blocked_by_inference(clf, model_dir, monkeypatch):
    slow_predictions(monkeypatch, 0.8)

    async def main() -> tuple[float, int]:
        app = create_app(ServeSettings(model_dir=model_dir), classifier=clf)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                pending = asyncio.create_task(http.post("/v1/predict", json={"texts": ["x"]}))
                await asyncio.sleep(0.1)
                start = time.perf_counter()
                health = await http.get("/health")
                elapsed = time.perf_counter() - start
                assert not pending.done()  # the prediction is still running
                assert health.status_code == 200
                return elapsed, (await pending).status_code

    elapsed, status = asyncio.run(main())
    assert elapsed < 0.3 and status == 200


def test_request_timeout_is_504(client_for, monkeypatch):
    slow_predictions(monkeypatch, 0.6)
    client = client_for(request_timeout=0.2)
    start = time.perf_counter()
    response = client.post("/v1/predict", json={"texts": ["slow"]})
    assert response.status_code == 504 and response.json()["error"]["type"] == "timeout"
    assert time.perf_counter() - start < 0.5
    assert client.get("/health").status_code == 200


def test_cache_by_cleaned_text(client_for, monkeypatch):
    calls: list[list[str]] = []
    original = ModelService._predict

    def counting(self, texts, pairs):
        calls.append(list(texts))
        return original(self, texts, pairs)

    monkeypatch.setattr(ModelService, "_predict", counting)
    client = client_for(cache_size=2)
    first = client.post("/v1/predict", json={"texts": ["great film"]}).json()
    second = client.post("/v1/predict", json={"texts": ["  great   <i>film</i> "]}).json()
    assert first["predictions"] == second["predictions"]
    assert calls == [["warm-up"], ["great film"]]  # the second was answered from the cache
    assert metric(client, "textclass_cache_hits_total") == 1
    # Duplicates inside one request are predicted once.
    client.post("/v1/predict", json={"texts": ["again", "again", "great film"]})
    assert calls[-1] == ["again"]

    cache = LRUCache(2)
    cache.put(("a", None), np.zeros(2))
    cache.put(("b", None), np.zeros(2))
    assert cache.get(("a", None)) is not None
    cache.put(("c", None), np.zeros(2))
    assert cache.get(("b", None)) is None and len(cache) == 2


def test_cache_is_off_by_default(client_for, monkeypatch):
    calls: list[list[str]] = []
    original = ModelService._predict
    monkeypatch.setattr(
        ModelService, "_predict", lambda self, t, p: calls.append(t) or original(self, t, p)
    )
    client = client_for()
    client.post("/v1/predict", json={"texts": ["same"]})
    client.post("/v1/predict", json={"texts": ["same"]})
    assert calls == [["warm-up"], ["same"], ["same"]]
    assert metric(client, "textclass_cache_hits_total") == 0


# ---------------------------------------------------------------- a live server on 127.0.0.1


def test_live_server_and_slow_body_timeout(clf, model_dir):
    app = create_app(ServeSettings(model_dir=model_dir, request_timeout=0.5), classifier=clf)
    with running_server(app) as url:
        response = httpx.post(f"{url}/v1/predict", json={"texts": ["over a socket"]}, timeout=10)
        assert response.status_code == 200
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"texts": '
            )  # ... and the rest never comes
            reply = b""
            while b'"timeout"' not in reply and (chunk := sock.recv(4096)):
                reply += chunk
        reply = reply.decode()
        assert reply.startswith("HTTP/1.1 408") and '"timeout"' in reply


def test_schemathesis_finds_no_server_error(clf, model_dir, tmp_path):
    """Fuzz the OpenAPI schema against a live server: no 500, responses match the schema."""
    app = create_app(
        ServeSettings(model_dir=model_dir, max_texts=16, max_chars=200), classifier=clf
    )
    tool = Path(sys.executable).with_name("schemathesis")
    with running_server(app) as url:
        run = subprocess.run(
            [
                str(tool),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                "40",
                "--seed",
                "1",
                "--workers",
                "1",
                "--request-timeout",
                "10",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout or "passed" in run.stdout


# ---------------------------------------------------------------- group summaries, CLI


def test_group_summary_ranks_groups(tmp_path):
    rows = pd.DataFrame(
        {
            "text": [f"t{i}" for i in range(7)],
            "movie_name": ["Alien", "Alien", "Cats", "Cats", "Cats", "Brazil", "Alien"],
            "predicted": ["fresh", "fresh", "rotten", "rotten", "fresh", "fresh", "rotten"],
            "prob_fresh": [0.9, 0.8, 0.1, 0.2, 0.6, 0.7, 0.4],
            "prob_rotten": [0.1, 0.2, 0.9, 0.8, 0.4, 0.3, 0.6],
        }
    )
    rows.to_csv(tmp_path / "preds.csv", index=False)
    rows.to_json(tmp_path / "preds.jsonl", orient="records", lines=True)
    for name in ("preds.csv", "preds.jsonl"):
        table = group_summary(tmp_path / name, "movie_name", tmp_path / "g.csv", chunk_size=2)
        assert table["movie_name"].tolist() == ["Brazil", "Alien", "Cats"]
        assert table["rank"].tolist() == [1, 2, 3]
        assert table["count"].tolist() == [1, 3, 3]
        alien = table.set_index("movie_name").loc["Alien"]
        assert alien["share_fresh"] == pytest.approx(2 / 3, abs=1e-6)
        assert alien["mean_prob_fresh"] == pytest.approx(0.7, abs=1e-6)
        assert pd.read_csv(tmp_path / "g.csv").equals(table)
    by_rotten = group_summary(tmp_path / "preds.csv", "movie_name", rank_by="rotten")
    assert by_rotten["movie_name"].tolist() == ["Cats", "Alien", "Brazil"]
    with pytest.raises(TextclassError, match="not a label"):
        group_summary(tmp_path / "preds.csv", "movie_name", rank_by="meh")


def test_predict_group_by_cli(monkeypatch, capsys, model_dir, tmp_path):
    reviews = tmp_path / "reviews.csv"
    pd.DataFrame(
        {"text": ["great", "awful", "fine", "superb", "bad"], "movie_name": list("AABBC")}
    ).to_csv(reviews, index=False)
    out = tmp_path / "preds.csv"
    args = ["predict", str(model_dir), "-i", str(reviews), "-o", str(out)]
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "--group-by", "movie_name")
    assert code == 0, err
    groups = pd.read_csv(tmp_path / "preds.groups.csv")
    assert sorted(groups["movie_name"]) == ["A", "B", "C"]
    assert groups["count"].sum() == 5 and "wrote 3 movie_name summaries" in stdout
    assert list(groups.columns[:3]) == ["movie_name", "rank", "count"]

    # A missing group column is reported before any prediction is made.
    code, _, err = run_cli(monkeypatch, capsys, *args, "--overwrite", "--group-by", "movie")
    assert code == 2 and "no column `movie`" in err and "movie_name" in err


def test_serve_cli(monkeypatch, capsys, model_dir, tmp_path):
    import os

    import uvicorn

    from textclass import runtime

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setattr(runtime, "set_threads", lambda n: seen.update(threads=n) or n)
    monkeypatch.setattr(runtime, "tune_allocator", lambda: seen.update(allocator=True) or True)
    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n")
    code, _, err = run_cli(
        monkeypatch, capsys, "serve", str(model_dir), "--api-key-file", str(keys), "--no-batching"
    )
    assert code == 0, err
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8000
    assert seen["threads"] == max(1, (os.cpu_count() or 2) - 1)  # a core left for HTTP
    assert seen["allocator"]  # process-wide settings: set by the entry point
    settings = seen["app"].state.settings
    assert settings.api_keys == (KEY,) and settings.batching is False
    assert KEY not in err

    code, _, err = run_cli(monkeypatch, capsys, "serve", str(tmp_path / "nope"))
    assert code == 2 and "not a model directory" in err
    code, _, err = run_cli(monkeypatch, capsys, "serve", str(model_dir), "--backend", "onnx")
    assert code == 2 and "textclass export" in err
