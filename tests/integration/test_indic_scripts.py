"""Non-Latin scripts end to end: a BiLSTM with its own tokenizer, trained on Telugu and Hindi
sentiment (tests/fixtures/telugu_hindi_sentiment.csv), saved, reloaded, used from the command
line and over HTTP, and reported, with every text kept in its script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient

import textclass
from tests.conftest import in_memory_classifier, run_cli

FIXTURE = Path(__file__).parents[1] / "fixtures" / "telugu_hindi_sentiment.csv"
TELUGU = re.compile("[\u0c00-\u0c7f]")
DEVANAGARI = re.compile("[\u0900-\u097f]")
# UTF-8 Telugu or Devanagari bytes read as Latin-1/cp1252 begin with these; U+FFFD: undecodable.
MOJIBAKE = re.compile("à[°±¤¥]|\ufffd")
TINY_BILSTM = [
    "model.architecture=bilstm",
    "model.max_length=32",
    "model.tokenizer.vocab_size=500",
    "model.tokenizer.min_frequency=1",
    "model.bilstm.embedding_dim=32",
    "model.bilstm.hidden_size=32",
    "model.bilstm.dropout=0",
    "train.epochs=25",
    "train.lr=1e-2",
    "train.weight_decay=0",
    "train.warmup_ratio=0",
    "train.batch_size=16",
    "train.precision=fp32",
    "train.device=cpu",
    "train.num_threads=1",  # a 32-wide LSTM: more threads only wait on each other
    "eval.batch_size=64",
]


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_csv(FIXTURE, encoding="utf-8")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train once (seconds): the run directory, the result and the reloaded classifier."""
    out = tmp_path_factory.mktemp("indic")
    cfg = textclass.load_config(
        base={"name": "telugu_sentiment"},
        overrides=[f"data.train={FIXTURE}", *TINY_BILSTM, f"output.dir={out}"],
    )
    threads = torch.get_num_threads()
    try:
        result = textclass.train(cfg)
    finally:
        torch.set_num_threads(threads)  # train.num_threads=1 is process-wide: give it back
    clf = textclass.Classifier.load(result.model_dir, device="cpu", precision="fp32")
    return result, clf


def test_the_sample_is_telugu_and_hindi_sentiment(sample):
    assert set(sample["label"]) == {"positive", "negative"}
    assert sample.groupby("language")["label"].value_counts().min() >= 12  # balanced per language
    telugu = sample[sample["language"] == "telugu"]["text"]
    assert len(telugu) >= 60 and telugu.map(lambda t: bool(TELUGU.search(t))).all()
    hindi = sample[sample["language"] == "hindi"]["text"]
    assert hindi.map(lambda t: bool(DEVANAGARI.search(t))).all()


def test_bilstm_learns_and_reloads_with_identical_predictions(trained, sample):
    result, clf = trained
    assert clf.model.config.model_type == "textclass-bilstm"
    texts = sample["text"].tolist()
    ids = clf.tokenizer(texts[:10])["input_ids"]  # the tokenizer learnt the scripts themselves
    assert all(clf.tokenizer.unk_token_id not in row for row in ids)
    in_memory = in_memory_classifier(result, clf)
    np.testing.assert_allclose(in_memory.predict_proba(texts), clf.predict_proba(texts), atol=1e-6)
    predicted = clf.predict(texts)
    assert predicted == in_memory.predict(texts)
    held_out = pd.concat(
        pd.read_csv(result.run_dir / name, encoding="utf-8")["text"]
        for name in ("predictions.csv", "predictions_validation.csv")
    )
    seen = ~sample["text"].isin(held_out).to_numpy()  # the training split
    accuracy = np.mean(np.array(predicted)[seen] == sample["label"].to_numpy()[seen])
    assert accuracy >= 0.9, accuracy  # it learnt the training texts (in both scripts)


def test_cli_predict_and_evaluate_agree_with_the_model(
    trained, sample, tmp_path, monkeypatch, capsys
):
    result, clf = trained
    texts = tmp_path / "texts.csv"
    sample[["text", "language"]].to_csv(texts, index=False, encoding="utf-8")
    preds = tmp_path / "preds.csv"
    code, _, err = run_cli(
        monkeypatch, capsys, "predict", str(result.model_dir), "-i", str(texts), "-o", str(preds)
    )
    assert code == 0, err
    written = pd.read_csv(preds, encoding="utf-8")
    assert written["text"].tolist() == sample["text"].tolist()  # the script survives the trip
    assert written["predicted"].tolist() == clf.predict(sample["text"].tolist())

    metrics = tmp_path / "metrics.json"
    code, out, err = run_cli(
        monkeypatch, capsys, "evaluate", str(result.model_dir), "-d", str(FIXTURE),
        "-o", str(metrics),
    )  # fmt: skip
    assert code == 0, err
    assert "accuracy" in out and "positive" in out
    expected = np.mean(np.array(clf.predict(sample["text"].tolist())) == sample["label"])
    assert json.loads(metrics.read_text(encoding="utf-8"))["accuracy"] == pytest.approx(expected)


def test_served_predictions_are_the_models(trained, sample):
    from textclass.serving.app import create_app
    from textclass.serving.settings import ServeSettings

    result, clf = trained
    texts = sample["text"].tolist()[:40]
    settings = ServeSettings(model_dir=result.model_dir, precision="fp32", threads=1)
    with TestClient(create_app(settings)) as client:  # the service loads the model itself
        response = client.post("/v1/predict", json={"texts": texts})
        info = client.get("/v1/model").json()
    assert response.status_code == 200, response.text
    rows = response.json()["predictions"]
    assert [row["label"] for row in rows] == clf.predict(texts)
    expected = clf.predict_proba(texts)
    got = [[row["probabilities"][label] for label in clf.labels] for row in rows]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert info["name"] == "telugu_sentiment" and info["labels"] == clf.labels


def test_report_shows_the_texts_in_their_script(trained):
    result, _ = trained
    test_texts = pd.read_csv(result.run_dir / "predictions.csv", encoding="utf-8")["text"]
    for name in ("report.md", "report.html", "report.json"):
        text = (result.run_dir / name).read_bytes().decode("utf-8")
        assert TELUGU.search(text), f"{name} has no Telugu text"
        assert not MOJIBAKE.search(text), MOJIBAKE.search(text)
        shown = [t for t in test_texts if t in text]  # examples (least decided, mistakes)
        assert shown, f"{name} quotes no test text verbatim"
    html = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"&#(x0?c[0-7][0-9a-f]|3[01]\d\d);", html, re.I)  # not as entities


# Python reads and writes text in the locale's encoding unless told otherwise: cp1252 on most
# Windows machines, ASCII under a plain C/POSIX locale with the UTF-8 mode off (simulated here).
ASCII_LOCALE = {"PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "LC_ALL": "C", "LANG": "C"}
IN_ASCII_LOCALE = """
import json, sys, textclass
cfg = textclass.load_config(base={"name": "te"}, overrides=sys.argv[1:])
result = textclass.train(cfg, report=False)
clf = textclass.Classifier.load(result.model_dir, device="cpu", precision="fp32")
texts = json.loads(sys.stdin.read())
print(json.dumps({"run": str(result.run_dir), "predicted": clf.predict(texts)}))
"""
TELUGU_LABELS = {"positive": "సానుకూలం", "negative": "ప్రతికూలం"}


def test_telugu_labels_survive_a_locale_that_is_not_utf8(tmp_path, sample):
    """Every run file is UTF-8 whatever the locale: Telugu label names are written, read back
    and predicted in a process whose default encoding is ASCII. (The report is left out here:
    see tests/unit/test_text_encoding.py for the modules still to be fixed.)"""
    data = tmp_path / "telugu_labels.csv"
    sample.assign(label=sample["label"].map(TELUGU_LABELS)).to_csv(
        data, index=False, encoding="utf-8"
    )
    texts = sample["text"].tolist()[:20]
    src = str(Path(textclass.__file__).resolve().parents[1])
    env = {**os.environ, **ASCII_LOCALE}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    overrides = [f"data.train={data}", *TINY_BILSTM, "train.epochs=2", f"output.dir={tmp_path}"]
    proc = subprocess.run(
        [sys.executable, "-c", IN_ASCII_LOCALE, *overrides],
        input=json.dumps(texts),  # ASCII: non-ASCII characters as \\u escapes
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out["predicted"]) <= set(TELUGU_LABELS.values())
    model_dir = Path(out["run"]) / "model"
    meta = json.loads((model_dir / "textclass.json").read_bytes().decode("utf-8"))
    assert sorted(meta["labels"]) == sorted(TELUGU_LABELS.values())
    metrics = json.loads((Path(out["run"]) / "metrics.json").read_bytes().decode("utf-8"))
    assert set(TELUGU_LABELS.values()) <= set(metrics["test"]["per_class"])
