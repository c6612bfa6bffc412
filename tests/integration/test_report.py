"""The report's numbers, its rendering, and the diagnosis of deliberately broken runs."""

import json
import logging
import re

import numpy as np
import pandas as pd
import pytest

import textclass
from textclass.data import datasets
from textclass.diagnosis.doctor import doctor
from textclass.reporting.build import write_report
from textclass.reporting.compare import compare_runs, render_comparison
from textclass.training.callbacks import Callback


class OneClassLabels(Callback):
    """A pipeline bug: every training label overwritten with the first class."""

    def on_train_begin(self, state, **kw):
        kw["train_data"].labels = np.zeros_like(kw["train_data"].labels)


def _ids(result) -> set[str]:
    return {f.check for f in result.findings}


@pytest.fixture
def spam_config(tmp_path, tiny_model_dir):
    """Balanced SMS spam slice: a lexical task even a tiny random model learns."""
    frame = datasets.load("sms_spam").groupby("label", group_keys=False).sample(160, random_state=0)
    path = tmp_path / "spam.csv"
    frame.to_csv(path, index=False)
    from tests.conftest import tiny_overrides
    from textclass.config.load import load_config

    def build(*overrides):
        base = [f"data.train={path}", *tiny_overrides(tiny_model_dir, tmp_path / "runs")]
        return load_config(base={"name": "spam"}, overrides=[*base, *overrides])

    return build


def test_healthy_run_report_is_complete_and_consistent(spam_config):
    result = textclass.train(spam_config("train.epochs=4"))
    run = result.run_dir
    report = json.loads((run / "report.json").read_text())
    test = report["results"]["test"]
    cm = np.array(test["confusion_matrix"])
    assert cm.sum() == test["n"] == len(pd.read_csv(run / "predictions.csv"))
    assert test["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    for name in ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro"):
        lo, hi = test["intervals"][name]
        assert lo <= test[name] <= hi, name
    for label, row in test["per_class"].items():
        lo, hi = test["intervals"]["per_class"][label]["f1"]
        assert lo <= row["f1"] <= hi
    assert 0 <= test["calibration"]["ece"] <= 1
    assert sum(b["n"] for b in test["calibration"]["bins"]) == test["n"]
    assert report["data"]["sizes"]["test"] == test["n"]
    best = [h for h in result.history if h["is_best"]][-1]
    assert report["training"]["selected_step"] == best["step"]
    assert report["integrity"]["evaluated_sha256"] == report["integrity"]["selected_sha256"]
    assert report["observations"] and report["model"]["parameters"] > 0

    md = (run / "report.md").read_text()
    # Accuracy recomputed from the predictions file's label strings, as the report shows it.
    preds = pd.read_csv(run / "predictions.csv", dtype=str, keep_default_na=False)
    accuracy = (preds["gold"] == preds["predicted"]).mean()
    assert test["accuracy"] == pytest.approx(accuracy)
    assert f"Test accuracy **{accuracy:.4f} [" in md
    assert f"| accuracy | {accuracy:.4f} [" in md
    sections = re.split(r"^## ", md, flags=re.M)[1:]
    titles = [s.splitlines()[0] for s in sections]
    assert titles == [
        "Model",
        "Configuration",
        "Data",
        "Training progress",
        "Results",
        "Error analysis (test)",
        "Observations",
        "Diagnosis and recommendations",
    ]
    for section in sections:
        assert len(section.strip().splitlines()) > 2, section[:40]  # no empty section
    assert "[Describe" not in md and "TODO" not in md
    assert "### Training objective\n\nCross-entropy; no class weights." in md
    # Set to 48 tokens, longer messages keep their start and end (truncation auto: head+tail).
    assert "Transformer encoder" in md
    assert "| longer texts | truncated to 48 tokens: the first 12 and the last 34 |" in md
    for figure in re.findall(r"\]\((report_files/[^)]+)\)", md):
        assert (run / figure).stat().st_size > 5000

    page = (run / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5  # with the reliability before/after

    # Calibration: the ECE after scaling (metrics.json) is the one of the predictions file.
    cal = report["calibration"]
    assert cal["method"] == "temperature"
    assert cal["splits"]["test"]["after"]["ece"] == pytest.approx(
        test["calibration"]["ece"], abs=1e-5
    )
    assert "### Calibrated probabilities" in md and "reliability_test.png" in md
    if cal["applied"]:
        assert f"**T = {cal['temperature']:.3f}**" in md
    else:
        assert cal["temperature"] == 1.0 and cal["reason"] in md
    assert not re.search(r"(src|href)=\"https?://", page)  # opens offline


def test_report_command_rebuilds_the_same_numbers(spam_config):
    result = textclass.train(spam_config("train.max_steps=4"), report=False)
    assert not (result.run_dir / "report.md").exists()
    paths = write_report(result.run_dir)
    report = json.loads(paths["json"].read_text())
    preds = pd.read_csv(result.run_dir / "predictions.csv", dtype=str, keep_default_na=False)
    accuracy = (preds["gold"] == preds["predicted"]).mean()
    assert report["results"]["test"]["accuracy"] == pytest.approx(accuracy)
    assert f"| accuracy | {accuracy:.4f} [" in paths["md"].read_text()


def test_learning_rate_zero_is_diagnosed(spam_config):
    cfg = spam_config("train.lr=0", "train.epochs=2")
    result = textclass.train(cfg)
    finding = next(f for f in result.findings if f.check == "no_learning")
    assert finding.severity == "fail"
    assert any("learning rate is 0" in c for c in finding.causes)
    checks = {c.name: c for c in doctor(cfg)}
    assert checks["learning-rate schedule"].status == "fail"
    assert checks["can overfit a few batches"].status == "fail"


def test_frozen_encoder_and_head_are_diagnosed(spam_config):
    cfg = spam_config("model.freeze=all", "train.epochs=2")
    result = textclass.train(cfg)
    finding = next(f for f in result.findings if f.check == "no_learning")
    assert "every parameter is frozen" in finding.causes[0]
    assert "model.freeze" in finding.recommendation
    checks = {c.name: c for c in doctor(cfg)}
    assert checks["head trainable and in optimizer"].status == "fail"
    assert checks["can overfit a few batches"].status == "fail"


def test_labels_collapsed_in_the_pipeline_are_diagnosed(spam_config, caplog):
    cfg = spam_config("train.epochs=3")
    with caplog.at_level(logging.WARNING, logger="textclass"):
        result = textclass.train(cfg, callbacks=[OneClassLabels()])
    assert "saw only label `ham`" in caplog.text  # warned during training, at step 20
    ids = _ids(result)
    assert "batch_labels_identical" in ids
    assert "collapse_test" in ids
    report = (result.run_dir / "report.md").read_text()
    assert "Every batch the model saw had the same label" in report
    checks = {c.name: c for c in doctor(cfg, callbacks=[OneClassLabels()])}
    assert checks["batches follow the label mix"].status == "fail"
    assert checks["loss responds to the labels"].status == "fail"


def test_diverged_run_that_predicts_one_class_is_diagnosed(spam_config):
    result = textclass.train(
        spam_config("train.lr=3", "train.epochs=2", "train.max_grad_norm=null")
    )
    collapse = next(f for f in result.findings if f.check == "collapse_test")
    assert "100%" in collapse.evidence and "majority-class baseline" in collapse.evidence
    preds = pd.read_csv(result.run_dir / "predictions.csv")
    assert preds["predicted"].nunique() == 1
    checks = {c.name: c for c in doctor(spam_config("train.lr=3", "train.max_grad_norm=null"))}
    assert checks["can overfit a few batches"].status == "fail"


def test_healthy_config_passes_doctor(spam_config):
    checks = doctor(spam_config("train.lr=3e-3"), steps=100)
    assert [c.status for c in checks] == ["pass"] * len(checks), [c.to_dict() for c in checks]


def test_compare_runs(spam_config):
    a = textclass.train(spam_config("train.max_steps=3"), report=False)
    b = textclass.train(spam_config("train.max_steps=3", "train.lr=5e-4"), report=False)
    comparison = compare_runs([a.run_dir, b.run_dir])
    assert comparison["config_differences"]["train.lr"] == [1e-3, 5e-4]
    row = comparison["metrics"][0]["test_accuracy"]
    assert row[1] <= row[0] <= row[2]
    text = render_comparison(comparison)
    assert "train.lr" in text and str(a.run_dir) in text
