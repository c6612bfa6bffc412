"""`model.architecture: linear` end to end: trained by the CLI and by `textclass.train` on small
slices of real data, then loaded, predicted, evaluated, served, reported; export and doctor
refuse it. Metrics are recomputed from the predictions files, not taken from the run."""

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import accuracy_score, f1_score

import textclass
from tests.conftest import run_cli
from textclass.config.load import load_config
from textclass.config.tasks import LABEL_SEPARATOR, MULTI_LABEL
from textclass.inference.classifier import Classifier, LinearClassifier
from textclass.models.linear import LinearModel
from textclass.serving.app import create_app
from textclass.serving.settings import ServeSettings
from textclass.workflows import rundir

LINEAR = "model.architecture=linear"


@pytest.fixture
def linear_run(monkeypatch, capsys, tmp_path, tiny_config, rotten_files):
    """A linear run trained through the CLI on the small Rotten Tomatoes files (with the shared
    tiny overrides: the optimizer's settings are there and simply unused)."""
    cfg = tiny_config(LINEAR)
    config_file = tmp_path / "linear.yaml"
    config_file.write_text(cfg.to_yaml())
    run = tmp_path / "run"
    code, out, err = run_cli(monkeypatch, capsys, "train", str(config_file), "-o", str(run))
    assert code == 0, err
    assert "test accuracy" in out
    return run


def test_a_linear_run_writes_what_any_run_writes(linear_run, rotten_files):
    run = linear_run
    model_dir = run / rundir.MODEL
    assert {p.name for p in model_dir.iterdir()} == {
        "linear.safetensors", "linear.json", "textclass.json", "config.yaml", "environment.json"
    }  # fmt: skip
    meta = json.loads((model_dir / "textclass.json").read_text())
    assert meta["architecture"] == "linear" and meta["labels"] == ["fresh", "rotten"]
    assert meta["task"] == "single_label" and meta["columns"]["text"] == "text"
    assert meta["max_length"] is None and "cleaning" in meta

    # The metrics recomputed from the predictions file the run wrote.
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("validation", "test"):
        frame = rundir.read_predictions_file(run / rundir.PREDICTIONS[split])
        assert metrics[split]["accuracy"] == pytest.approx(
            accuracy_score(frame["gold"], frame["predicted"])
        )
        assert metrics[split]["f1_macro"] == pytest.approx(
            f1_score(frame["gold"], frame["predicted"], average="macro")
        )
        probs = frame[["prob_fresh", "prob_rotten"]].to_numpy()
        picked = np.array(["fresh", "rotten"])[probs.argmax(axis=1)]
        assert (picked == frame["predicted"]).all()
    assert metrics["baseline"]["skipped"].startswith("the model is the TF-IDF + linear model")

    # The loaded model predicts the predictions file again.
    clf = Classifier.load(model_dir)
    assert isinstance(clf, LinearClassifier)
    test = rundir.read_predictions_file(run / "predictions.csv")
    got = clf.predict_proba(test["text"].tolist())
    np.testing.assert_allclose(got, test[["prob_fresh", "prob_rotten"]].to_numpy(), atol=1e-6)

    state = json.loads((run / "history.json").read_text())
    fit = state["extras"]["linear"]
    assert state["history"] == [] and fit["penalty"]["name"] == "C"
    assert {s["value"] for s in fit["validation_scores"]} == {1.0, 4.0, 16.0}
    md = (run / "report.md").read_text()
    assert "No training loop: TF-IDF (word 1-2-grams, character 3-5-grams)" in md
    assert "Not measured: the model is the TF-IDF + linear model itself" in md
    assert "| model.architecture | linear |" in md and "train.lr" not in md


def test_evaluate_predict_serve_and_the_refusals(
    linear_run, monkeypatch, capsys, tmp_path, rotten_files
):
    model_dir = linear_run / rundir.MODEL
    out = tmp_path / "m.json"
    code, _, err = run_cli(
        monkeypatch, capsys, "evaluate", str(model_dir), "--data", str(rotten_files["test"]),
        "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    saved = json.loads((linear_run / "metrics.json").read_text())["test"]
    assert json.loads(out.read_text())["accuracy"] == pytest.approx(saved["accuracy"])

    new = tmp_path / "new.csv"
    pd.DataFrame({"text": ["a gripping film", "dull and far too long"]}).to_csv(new, index=False)
    preds = tmp_path / "preds.csv"
    code, _, err = run_cli(
        monkeypatch, capsys, "predict", str(model_dir), "-i", str(new), "-o", str(preds)
    )
    assert code == 0, err
    frame = pd.read_csv(preds)
    clf = Classifier.load(model_dir)
    assert frame["predicted"].tolist() == clf.predict(frame["text"].tolist())

    app = create_app(ServeSettings(model_dir=model_dir))
    with TestClient(app) as client:
        info = client.get("/v1/model").json()
        assert info["architecture"] == "linear" and info["backend"] == "numpy"
        assert info["max_length"] is None and info["labels"] == ["fresh", "rotten"]
        assert len(info["version"]) == 12  # the linear weights' hash
        body = client.post("/v1/predict", json={"texts": frame["text"].tolist()}).json()
    served = [[p["probabilities"][lab] for lab in clf.labels] for p in body["predictions"]]
    np.testing.assert_allclose(served, clf.predict_proba(frame["text"].tolist()), atol=1e-6)

    code, _, err = run_cli(monkeypatch, capsys, "export", str(model_dir))
    assert code != 0 and "cannot be exported to ONNX" in err and "#446" in err
    assert "textclass serve" in err
    code, _, err = run_cli(monkeypatch, capsys, "doctor", str(linear_run / "config.yaml"))
    assert code != 0 and "nothing to tune" in err


def test_multilabel_and_regression_linear_runs(tmp_path):
    base = {"name": "lin", "output": {"dir": str(tmp_path)}}
    cfg = load_config(
        base={**base, "data": {"dataset": "trec_multilabel", "max_samples": 300}},
        overrides=[LINEAR, "train.metric=f1_micro"],
    )
    result = textclass.train(cfg, output=tmp_path / "multi", report=False)
    clf = result.classifier()
    assert clf.task is MULTI_LABEL and result.thresholds is not None
    tuned = json.loads((result.model_dir / "textclass.json").read_text())["thresholds"]
    np.testing.assert_allclose(clf.thresholds, [tuned[label] for label in clf.labels])
    test = rundir.read_predictions_file(result.run_dir / "predictions.csv")
    decided = clf.predict(test["text"].tolist())
    assert [LABEL_SEPARATOR.join(d) for d in decided] == test["predicted"].tolist()
    y = MULTI_LABEL.targets(test["gold"].str.split(LABEL_SEPARATOR), clf.labels)
    chosen = MULTI_LABEL.decide_ids(clf.predict_proba(test["text"].tolist()), clf.thresholds)
    assert result.metrics["test"]["f1_micro"] == pytest.approx(
        f1_score(y, chosen, average="micro", zero_division=0), abs=1e-6
    )

    cfg = load_config(
        base={**base, "data": {"dataset": "vader", "max_samples": 300}}, overrides=[LINEAR]
    )
    result = textclass.train(cfg, output=tmp_path / "reg")
    clf = result.classifier()
    test = rundir.read_predictions_file(result.run_dir / "predictions.csv")
    values = clf.predict_values(test["text"].tolist())
    np.testing.assert_allclose(values, test["predicted"].astype(float), atol=1e-5)
    gold = test["gold"].astype(float).to_numpy()
    rmse = float(np.sqrt(np.mean((test["predicted"].astype(float) - gold) ** 2)))
    assert result.metrics["test"]["rmse"] == pytest.approx(rmse, abs=1e-5)
    assert isinstance(result.model, LinearModel)
    np.testing.assert_array_equal(result.model.outputs(test["text"].tolist()), values)
    assert (result.run_dir / "report.md").is_file()
