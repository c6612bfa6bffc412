"""Every training run fits the TF-IDF baseline on its split and says, with a paired bootstrap
on the test rows, whether the model beats it: metrics.json, the report and the diagnosis."""

import json

import pandas as pd
import pytest

import textclass


def test_a_run_measures_reports_and_diagnoses_its_baseline(tiny_config):
    result = textclass.train(tiny_config("train.epochs=1"))
    run = result.run_dir
    metrics = json.loads((run / "metrics.json").read_text())
    base = metrics["baseline"]
    assert result.metrics["baseline"]["comparison"] == base["comparison"]
    assert base["fit_seconds"] < 1.0  # 100 training texts: it costs the run next to nothing
    assert "logistic regression" in base["description"] and base["penalty"]["name"] == "C"
    for split in ("validation", "test"):
        assert base[split]["n"] == metrics[split]["n"]  # the same rows as the model's
        lo, hi = base[split]["intervals"]["accuracy"]
        assert lo <= base[split]["accuracy"] <= hi

    c = base["comparison"]
    assert c["metric"] == "f1_macro"  # the run's selection metric (train.metric: auto)
    assert c["model"] == pytest.approx(metrics["test"]["f1_macro"])
    assert c["baseline"] == pytest.approx(base["test"]["f1_macro"])
    assert c["difference"] == pytest.approx(c["model"] - c["baseline"])
    assert c["n"] == len(pd.read_csv(run / "predictions.csv")) == 30
    assert c["low"] <= c["difference"] <= c["high"]
    expected = "better" if c["low"] > 0 else "worse" if c["high"] < 0 else "no_difference"
    assert c["verdict"] == expected

    report = json.loads((run / "report.json").read_text())
    assert report["baseline"]["comparison"] == c
    md = (run / "report.md").read_text()
    assert "### Against a baseline (TF-IDF + linear model)" in md
    assert f"model - baseline f1_macro **{c['difference']:+.4f} [" in md
    # The diagnosis flags a model that does not beat the baseline, in training and report alike.
    flagged = {f.check for f in result.findings}
    assert ("baseline" in flagged) == (c["verdict"] != "better")
    assert {f["check"] for f in report["diagnosis"]} == flagged


def test_the_baseline_can_be_turned_off(tiny_config):
    result = textclass.train(tiny_config("train.max_steps=2", "eval.baseline=false"))
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert set(metrics) == {"validation", "test", "calibration"}
    md = (result.run_dir / "report.md").read_text()
    assert "Not measured: the run had `eval.baseline: false`." in md
