"""Speed options in real runs: same results, faster. Their units (fast attention, inference
precision, allocator and threads, the data-wait rule) are in tests/unit/ (test_attention,
test_forward, test_runtime, test_diagnosis_rules)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import textclass
from textclass.inference.classifier import Classifier


def test_bf16_classifier_agrees_with_fp32(tmp_path, tiny_config, rotten):
    cfg = tiny_config("train.epochs=4", "train.precision=fp32")
    result = textclass.train(cfg, report=False)
    texts = rotten["text"].tolist()[:200]
    fp32 = Classifier.load(result.model_dir, precision="fp32")
    bf16 = Classifier.load(result.model_dir, precision="bf16")
    assert bf16.runs_as == "bf16-weights"
    assert "bf16-weights" in repr(bf16)
    p32, p16 = fp32.predict_proba(texts), bf16.predict_proba(texts)
    assert p16.dtype == np.float32
    assert np.abs(p32 - p16).max() < 0.05
    agree = (p32.argmax(1) == p16.argmax(1)).mean()
    assert agree >= 0.97


def test_history_records_data_wait_and_speed_settings(tiny_config):
    result = textclass.train(tiny_config("train.epochs=1"), report=False)
    record = result.history[-1]
    assert 0 <= record["data_wait_fraction"] < 1
    state = json.loads((result.run_dir / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert state["data_seconds"] > 0
    speed = state["extras"]["speed"]
    assert speed["fast_attention"] is True  # the tiny BERT uses SDPA
    assert speed["threads"] == torch.get_num_threads()


def test_gradient_checkpointing_gives_the_same_training(tiny_config):
    common = ("train.max_steps=3", "model.dropout=0", "model.attention_dropout=0")
    plain = textclass.train(tiny_config(*common), report=False)
    ckpt = textclass.train(tiny_config(*common, "train.gradient_checkpointing=true"), report=False)
    state = json.loads((ckpt.run_dir / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert state["extras"]["speed"]["gradient_checkpointing"] is True
    assert ckpt.history[-1]["train_loss"] == pytest.approx(plain.history[-1]["train_loss"], 1e-4)
    assert ckpt.history[-1]["val_loss"] == pytest.approx(plain.history[-1]["val_loss"], 1e-4)


@pytest.mark.slow
def test_compiled_training_runs_and_saves_plain_names(tiny_config):
    result = textclass.train(tiny_config("train.max_steps=4", "train.compile=true"), report=False)
    clf = Classifier.load(result.model_dir)
    assert len(clf.predict(["a fine film", "dull"])) == 2


def test_bf16_run_evaluates_exactly_the_selected_weights(tiny_config):
    result = textclass.train(tiny_config("train.max_steps=2", "train.precision=bf16"), report=False)
    diagnostics = json.loads((result.run_dir / "diagnostics.json").read_text())
    integrity = diagnostics["integrity"]
    assert integrity["evaluated_sha256"] == integrity["selected_sha256"]
    assert not [f for f in diagnostics["findings"] if "not the selected" in f["title"]]
