import json
import os
import signal

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

import textclass
from tests.conftest import in_memory_classifier
from textclass.data.prepare import prepare_data
from textclass.errors import TextclassError, TrainingInterrupted
from textclass.training.callbacks import Callback


def test_overfit_then_save_then_reload(tiny_config, rotten_files):
    """The model can drive the loss near zero on a few examples, and reloads identically."""
    cfg = tiny_config(
        "data.max_samples=16",
        "train.epochs=40",
        "train.batch_size=8",
        "train.lr=3e-3",
        "model.dropout=0",
        "model.attention_dropout=0",
        "train.metric=loss",
    )
    result = textclass.train(cfg)
    losses = [h["train_loss"] for h in result.history]
    assert losses[0] > 0.5
    assert losses[-1] < 0.05, losses[-5:]

    clf = result.classifier()
    train_texts = prepare_data(cfg.data, cfg.seed).splits["train"]
    preds = clf.predict(train_texts["text"].tolist())
    assert np.mean(np.array(preds) == train_texts["label"].to_numpy()) == 1.0
    assert set(preds) <= {"fresh", "rotten"}

    texts = ["a tender, funny film", "dull and far too long", "meh"]
    again = textclass.Classifier.load(result.model_dir, device="cpu", precision="fp32")
    trained = in_memory_classifier(result, again)  # the model as trained, never saved
    np.testing.assert_allclose(trained.predict_proba(texts), again.predict_proba(texts), atol=1e-6)
    assert trained.predict(texts) == again.predict(texts)

    # The model directory is a plain Hugging Face model directory too.
    plain = AutoModelForSequenceClassification.from_pretrained(result.model_dir)
    assert plain.config.id2label == {0: "fresh", 1: "rotten"}


def test_run_directory_is_complete(tiny_config):
    result = textclass.train(tiny_config("train.epochs=1"))
    run = result.run_dir
    for name in (
        "config.yaml",
        "environment.json",
        "data.json",
        "history.json",
        "metrics.json",
        "predictions_validation.csv",
        "predictions.csv",
        "model/model.safetensors",
        "model/textclass.json",
        "model/tokenizer.json",
        "checkpoints/best/model.safetensors",
        "checkpoints/last/optimizer.bin",
    ):
        assert (run / name).exists(), name
    env = json.loads((run / "environment.json").read_text())
    assert env["seed"] == 42 and env["precision"] == "fp32" and env["device"] == "cpu"
    assert all(len(h) == 64 for h in env["data_sha256"].values()) and len(env["data_sha256"]) == 3
    assert env["versions"]["torch"].startswith("2.")
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"validation", "test", "baseline", "calibration"}
    test = metrics["test"]
    assert sum(map(sum, test["confusion_matrix"])) == test["n"] == 30
    meta = json.loads((run / "model/textclass.json").read_text())
    assert meta["labels"] == ["fresh", "rotten"] and meta["cleaning"]["enabled"]


def test_the_saved_and_evaluated_weights_are_the_best_checkpoint_not_the_last(tiny_config):
    """A run whose best evaluation is its first: the warm-up step has learning rate 0, then a
    learning rate of 3 without clipping diverges, so every later validation loss is worse."""
    result = textclass.train(
        tiny_config(
            "train.max_steps=4",
            "train.eval_steps=1",
            "train.metric=loss",
            "train.lr=3",
            "train.warmup_ratio=0.25",  # one warm-up step: the first update has lr 0
            "train.max_grad_norm=null",
        ),
        report=False,
    )
    history = json.loads((result.run_dir / "history.json").read_text())["history"]
    assert [h["step"] for h in history] == [1, 2, 3, 4]
    assert [h["is_best"] for h in history] == [True, False, False, False], history
    assert min(h["val_loss"] for h in history[1:]) > 2 * history[0]["val_loss"]

    best = load_file(result.run_dir / "checkpoints/best/model.safetensors")
    last = load_file(result.run_dir / "checkpoints/last/model.safetensors")
    final = load_file(result.model_dir / "model.safetensors")
    assert best.keys() == final.keys() == last.keys()
    assert all(torch.equal(best[k], final[k]) for k in best)
    assert not all(torch.equal(last[k], final[k]) for k in last)
    # The reported validation numbers are those of the selected (first) evaluation.
    chosen = [h for h in result.history if h["is_best"]][-1]
    assert chosen["step"] == 1
    assert result.metrics["validation"]["accuracy"] == pytest.approx(
        chosen["val_accuracy"], abs=1e-6
    )
    assert result.metrics["validation"]["loss"] == pytest.approx(chosen["val_loss"], rel=1e-5)


class _SigintAt(Callback):
    """Sends the process a real Ctrl-C after a given optimizer step."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, state, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def test_interrupted_then_resumed_equals_uninterrupted(tiny_config, tmp_path):
    overrides = ("train.epochs=2", "train.grad_accum_steps=2", "train.batch_size=8")
    full = textclass.train(tiny_config(*overrides), output=tmp_path / "full")

    cut = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted, match="resumable checkpoint"):
        textclass.train(tiny_config(*overrides), output=cut, callbacks=[_SigintAt(4)])
    assert not (cut / "model").exists()
    state = json.loads((cut / "checkpoints/last/trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["step_in_epoch"] == 4  # mid-epoch

    resumed = textclass.train(resume=cut)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in full.history]
    for a, b in zip(full.history, resumed.history, strict=False):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    assert resumed.metrics["test"]["accuracy"] == full.metrics["test"]["accuracy"]
    assert resumed.metrics["test"]["log_loss"] == pytest.approx(
        full.metrics["test"]["log_loss"], rel=1e-5
    )
    a = load_file(full.model_dir / "model.safetensors")
    b = load_file(resumed.model_dir / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_early_stopping_fires(tiny_config):
    result = textclass.train(
        tiny_config(
            "train.epochs=30", "train.lr=0", "train.early_stopping.patience=2", "train.metric=loss"
        )
    )
    # With lr 0 nothing improves after the first evaluation: stop after 1 + patience evaluations.
    assert len(result.history) == 3
    state = json.loads((result.run_dir / "history.json").read_text())
    assert state["stopped_early"] is True


def test_existing_run_directory_is_never_overwritten(tiny_config, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(TextclassError, match="already exists.*--overwrite"):
        textclass.train(tiny_config("train.epochs=1"), output=out)
    assert (out / "precious.txt").read_text() == "keep me"


def test_auto_named_runs_get_unique_directories(tiny_config):
    first = textclass.train(tiny_config("train.max_steps=2"))
    second = textclass.train(tiny_config("train.max_steps=2"))
    assert first.run_dir != second.run_dir and second.run_dir.name == f"{first.run_dir.name}-2"


def test_resume_without_checkpoint_fails(tmp_path):
    with pytest.raises(TextclassError, match="no checkpoint to resume"):
        textclass.train(resume=tmp_path)


def test_bf16_autocast_trains_on_cpu(tiny_config):
    result = textclass.train(tiny_config("train.max_steps=3", "train.precision=bf16"))
    assert json.loads((result.run_dir / "environment.json").read_text())["precision"] == "bf16"
    assert np.isfinite(result.history[-1]["train_loss"])


def test_freezing_the_encoder_trains_only_the_head(tiny_config):
    result = textclass.train(tiny_config("train.max_steps=3", "model.freeze=encoder"))
    diag = json.loads((result.run_dir / "diagnostics.json").read_text())
    params = diag["monitor"]["parameters"]
    assert params["encoder_trainable"] == 0
    assert params["head_trainable"] == params["head_total"] == params["trainable"] > 0
    before = load_file(result.run_dir / "checkpoints/best/model.safetensors")
    from textclass.config.schema import ModelConfig
    from textclass.models.build import build_model

    fresh = build_model(ModelConfig(name=str(tiny_config().model.name)), ["fresh", "rotten"])
    # The encoder weights are still exactly the pretrained ones.
    assert torch.equal(
        before["bert.encoder.layer.0.output.dense.weight"],
        fresh.state_dict()["bert.encoder.layer.0.output.dense.weight"],
    )
