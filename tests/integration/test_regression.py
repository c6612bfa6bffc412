"""The regression task end to end on a slice of the bundled VADER ratings: train, save,
reload, predict, evaluate, predict a file, export to ONNX; every figure recomputed here."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

import textclass
from textclass.config.tasks import REGRESSION
from textclass.data import datasets
from textclass.errors import DataError
from textclass.workflows.evaluate import evaluate_model
from textclass.workflows.predict import predict_file


@pytest.fixture(scope="module")
def vader_slice() -> pd.DataFrame:
    data = datasets.load("vader")
    return data.sample(n=240, random_state=0).reset_index(drop=True)[["text", "score"]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, vader_slice, tiny_model_dir):
    from tests.conftest import tiny_overrides

    out = tmp_path_factory.mktemp("regression")
    cfg = textclass.load_config(
        base={"name": "tiny_vader", "data": {"train": "unused"}},
        overrides=[
            *tiny_overrides(tiny_model_dir, out / "runs"),
            "data.task=regression",
            "data.label_column=score",
            "train.epochs=40",
            "train.batch_size=8",
            "train.lr=3e-3",
            "model.dropout=0.0",
            "model.attention_dropout=0.0",
        ],
    )
    # Overfit 32 ratings (validated on the same rows, so the selected checkpoint is the
    # best fit); test on 40 others.
    train = vader_slice[:32]
    frames = {"train": train, "validation": train, "test": vader_slice[200:]}
    return textclass.train(cfg, frames=frames, output=out / "run")


def test_regression_learns_and_metrics_recompute(trained, vader_slice):
    train = vader_slice[:32]
    pred = pd.read_csv(trained.run_dir / "predictions.csv")
    assert list(pred.columns) == ["text", "gold", "predicted", "residual"]
    rmse = float(np.sqrt(((pred["predicted"] - pred["gold"]) ** 2).mean()))
    metrics = json.loads((trained.run_dir / "metrics.json").read_text())["test"]
    assert metrics["task"] == "regression"
    assert metrics["rmse"] == pytest.approx(rmse, abs=1e-5)
    assert metrics["spearman"] == pytest.approx(spearmanr(pred["gold"], pred["predicted"])[0])
    # Learnt something: the training rows are fitted better than by their mean.
    clf = trained.classifier()
    fitted = np.asarray(clf.predict(train["text"].tolist()))
    mean_rmse = float(np.sqrt(((train["score"] - train["score"].mean()) ** 2).mean()))
    fit_rmse = float(np.sqrt(((fitted - train["score"]) ** 2).mean()))
    assert fit_rmse < 0.3 * mean_rmse, (fit_rmse, mean_rmse)


def test_reloaded_model_equals_the_in_memory_one(trained, vader_slice):
    texts = vader_slice["text"][:16].tolist()
    clf = textclass.Classifier.load(trained.model_dir, device="cpu", precision="fp32")
    assert clf.task is REGRESSION
    reloaded = clf.predict_values(texts)
    in_memory = trained.model.float().eval()
    enc = clf.tokenizer(texts, padding=True, truncation=True, max_length=48, return_tensors="pt")
    with torch.no_grad():
        expected = in_memory(**enc).logits[:, 0].numpy()
    np.testing.assert_allclose(reloaded, expected, atol=1e-5)
    assert all(isinstance(v, float) for v in clf.predict(texts))
    with pytest.raises(textclass.TextclassError, match="predict_values"):
        clf.predict_proba(texts)


def test_evaluate_and_predict_file(trained, vader_slice, tmp_path):
    test = vader_slice[200:]
    path = tmp_path / "test.csv"
    test.to_csv(path, index=False)
    metrics, rows = evaluate_model(trained.model_dir, path)
    saved = json.loads((trained.run_dir / "metrics.json").read_text())["test"]
    assert metrics["rmse"] == pytest.approx(saved["rmse"], abs=2e-2)  # bf16 vs fp32 weights
    assert len(rows) == len(test)
    out = tmp_path / "preds.csv"
    assert predict_file(trained.model_dir, path, out, progress=False) == len(test)
    written = pd.read_csv(out)
    assert "predicted" in written and not any(c.startswith("prob_") for c in written)
    assert written["predicted"].dtype == float


def test_non_numeric_target_names_the_row(tiny_config, tmp_path, vader_slice):
    bad = vader_slice[:60].copy()
    bad["score"] = bad["score"].astype(object)
    bad.loc[7, "score"] = "very good"
    cfg = textclass.load_config(
        base={"name": "bad", "data": {"train": "unused"}},
        overrides=["data.task=regression", "data.label_column=score"],
    )
    with pytest.raises(DataError, match=r"row 8: column `score` holds 'very good'"):
        textclass.train(cfg, frames={"train": bad}, output=tmp_path / "bad")


def test_regression_exports_to_onnx(trained, vader_slice):
    from textclass.export.onnx import export_onnx

    texts = vader_slice["text"][:8].tolist()
    exported = export_onnx(trained.model_dir)
    onnx = textclass.Classifier.load(exported)
    torch_clf = textclass.Classifier.load(trained.model_dir, device="cpu", precision="fp32")
    np.testing.assert_allclose(
        onnx.predict_values(texts), torch_clf.predict_values(texts), atol=1e-4
    )
