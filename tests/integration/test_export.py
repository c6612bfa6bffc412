"""ONNX export: the exported model matches PyTorch, loads with Classifier.load, and serves."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.conftest import run_cli
from tests.serving_helpers import LABELS, load, make_model_dir, make_regression_model_dir
from textclass.config.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from textclass.errors import TextclassError
from textclass.export.onnx import compare_with_torch, export_onnx
from textclass.inference.onnx import OnnxSequenceClassifier

TEXTS = [
    "a gripping, beautifully shot film",
    "dull",
    "",
    "the plot goes nowhere, and the dialogue is wooden " * 6,  # truncated at max_length
    "<b>Loved it</b> &amp; would see it again: https://example.com",
    "not bad, not great",
    "meh.",
]


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir, tmp_path_factory):
    return make_model_dir(tiny_model_dir, tmp_path_factory.mktemp("export") / "model")


@pytest.fixture(scope="module")
def exported(model_dir):
    return export_onnx(model_dir)


def test_fp32_export_matches_pytorch(model_dir, exported):
    assert exported == model_dir.with_name("model-onnx")
    files = {p.name for p in exported.iterdir()}
    assert {"model.onnx", "config.json", "textclass.json", "tokenizer.json"} <= files
    assert "model.safetensors" not in files
    meta = json.loads((exported / "textclass.json").read_text())
    assert meta["labels"] == LABELS and meta["export"]["quantize"] is None
    assert meta["export"]["max_prob_diff"] <= 1e-4

    onnx_clf = load(exported)  # backend auto: ONNX Runtime, as there are no torch weights
    assert isinstance(onnx_clf.model, OnnxSequenceClassifier)
    assert onnx_clf.labels == LABELS and onnx_clf.max_length == 48
    torch_probs = load(model_dir).predict_proba(TEXTS)
    for batch_size in (1, 3, 64):  # dynamic batch and sequence axes
        onnx_probs = onnx_clf.predict_proba(TEXTS, batch_size=batch_size)
        assert np.abs(onnx_probs - torch_probs).max() <= 1e-4


def test_dynamic_axes(exported):
    import onnxruntime as ort

    session = ort.InferenceSession(str(exported / "model.onnx"))
    shapes = {i.name: i.shape for i in session.get_inputs()}
    assert shapes["input_ids"] == ["batch", "sequence"]
    assert shapes["attention_mask"] == ["batch", "sequence"]
    assert session.get_outputs()[0].shape == ["batch", 2]


def test_int8_export(model_dir, tmp_path):
    target = export_onnx(model_dir, tmp_path / "int8", quantize="int8")
    fp32_size = (model_dir.with_name("model-onnx") / "model.onnx").stat().st_size
    assert (target / "model.onnx").stat().st_size < fp32_size
    meta = json.loads((target / "textclass.json").read_text())
    assert meta["export"]["quantize"] == "int8"
    probs = load(target).predict_proba(TEXTS)
    assert np.abs(probs - load(model_dir).predict_proba(TEXTS)).max() < 0.05


def test_pair_model_export(tiny_model_dir, tmp_path):
    source = make_model_dir(tiny_model_dir, tmp_path / "model", pair=True)
    target = export_onnx(source, tmp_path / "onnx")
    texts, pairs = ["is it good?", "what year", ""], ["it is great", "1999", "nothing"]
    diff = load(target).predict_proba(texts, pairs) - load(source).predict_proba(texts, pairs)
    assert np.abs(diff).max() <= 1e-4


def test_parity_check_reads_outputs_as_the_task_does(model_dir):
    """Logits that differ by a constant: the same softmax, different sigmoids and values."""
    import torch
    from transformers import AutoTokenizer
    from transformers.modeling_outputs import SequenceClassifierOutput

    class Constant(torch.nn.Module):
        def __init__(self, value: float, outputs: int):
            super().__init__()
            self.value, self.outputs = value, outputs

        def forward(self, input_ids, **kw):
            logits = torch.full((len(input_ids), self.outputs), self.value)
            return SequenceClassifierOutput(logits=logits)

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = ["a", "b c"]

    def diff(a, b, outputs, task):
        pair = Constant(a, outputs), Constant(b, outputs)
        return compare_with_torch(*pair, tokenizer, texts, None, 16, task=task)

    assert diff(0.0, 1.0, 2, SINGLE_LABEL) < 1e-6
    assert diff(0.0, 1.0, 2, MULTI_LABEL) == pytest.approx(0.7311 - 0.5, abs=1e-4)
    assert diff(2.0, 2.5, 1, REGRESSION) == pytest.approx(0.5)


def test_regression_model_export(tiny_model_dir, tmp_path):
    source = make_regression_model_dir(tiny_model_dir, tmp_path / "model")
    target = export_onnx(source, tmp_path / "onnx")
    meta = json.loads((target / "textclass.json").read_text())
    assert meta["task"] == "regression" and meta["labels"] == ["score"]
    assert meta["export"]["max_prob_diff"] <= 1e-4  # values, compared as values
    onnx_clf, torch_clf = load(target), load(source)
    assert isinstance(onnx_clf.model, OnnxSequenceClassifier) and onnx_clf.task is REGRESSION
    np.testing.assert_allclose(
        onnx_clf.predict_values(TEXTS), torch_clf.predict_values(TEXTS), atol=1e-4
    )


ML_LABELS = ["action", "comedy", "drama"]


def _multi_label_model_dir(tiny_model_dir, dest):
    """`make_model_dir` for a multi-label model: three sigmoid outputs, tuned thresholds."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, BertForSequenceClassification

    from textclass.models.build import quiet_transformers

    config = AutoConfig.from_pretrained(
        tiny_model_dir,
        num_labels=len(ML_LABELS),
        id2label=dict(enumerate(ML_LABELS)),
        label2id={label: i for i, label in enumerate(ML_LABELS)},
        problem_type="multi_label_classification",
    )
    torch.manual_seed(0)
    with quiet_transformers():
        model = BertForSequenceClassification(config)
        with torch.no_grad():  # logits around 0: sigmoids on both sides of the thresholds
            model.classifier.bias.copy_(torch.tensor([0.3, -0.2, 0.0]))
        model.save_pretrained(dest)
        AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(dest)
    meta = {
        "format_version": 1,
        "task": "multi_label",
        "label_delimiter": "|",
        "labels": ML_LABELS,
        "thresholds": {"action": 0.5, "comedy": 0.45, "drama": 0.55},
        "columns": {"text": "text", "text_pair": None, "label": "label"},
        "max_length": 48,
        "base_model": "tiny-bert",
    }
    (dest / "textclass.json").write_text(json.dumps(meta))
    return dest


def test_multi_label_export_matches_pytorch_sigmoids(tiny_model_dir, tmp_path):
    source = _multi_label_model_dir(tiny_model_dir, tmp_path / "model")
    target = export_onnx(source, tmp_path / "onnx")
    assert json.loads((target / "textclass.json").read_text())["export"]["max_prob_diff"] <= 1e-4
    onnx_clf, torch_clf = load(target), load(source)
    assert isinstance(onnx_clf.model, OnnxSequenceClassifier) and onnx_clf.task is MULTI_LABEL
    expected = torch_clf.predict_proba(TEXTS)
    assert np.abs(expected.sum(axis=1) - 1).min() > 0.1  # independent sigmoids, no softmax
    np.testing.assert_allclose(onnx_clf.predict_proba(TEXTS), expected, atol=1e-4)
    assert onnx_clf.predict(TEXTS) == torch_clf.predict(TEXTS)


@pytest.mark.parametrize("task", ["multi_label", "regression"])
def test_export_check_sees_an_offset_a_softmax_would_hide(
    tiny_model_dir, tmp_path, task, monkeypatch
):
    """ONNX logits off by a constant: the same softmax, but other sigmoids and values. The
    check compares what the task predicts, so the export fails."""
    from transformers.modeling_outputs import SequenceClassifierOutput

    make = _multi_label_model_dir if task == "multi_label" else make_regression_model_dir
    source = make(tiny_model_dir, tmp_path / "model")
    forward = OnnxSequenceClassifier.forward

    def shifted(self, *args, **kwargs):
        return SequenceClassifierOutput(logits=forward(self, *args, **kwargs).logits + 0.5)

    monkeypatch.setattr(OnnxSequenceClassifier, "forward", shifted)
    with pytest.raises(TextclassError, match="differs from PyTorch"):
        export_onnx(source, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()


def test_exported_model_serves(exported, model_dir):
    from textclass.serving.app import create_app
    from textclass.serving.settings import ServeSettings

    app = create_app(ServeSettings(model_dir=exported))  # loaded in the lifespan
    with TestClient(app) as client:
        info = client.get("/v1/model").json()
        assert info["backend"] == "onnx" and info["labels"] == LABELS
        body = client.post("/v1/predict", json={"texts": TEXTS}).json()
    got = [[p["probabilities"][label] for label in LABELS] for p in body["predictions"]]
    np.testing.assert_allclose(got, load(model_dir).predict_proba(TEXTS), atol=1e-4)


def test_backend_choice_errors(model_dir, exported):
    with pytest.raises(TextclassError, match="textclass export"):
        load(model_dir, backend="onnx")
    with pytest.raises(TextclassError, match="use auto, torch or onnx"):
        load(model_dir, backend="tensorrt")
    with pytest.raises(TextclassError, match="already an ONNX export"):
        export_onnx(exported)
    with pytest.raises(TextclassError, match="only int8"):
        export_onnx(model_dir, quantize="int4")


def test_export_cli_on_a_trained_model(monkeypatch, capsys, tmp_path, tiny_config):
    import textclass

    result = textclass.train(tiny_config("train.max_steps=2"))
    out = tmp_path / "onnx"
    code, stdout, err = run_cli(
        monkeypatch, capsys, "export", str(result.model_dir), "--format", "onnx", "-o", str(out)
    )
    assert code == 0, err
    assert "max probability difference" in stdout and (out / "model.onnx").is_file()
    meta = json.loads((out / "textclass.json").read_text())
    assert (
        meta["metrics"] == json.loads((result.model_dir / "textclass.json").read_text())["metrics"]
    )

    # predict_file (and so `textclass predict`) runs the export through Classifier.load.
    texts = tmp_path / "new.csv"
    pd.DataFrame({"text": ["great film", "awful", "fine"]}).to_csv(texts, index=False)
    textclass.predict_file(out, texts, tmp_path / "onnx.csv", progress=False)
    rows = pd.read_csv(tmp_path / "onnx.csv")
    expected = load(result.model_dir).predict_proba(["great film", "awful", "fine"])
    np.testing.assert_allclose(rows[["prob_fresh", "prob_rotten"]], expected, atol=1e-4)

    code, _, err = run_cli(monkeypatch, capsys, "export", str(result.model_dir), "-o", str(out))
    assert code == 2 and "--overwrite" in err
    code, _, err = run_cli(monkeypatch, capsys, "export", str(result.model_dir), "--format", "tf")
    assert code == 2 and "only onnx" in err
