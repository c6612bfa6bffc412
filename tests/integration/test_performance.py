"""Speed measures (textclass.performance and the loop's speed options): same results, faster."""

from __future__ import annotations

import json
import os
import platform

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification

import textclass
from textclass.config.load import load_config
from textclass.errors import ConfigError
from textclass.inference.classifier import Classifier
from textclass.inference.forward import inference_model
from textclass.models.attention import ATTENTION, fast_attention, plain_attention
from textclass.models.build import quiet_transformers
from textclass.runtime import set_threads, tune_allocator


def _tiny(model_dir, **config):
    torch.manual_seed(0)
    with quiet_transformers():
        return AutoModelForSequenceClassification.from_pretrained(model_dir, **config)


def _batch(seed: int = 0, length: int = 20):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 5000, (4, length), generator=g)
    mask = torch.ones_like(ids)
    mask[2:, length // 2 :] = 0  # padding in half the batch
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 0, 1])}


def _attention_grads(model) -> tuple[torch.Tensor, torch.Tensor]:
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=model.dtype == torch.float32):
        out = model(**_batch())
    out.loss.backward()
    attention = model.bert.encoder.layer[0].attention.self
    grads = [p.grad.flatten() for p in attention.parameters()]
    return out.logits.float().detach(), torch.cat(grads)


def test_fast_attention_matches_fp32_forward_and_backward_with_padding(tiny_model_dir):
    def load(fast: bool):
        model = _tiny(tiny_model_dir, attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0)
        if fast:
            assert fast_attention(model)
            assert model.config._attn_implementation == ATTENTION
        return model

    reference = load(False)
    reference.train()
    out = reference(**_batch())  # fp32, no autocast
    out.loss.backward()
    attention = reference.bert.encoder.layer[0].attention.self
    ref_grads = torch.cat([p.grad.flatten() for p in attention.parameters()])
    logits, grads = _attention_grads(load(True))
    np.testing.assert_allclose(logits.numpy(), out.logits.detach().numpy(), atol=1e-2)
    cosine = torch.nn.functional.cosine_similarity(grads, ref_grads, dim=0)
    assert cosine > 0.999  # a missing padding mask gave 0.83 here

    # Padding is masked: a text alone and padded in a batch with a longer one score the same.
    model = load(True).eval()
    batch = _batch()
    short = {k: v[2:3, :10] for k, v in batch.items() if k != "labels"}
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        alone = model(**short).logits.float()
        padded = model(
            input_ids=batch["input_ids"][2:3], attention_mask=batch["attention_mask"][2:3]
        )
    np.testing.assert_allclose(alone.numpy(), padded.logits.float().numpy(), atol=1e-2)
    plain_attention(model)
    assert model.config._attn_implementation == "sdpa"


def test_fast_attention_keeps_dropout_and_saved_config_plain(tiny_model_dir, tmp_path):
    model = _tiny(tiny_model_dir, attention_probs_dropout_prob=0.5)
    assert fast_attention(model)
    model.train()
    batch = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a = model(**batch).logits
        b = model(**batch).logits
    assert not torch.allclose(a, b)  # attention dropout still active in training
    model.eval()
    with torch.inference_mode():
        assert torch.allclose(model(**batch).logits, model(**batch).logits)
    with quiet_transformers():
        model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert ATTENTION not in json.dumps(saved)  # loads without textclass


def test_inference_model_casts_transformers_to_bf16_only_on_cpu_bf16(tiny_model_dir):
    cpu = torch.device("cpu")
    model = _tiny(tiny_model_dir)
    assert inference_model(model, "fp32", cpu) == "fp32"
    assert next(model.parameters()).dtype == torch.float32
    assert inference_model(model, "bf16", cpu) == "bf16-weights"
    assert next(model.parameters()).dtype == torch.bfloat16


def test_allocator_tuning_is_idempotent():
    first = tune_allocator()
    assert tune_allocator() is first
    assert isinstance(first, bool)
    plain_glibc = platform.libc_ver()[0] == "glibc" and not os.environ.get("LD_PRELOAD")
    if plain_glibc and os.environ.get("TEXTCLASS_MALLOC") != "default":
        assert first is True  # applied wherever it can be


def test_set_threads_round_trip():
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1
        assert set_threads(None) == 1  # None leaves the setting alone
    finally:
        torch.set_num_threads(before)


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


def test_gradient_checkpointing_with_bilstm_is_a_config_error(write_yaml):
    path = write_yaml(
        {"model": {"architecture": "bilstm"}, "train": {"gradient_checkpointing": True}}
    )
    with pytest.raises(ConfigError, match="gradient_checkpointing"):
        load_config(path)


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


def test_diagnosis_flags_a_starved_data_path():
    from textclass.diagnosis.rules import check_data_wait

    assert check_data_wait([{"data_wait_fraction": 0.01}]) == []
    assert check_data_wait([{"step": 1}]) == []  # runs from before the measure
    (finding,) = check_data_wait([{"data_wait_fraction": 0.45}])
    assert finding.severity == "warn" and "45%" in finding.evidence
    assert "num_workers" in finding.recommendation
