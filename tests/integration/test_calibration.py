"""Temperature scaling end to end: fitted in a run, saved in textclass.json, and applied alike
by the loaded model, its ONNX export and the server; decisions never change. Probabilities are
recomputed from the uncalibrated model, not read back from the run."""

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import textclass
from tests.serving_helpers import load, make_model_dir
from textclass.config.tasks import MULTI_LABEL, SINGLE_LABEL
from textclass.evaluation import calibration
from textclass.evaluation.calibration import calibration as ece_of
from textclass.serving.app import create_app
from textclass.serving.settings import ServeSettings
from textclass.workflows import rundir

TEXTS = ["a gripping, beautifully shot film", "dull", "", "not bad, not great", "meh." * 30]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _uncalibrated(clf):
    """The same loaded model with its temperature taken away."""
    clf.temperature = None
    return clf


@pytest.fixture
def forced_temperature(monkeypatch):
    """The real fit, then its temperature forced to apply (a tiny model's own fit may keep 1):
    what every later stage does with an applied T is what these tests check."""
    real = calibration.fit_temperature

    def fit(logits, y, task):
        _, record = real(logits, y, task)
        value = 2.5 if task is SINGLE_LABEL else [2.5 + 0.5 * k for k in range(logits.shape[1])]
        record.update(temperature=value, applied=True, reason=None)
        return np.asarray(value), record

    monkeypatch.setattr("textclass.workflows.train.fit_temperature", fit)


def test_a_run_saves_t_and_the_loaded_model_applies_it(tiny_config, forced_temperature):
    result = textclass.train(tiny_config("train.epochs=1"), report=False)
    meta = json.loads((result.model_dir / rundir.MODEL_META).read_text())
    metrics = json.loads((result.run_dir / rundir.METRICS).read_text())
    assert meta["temperature"] == 2.5 == metrics["calibration"]["temperature"]
    test = rundir.read_predictions_file(result.run_dir / rundir.PREDICTIONS["test"])
    texts, probs = test["text"].tolist(), test[["prob_fresh", "prob_rotten"]].to_numpy()

    clf = load(result.model_dir)
    np.testing.assert_allclose(clf.predict_proba(texts), probs, atol=1e-6)
    assert clf.predict(texts) == test["predicted"].tolist()
    # Recomputed: softmax(logits / T) from the uncalibrated model (log p = logits + const).
    raw = _uncalibrated(load(result.model_dir)).predict_proba(texts)
    np.testing.assert_allclose(_softmax(np.log(raw) / 2.5), probs, atol=2e-6)
    assert np.array_equal(raw.argmax(axis=1), probs.argmax(axis=1))
    assert not np.allclose(raw, probs, atol=1e-3)
    # metrics.json: ECE of the written probabilities after, of the raw ones before.
    y = SINGLE_LABEL.targets(test["gold"], ["fresh", "rotten"])
    splits = metrics["calibration"]["splits"]["test"]
    assert splits["after"]["ece"] == pytest.approx(ece_of(probs, y)["ece"], abs=1e-5)
    assert splits["before"]["ece"] == pytest.approx(ece_of(raw, y)["ece"], abs=1e-5)
    assert metrics["test"]["ece"] == splits["after"]["ece"]


def test_multi_label_decisions_are_those_of_the_uncalibrated_model(
    tmp_path, tiny_model_dir, forced_temperature
):
    from tests.conftest import tiny_overrides

    cfg = textclass.load_config(
        base={"name": "ml"},
        overrides=[
            "data.dataset=trec_multilabel",
            "data.max_samples=300",
            *tiny_overrides(tiny_model_dir, tmp_path / "runs"),
            "train.max_steps=6",
            "train.loss.pos_weight=balanced",
        ],
    )
    result = textclass.train(cfg, report=False)
    clf = load(result.model_dir)
    temperature = clf.meta["temperature"]
    assert isinstance(temperature, list) and len(temperature) == len(clf.labels)
    test = rundir.read_predictions_file(result.run_dir / rundir.PREDICTIONS["test"])
    texts = test["text"].tolist()
    calibrated = clf.predict_proba(texts)
    np.testing.assert_allclose(
        calibrated, test[[f"prob_{label}" for label in clf.labels]].to_numpy(), atol=1e-6
    )
    decided = [MULTI_LABEL.format_prediction(d) for d in clf.predict(texts)]
    assert decided == test["predicted"].tolist()
    # The same decisions from the raw probabilities at the thresholds before scaling, but
    # where a float32 probability lies within its rounding of the cut (this tiny model's
    # outputs barely vary from text to text, so a few do).
    raw = _uncalibrated(load(result.model_dir)).predict_proba(texts)
    cuts = calibration.scale_thresholds(clf.thresholds, 1 / np.asarray(temperature))
    differ = (raw >= cuts) != (calibrated >= clf.thresholds)
    assert (np.abs(raw - cuts)[differ] < 1e-6).all() and differ.mean() < 0.01


def test_calibration_none_and_a_linear_model(tiny_config):
    """`eval.calibration: none` scales nothing; a linear model is calibrated as any other."""
    off = textclass.train(tiny_config("model.architecture=linear", "eval.calibration=none"))
    metrics = json.loads((off.run_dir / rundir.METRICS).read_text())
    assert metrics["calibration"]["method"] == "none" and not metrics["calibration"]["applied"]
    assert load(off.model_dir).temperature is None
    assert "Not calibrated: eval.calibration is none" in (off.run_dir / "report.md").read_text()

    on = textclass.train(tiny_config("model.architecture=linear"), report=False)
    record = json.loads((on.run_dir / rundir.METRICS).read_text())["calibration"]
    assert record["method"] == "temperature"
    assert (record["temperature"] != 1.0) == record["applied"]
    test = rundir.read_predictions_file(on.run_dir / rundir.PREDICTIONS["test"])
    texts, probs = test["text"].tolist(), test[["prob_fresh", "prob_rotten"]].to_numpy()
    np.testing.assert_allclose(load(on.model_dir).predict_proba(texts), probs, atol=1e-6)
    raw = _uncalibrated(load(on.model_dir)).predict_proba(texts)
    expected = _softmax(np.log(raw) / record["temperature"])
    np.testing.assert_allclose(expected, probs, atol=2e-6)


def test_onnx_and_serve_apply_the_saved_temperature(tiny_model_dir, tmp_path):
    from textclass.export.onnx import export_onnx

    model_dir = make_model_dir(tiny_model_dir, tmp_path / "model")
    raw = load(model_dir).predict_proba(TEXTS)
    meta = json.loads((model_dir / rundir.MODEL_META).read_text())
    (model_dir / rundir.MODEL_META).write_text(json.dumps({**meta, "temperature": 0.05}))
    clf = load(model_dir)
    probs = clf.predict_proba(TEXTS)
    np.testing.assert_allclose(probs, _softmax(np.log(raw) / 0.05), atol=1e-5)
    assert np.array_equal(probs.argmax(axis=1), raw.argmax(axis=1))

    exported = export_onnx(model_dir, tmp_path / "onnx")
    assert json.loads((exported / rundir.MODEL_META).read_text())["temperature"] == 0.05
    onnx = load(exported)
    assert np.abs(onnx.predict_proba(TEXTS) - probs).max() <= 1e-4

    app = create_app(ServeSettings(model_dir=model_dir), classifier=clf)
    with TestClient(app) as client:
        body = client.post("/v1/predict", json={"texts": TEXTS}).json()
    served = pd.DataFrame([p["probabilities"] for p in body["predictions"]])[clf.labels]
    np.testing.assert_allclose(served.to_numpy(), probs, atol=1e-5)
