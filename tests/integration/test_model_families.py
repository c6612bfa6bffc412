"""Every model family and task type: overfit a few examples, save, reload, predict the same.

Families: a fine-tuned encoder (tiny random BERT), a BiLSTM trained from scratch with its own
tokenizer, and Siamese training of both. Task types: single-label, multi-label (thresholds
included), sentence pairs; long texts through sliding windows.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import textclass
from tests.conftest import in_memory_classifier
from textclass.data import datasets
from textclass.data.prepare import prepare_data

FIXTURES = Path(__file__).parents[1] / "fixtures"

OVERFIT = [
    "train.lr=3e-3",
    "train.warmup_ratio=0",
    "train.weight_decay=0",
    "train.scheduler=constant",
    "train.metric=loss",
    "train.early_stopping.patience=null",
    "train.eval_steps=100000",  # one evaluation, at the end: the saved model is the last
    "model.dropout=0",
    "model.attention_dropout=0",
]
BILSTM = [
    "model.architecture=bilstm",
    "model.dropout=null",  # the encoder's settings; the BiLSTM has its own below
    "model.attention_dropout=null",
    "model.tokenizer.vocab_size=300",
    "model.tokenizer.min_frequency=1",
    "model.bilstm.embedding_dim=32",
    "model.bilstm.hidden_size=32",
    "model.bilstm.dropout=0",
    "train.lr=1e-2",
]


def _train_reload(cfg, frames=None):
    """Train, then check the reloaded model predicts as the in-memory one (the model `train`
    returned, never read back from disk)."""
    result = textclass.train(cfg, frames=frames, report=False)
    data = prepare_data(cfg.data, cfg.seed, frames)
    train = data.splits["train"]
    pairs = train["text_pair"].tolist() if "text_pair" in train.columns else None
    again = textclass.Classifier.load(result.model_dir, device="cpu", precision="fp32")
    trained = in_memory_classifier(result, again)
    texts = train["text"].tolist()
    np.testing.assert_allclose(
        trained.predict_proba(texts, pairs), again.predict_proba(texts, pairs), atol=1e-6
    )
    assert trained.predict(texts, pairs) == again.predict(texts, pairs)
    return result, result.classifier(), train, pairs


def _step_losses(result) -> list[float]:
    diagnostics = json.loads((result.run_dir / "diagnostics.json").read_text())
    return diagnostics["monitor"]["steps"]["loss"]


def _overfits(result, clf, train, pairs, at_least=1.0):
    losses = _step_losses(result)
    assert np.mean(losses[-3:]) < 0.2 * np.mean(losses[:3]), losses
    preds = clf.predict(train["text"].tolist(), pairs)
    gold = train["label"].tolist()
    assert np.mean([p == g for p, g in zip(preds, gold, strict=True)]) >= at_least


def test_bilstm_from_scratch_overfits_and_reloads(tiny_config):
    cfg = tiny_config(*OVERFIT, *BILSTM, "data.max_samples=24", "train.epochs=30")
    result, clf, train, pairs = _train_reload(cfg)
    _overfits(result, clf, train, pairs)
    model_dir = result.model_dir
    assert (model_dir / "tokenizer.json").is_file()
    assert textclass.Classifier.load(model_dir).model.config.model_type == "textclass-bilstm"


@pytest.mark.parametrize("family", ["transformer", "bilstm"])
def test_multi_label_overfits_and_reloads_with_thresholds(tmp_path, tiny_model_dir, family):
    frame = datasets.load("trec_multilabel")
    # Three fine classes, so six labels: each text carries one coarse and one fine label.
    frame = frame[frame["fine"].isin(["HUM:ind", "LOC:city", "NUM:date"])]
    frame = frame.groupby("fine", group_keys=False).sample(n=12, random_state=0)
    frame = frame.sample(frac=1, random_state=0)
    frames = {"train": frame[:24], "validation": frame[24:30], "test": frame[30:]}
    cfg = textclass.load_config(
        base={"name": "ml"},
        overrides=[
            "data.train=unused",
            "data.text_column=text",
            "data.label_column=labels",
            "data.label_delimiter=|",
            f"model.name={tiny_model_dir}",
            "model.max_length=32",
            "train.precision=fp32",
            "train.batch_size=8",
            "train.epochs=80",
            f"output.dir={tmp_path}",
            *OVERFIT,
            "train.lr=1e-3",  # BCE on this tiny random model diverges at 3e-3
            "eval.thresholds.min_support=1",  # 6 validation texts: tune every label seen there
            *(BILSTM if family == "bilstm" else []),
        ],
    )
    result, clf, train, _ = _train_reload(cfg, frames)
    assert clf.task == "multi_label" and len(clf.labels) > 3
    losses = _step_losses(result)
    assert np.mean(losses[-3:]) < 0.2 * np.mean(losses[:3]), losses
    preds = clf.predict(train["text"].tolist())
    assert all(isinstance(p, list) for p in preds)
    # Memorised at the plain 0.5 cut (the tuned cuts come from 6 validation texts).
    probs = clf.predict_proba(train["text"].tolist())
    gold = np.array([[label in g for label in clf.labels] for g in train["label"]])
    assert ((probs >= 0.5) == gold).all(axis=1).mean() >= 0.9
    # Tuned thresholds are saved with the model, and the reloaded model uses them.
    saved = clf.meta["thresholds"]
    assert set(saved) == set(clf.labels)
    assert clf.thresholds.tolist() == [saved[label] for label in clf.labels]
    assert any(t != 0.5 for t in saved.values())
    assert (result.run_dir / "thresholds.json").is_file()
    assert result.metrics["test"]["task"] == "multi_label"


def test_multi_label_predict_file_writes_label_sets(tmp_path, tiny_model_dir):
    frame = datasets.load("trec_multilabel").sample(n=60, random_state=1)
    cfg = textclass.load_config(
        base={"name": "ml"},
        overrides=[
            "data.train=unused",
            "data.label_column=labels",
            "data.label_delimiter=|",
            f"model.name={tiny_model_dir}",
            "model.max_length=32",
            "train.precision=fp32",
            "train.max_steps=2",
            f"output.dir={tmp_path}",
        ],
    )
    result = textclass.train(cfg, frames={"train": frame}, report=False)
    src = tmp_path / "in.csv"
    frame[["text"]].head(7).to_csv(src, index=False)
    textclass.predict_file(result.model_dir, src, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    clf = result.classifier()
    assert len(out) == 7 and {f"prob_{label}" for label in clf.labels} <= set(out.columns)
    probs = out[[f"prob_{label}" for label in clf.labels]].to_numpy()
    expected = ["|".join(p) for p in clf.decide(probs)]
    assert out["predicted"].tolist() == expected


@pytest.mark.parametrize("family", ["transformer", "bilstm"])
def test_sentence_pairs_overfit_and_reload(tmp_path, tiny_model_dir, family):
    frame = pd.read_csv(FIXTURES / "pairs.csv")
    cfg = textclass.load_config(
        base={"name": "pairs"},
        overrides=[
            "data.train=unused",
            "data.text_column=question",
            "data.text_pair_column=answer",
            "data.label_column=label",
            "data.cleaning.drop_duplicates=false",
            f"model.name={tiny_model_dir}",
            "model.max_length=48",
            "train.precision=fp32",
            "train.batch_size=8",
            "train.epochs=40",
            f"output.dir={tmp_path}",
            *OVERFIT,
            *(BILSTM if family == "bilstm" else []),
        ],
    )
    frames = {"train": frame, "validation": frame[:6], "test": frame[6:12]}
    result, clf, train, pairs = _train_reload(cfg, frames)
    _overfits(result, clf, train, pairs)
    # The pair is encoded as one sequence: [CLS] question [SEP] answer [SEP].
    ids = clf.tokenizer(["Who wrote Hamlet?"], ["Shakespeare."])["input_ids"][0]
    assert ids.count(clf.tokenizer.sep_token_id) == 2


@pytest.mark.parametrize("family", ["transformer", "bilstm"])
def test_siamese_training_overfits_and_reloads(tiny_config, family):
    cfg = tiny_config(
        *OVERFIT,
        *(BILSTM if family == "bilstm" else []),
        "data.max_samples=24",
        "train.epochs=25",
        "train.batch_size=8",
        "train.siamese.enabled=true",
        "train.siamese.pairs_per_example=2",
    )
    result, clf, train, pairs = _train_reload(cfg)
    _overfits(result, clf, train, pairs)
    loss = json.loads((result.run_dir / "diagnostics.json").read_text())["loss"]
    assert loss["siamese"]["pairs_per_example"] == 2
    assert loss["name"] == "cross_entropy"


def test_long_texts_by_sliding_windows_train_and_reload(tiny_config):
    cfg = tiny_config(
        *OVERFIT,
        "data.max_samples=24",
        "train.epochs=20",
        "model.max_length=16",
        "model.window.enabled=true",
        "model.window.stride=4",
        "model.window.max_windows=4",
    )
    result, clf, train, pairs = _train_reload(cfg)
    _overfits(result, clf, train, pairs, at_least=0.9)
    windows = json.loads((result.run_dir / "data.json").read_text())["windows"]
    assert windows["train"]["texts"] == 24
    assert windows["train"]["longer_than_window"] > 0
    assert windows["train"]["windows"] > 24
    # One probability row per text, however many windows it has.
    long_text = " ".join(train["text"].tolist()[:6])
    assert clf.predict_proba([long_text, "short"]).shape == (2, 2)
    assert clf.meta["window"]["stride"] == 4


SHIPPED = [
    "trec_multilabel",
    "sms_spam_focal",
    "rotten_tomatoes_bilstm",
    "rotten_tomatoes_siamese",
    "rotten_tomatoes_frozen",
    "rotten_tomatoes_long",
    "vader",
]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_runs_in_tiny_form(tmp_path, tiny_model_dir, name):
    """Each shipped config, as written, with a tiny model, few rows and few steps."""
    path = Path(__file__).parents[2] / "configs" / f"{name}.yaml"
    cfg = textclass.load_config(
        path,
        [
            "data.max_samples=160",
            "train.max_steps=3",
            "train.precision=fp32",
            f"output.dir={tmp_path}",
            *([] if "bilstm" in name else [f"model.name={tiny_model_dir}"]),
        ],
    )
    result = textclass.train(cfg)
    assert (result.run_dir / "report.md").is_file()
    clf = result.classifier()
    outputs = clf.predict_outputs(["a short text to classify"])
    assert outputs.shape == ((1, len(clf.labels)) if clf.task.has_probabilities else (1,))
    report = (result.run_dir / "report.md").read_text()
    assert "Training objective" in report


def test_bilstm_exports_to_onnx_with_the_same_predictions(tiny_config, tmp_path):
    from textclass.export.onnx import export_onnx

    result = textclass.train(tiny_config(*BILSTM, "train.max_steps=3"), report=False)
    target = export_onnx(result.model_dir, tmp_path / "onnx")
    torch_clf = textclass.Classifier.load(result.model_dir, precision="fp32")
    onnx_clf = textclass.Classifier.load(target)
    texts = ["a tender, funny film", "dull", "far too long and " * 8 + "yet oddly moving"]
    np.testing.assert_allclose(
        torch_clf.predict_proba(texts), onnx_clf.predict_proba(texts), atol=1e-5
    )
