"""Helpers for the serving and export tests: small model directories and a live local server."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from textclass.config.schema import CleaningConfig
from textclass.inference.classifier import Classifier
from textclass.workflows.rundir import MODEL_META

LABELS = ["fresh", "rotten"]


def make_model_dir(tiny_model_dir: Path, dest: Path, *, pair: bool = False) -> Path:
    """A trained-model directory as `textclass train` writes it, around the tiny random BERT:
    weights, tokenizer, textclass.json (labels, columns, cleaning, metrics) and config.yaml."""
    shutil.copytree(tiny_model_dir, dest)
    meta = {
        "format_version": 1,
        "task": "single_label",
        "labels": LABELS,
        "columns": {"text": "text", "text_pair": "text_b" if pair else None, "label": "label"},
        "cleaning": CleaningConfig().model_dump(),
        "max_length": 48,
        "base_model": "tiny-bert",
        "metrics": {"test": {"accuracy": 0.75, "f1_macro": 0.7}},
    }
    (dest / MODEL_META).write_text(json.dumps(meta))
    (dest / "config.yaml").write_text("name: tiny_reviews\nseed: 42\n")
    return dest


def make_regression_model_dir(tiny_model_dir: Path, dest: Path) -> Path:
    """`make_model_dir` for a regression model: the tiny BERT with one linear output
    (num_labels=1, problem_type regression), task regression, the target named `score`."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, BertForSequenceClassification

    from textclass.models.build import quiet_transformers

    config = AutoConfig.from_pretrained(tiny_model_dir, num_labels=1, problem_type="regression")
    torch.manual_seed(0)
    with quiet_transformers():
        BertForSequenceClassification(config).save_pretrained(dest)
        AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(dest)
    meta = {
        "format_version": 1,
        "task": "regression",
        "labels": ["score"],
        "columns": {"text": "text", "text_pair": None, "label": "score"},
        "cleaning": CleaningConfig().model_dump(),
        "max_length": 48,
        "base_model": "tiny-bert",
        "metrics": {"test": {"rmse": 0.5}},
    }
    (dest / MODEL_META).write_text(json.dumps(meta))
    (dest / "config.yaml").write_text("name: tiny_scores\nseed: 42\n")
    return dest


def load(model_dir: Path, **kw) -> Classifier:
    return Classifier.load(model_dir, device="cpu", precision="fp32", **kw)


@contextlib.contextmanager
def running_server(app, timeout: float = 20.0) -> Iterator[str]:
    """Run `app` under uvicorn in a thread on 127.0.0.1 (a free port); yield its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
