"""The served model: a `Classifier` with its cache and batcher (`ModelService`), what
`GET /v1/model` says about it, and how one prediction is written in a response.

Outputs are rows, one per text: class probabilities, or for a regression model its value (a
one-column row). The task object (`textclass.config.tasks`) decides labels and values.
"""

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from textclass.config.tasks import MULTI_LABEL, get_task
from textclass.data.clean import clean_texts
from textclass.errors import TextclassError
from textclass.inference.classifier import Classifier
from textclass.inference.onnx import OnnxSequenceClassifier
from textclass.serving.batcher import DynamicBatcher, LRUCache
from textclass.serving.middleware import ServeMetrics
from textclass.serving.settings import ServeSettings
from textclass.workflows import rundir
from textclass.workflows.rundir import MODEL_META


def load_classifier(settings: ServeSettings) -> Classifier:
    if settings.model_dir is None:
        raise TextclassError("no model directory given.")
    return Classifier.load(
        settings.model_dir, precision=settings.precision, backend=settings.backend
    )


def is_pair_model(classifier: Classifier | None, model_dir: Path | None) -> bool:
    """Whether the model classifies text pairs (then requests need `text_pairs`)."""
    if classifier is not None:
        return bool(classifier.columns.get("text_pair"))
    if model_dir is None:
        return False
    meta_file = Path(model_dir) / MODEL_META
    if not meta_file.is_file():  # an ensemble directory names its columns in ensemble.json
        meta_file = Path(model_dir) / rundir.ENSEMBLE
    if not meta_file.is_file():
        return False
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    return bool((meta.get("columns") or {}).get("text_pair"))


def _identity(model_dir: Path) -> tuple[str | None, str | None, str | None]:
    """(name, version, config_sha256) from a model directory: the run's name in config.yaml
    (else the directory's), the weights' hash, the config's hash."""
    import yaml

    # The one file hash of the package (data/prepare.py); imported here, not at the top, as
    # it pulls in the data-splitting libraries.
    from textclass.data.read import sha256_file

    name = version = config_sha256 = None
    config_file = model_dir / rundir.CONFIG
    if config_file.is_file():
        config_sha256 = sha256_file(config_file)
        with contextlib.suppress(yaml.YAMLError, AttributeError):
            name = (yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}).get("name")
    name = name or (model_dir.parent.name if model_dir.name == "model" else model_dir.name)
    for weights in (rundir.WEIGHTS, rundir.ONNX, rundir.LINEAR_WEIGHTS, rundir.ENSEMBLE):
        if (model_dir / weights).is_file():
            version = sha256_file(model_dir / weights)[:12]
            break
    return name, version, config_sha256


def model_info(clf: Classifier, model_dir: Path | None) -> dict[str, Any]:
    """What `GET /v1/model` reports: identity, labels, task, training metrics, config hash."""
    import textclass

    meta = clf.meta
    name, version, config_sha256 = _identity(model_dir) if model_dir is not None else (None,) * 3
    backend = getattr(clf, "backend", "torch")  # torch, or numpy for a linear model
    if isinstance(clf.model, OnnxSequenceClassifier):
        backend = "onnx"
    quantize = (meta.get("export") or {}).get("quantize")
    return {
        "name": meta.get("name") or name or "model",
        "version": str(meta.get("version") or version or "unknown"),
        "task": get_task(clf.task).name,
        "labels": list(clf.labels),
        "architecture": meta.get("architecture") or "transformer",
        "text_pair": bool(clf.columns.get("text_pair")),
        "max_length": clf.max_length,
        "truncation": getattr(clf, "truncation", "head"),  # duck-typed classifiers too
        "backend": backend,
        "precision": quantize or clf.precision,
        "quantize": quantize,
        "metrics": meta.get("metrics", {}),
        "config_sha256": config_sha256,
        "base_model": meta.get("base_model"),
        "ensemble": meta.get("ensemble"),  # method, groups, members, weights; None: one model
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
        self.task = get_task(clf.task)
        if not self.task.has_probabilities and not hasattr(clf, "predict_values"):
            raise TextclassError(
                f"the model is a {self.task.name} model, but this Classifier has no "
                "predict_values(); serving it needs a textclass with regression prediction."
            )
        saved = clf.meta.get("thresholds") or {}  # multi-label: {label: threshold}, else 0.5
        self.thresholds = {label: float(saved.get(label, 0.5)) for label in clf.labels}
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
        size = self.settings.forward_batch_size
        if self.task.has_probabilities:
            return self.clf.predict_proba(texts, pairs, batch_size=size, clean=False)
        values = self.clf.predict_values(texts, pairs, batch_size=size, clean=False)
        return np.asarray(values, dtype=np.float32).reshape(-1, 1)  # a row per text

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
        """Cleans, looks up the cache, batches the rest; one output row per text (the class
        probabilities; for regression, the value)."""
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

    def predictions(self, outputs: np.ndarray, top_k: int | None) -> list[dict[str, Any]]:
        """One response item per row of `outputs`: `{"value": v}` for regression; else the
        label(s) the task decides, the probabilities and, if asked, the `top_k` labels."""
        if not self.task.has_probabilities:
            return [{"value": value} for value in self.task.decide(outputs)]
        labels = self.clf.labels
        cut = np.array([self.thresholds[label] for label in labels])
        decided = self.task.decide(outputs, labels, cut)
        return [
            self._classification(row, chosen, top_k)
            for row, chosen in zip(outputs.tolist(), decided, strict=True)
        ]

    def _classification(self, row: list[float], decided: Any, top_k: int | None) -> dict:
        scores = dict(zip(self.clf.labels, row, strict=True))
        item: dict[str, Any]
        if self.task == MULTI_LABEL:  # a label set, most probable first, and its thresholds
            chosen = sorted(decided, key=scores.__getitem__, reverse=True)
            item = {"label": chosen[0] if chosen else None, "labels": chosen}
            item["probabilities"] = scores
            item["thresholds"] = dict(self.thresholds)
        else:
            item = {"label": decided, "labels": [decided], "probabilities": scores}
        if top_k is not None:
            ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:top_k]
            item["top_k"] = [{"label": lab, "probability": p} for lab, p in ranked]
        return item
