"""The regression report, built from a run directory written by hand (no training)."""

import re

import numpy as np
import pandas as pd
import pytest

from tests.unit.fake_runs import write_regression_run
from textclass.diagnosis.rules import RULES, diagnose
from textclass.reporting.build import build_report, write_report


def _section(md: str, title: str) -> str:
    return md.split(f"\n## {title}\n")[1].split("\n## ")[0]


@pytest.fixture
def regression_run(tmp_path):
    return write_regression_run(tmp_path / "scores")


def test_regression_report_shows_its_section(regression_run):
    paths = write_report(regression_run)
    md = paths["md"].read_text()
    titles = re.findall(r"^## (.+)$", md, flags=re.M)
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
    for classification_only in ("Confusion matrix", "ROC", "calibration", "per class", "F1"):
        assert classification_only not in md, classification_only
    assert "| epoch | step | train loss | val loss | val RMSE | val MAE | val R² |" in md
    assert "Mean squared error." in md  # the objective, without class weights

    # RMSE recomputed from predictions.csv, as shown (with its interval) in the headline and
    # the test table.
    frame = pd.read_csv(regression_run / "predictions.csv")
    gold, predicted = frame["gold"].to_numpy(), frame["predicted"].to_numpy()
    rmse = np.sqrt(np.mean((predicted - gold) ** 2))
    results = _section(md, "Results")
    test_table = results.split("### Test")[1].split("### Validation")[0]
    shown = re.search(r"^\| RMSE \| (\S+) \[(\S+), (\S+)\] \|$", test_table, flags=re.M)
    assert float(shown[1]) == pytest.approx(rmse, abs=5e-5)
    assert float(shown[2]) <= float(shown[1]) <= float(shown[3])
    assert f"Test RMSE **{rmse:.4f} [" in md

    # The mean predictor: the training mean recorded in data.json, for every test text.
    baseline = np.sqrt(np.mean((gold - 2.9) ** 2))
    assert f"predicting the training mean (2.9000) for every text gives RMSE {baseline:.4f}" in md

    # The first row of the largest errors is the row with the largest |residual|.
    worst = frame.loc[(frame["predicted"] - frame["gold"]).abs().idxmax()]
    errors = _section(md, "Error analysis (test)")
    first = [line for line in errors.splitlines() if line.startswith("| ")][1]
    cells = [c.strip() for c in first.strip("|").split("|")]
    assert cells[0] == " ".join(worst["text"].split())
    assert float(cells[1]) == pytest.approx(worst["gold"], abs=5e-5)
    assert float(cells[2]) == pytest.approx(worst["predicted"], abs=5e-5)

    assert (regression_run / "report_files" / "residuals_test.png").stat().st_size > 5000
    page = paths["html"].read_text()
    assert page.count("data:image/png;base64,") == 2  # training curves, residuals


def test_mean_baseline_without_a_recorded_training_mean(tmp_path):
    run = write_regression_run(tmp_path / "scores", train_mean=None)
    test = build_report(run)["results"]["test"]
    gold = pd.read_csv(run / "predictions.csv")["gold"].to_numpy()
    assert test["baseline"]["source"] == "test mean"
    assert test["baseline"]["rmse"] == pytest.approx(gold.std())


def test_a_model_no_better_than_the_mean_is_diagnosed(tmp_path):
    run = write_regression_run(tmp_path / "noise", quality=0.0)
    report = build_report(run)
    # The fake history's best is its last evaluation: still_improving fires on every fake run.
    checks = {d["check"]: d for d in report["diagnosis"] if d["check"] != "still_improving"}
    assert set(checks) == {"mean_baseline_validation", "mean_baseline_test"}
    assert "predicting the test mean" in checks["mean_baseline_test"]["evidence"]
    # Rules for classes stay silent on numeric targets; a good model passes.
    good = build_report(write_regression_run(tmp_path / "good"))
    assert [d["check"] for d in good["diagnosis"]] == ["still_improving"]


def test_report_lists_every_registered_rule(regression_run):
    md = write_report(regression_run)["md"].read_text()
    checked = md.split("### What was checked\n")[1]
    listed = re.findall(r"^- `([^`]+)`: ", checked, flags=re.M)
    assert listed == list(RULES)
    for rule in RULES.values():
        assert f"- `{rule.name}`: {rule.description}." in checked


def test_diagnose_runs_the_registry(monkeypatch):
    from textclass.diagnosis import rules

    seen = []
    monkeypatch.setitem(
        rules.RULES, "probe", rules.Rule("probe", "a probe", lambda **kw: seen.append(kw) or [])
    )
    diagnose({}, [], {"test": {"task": "regression", "r2": 0.5}}, {}, {})
    assert seen and seen[0]["task"].name == "regression"
