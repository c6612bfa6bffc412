"""The TF-IDF baseline (textclass.evaluation.baseline), the paired bootstrap that compares a
model with it, its report section and its diagnosis rule: on small slices of the bundled data
and on hand-written runs, nothing trained but the linear models."""

import dataclasses
import json

import numpy as np
import pytest
import yaml
from sklearn.metrics import f1_score

from tests.unit.fake_runs import write_classification_run
from textclass.config.load import load_config
from textclass.config.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from textclass.data.prepare import prepare_data
from textclass.diagnosis.rules import check_baseline, check_truncation
from textclass.evaluation.baseline import compare, fit_baseline
from textclass.evaluation.intervals import paired_bootstrap
from textclass.reporting.build import build_report, write_report
from textclass.reporting.render import render_markdown, report_blocks


def _data(dataset: str, rows: int = 600):
    cfg = load_config(base={"name": "t", "data": {"dataset": dataset, "max_samples": rows}})
    return prepare_data(cfg.data, cfg.seed)


@pytest.fixture(scope="module")
def trec():
    data = _data("trec")
    return data, fit_baseline(data, "f1_macro", seed=0)


def test_baseline_learns_trec_and_its_metrics_recompute_from_its_outputs(trec):
    data, baseline = trec
    y = data.targets("test")
    probs = baseline.outputs["test"]
    assert probs.shape == (len(data.splits["test"]), len(data.labels))  # aligned with the rows
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    test = baseline.metrics["test"]
    accuracy = (probs.argmax(axis=1) == y).mean()
    assert test["accuracy"] == pytest.approx(accuracy)
    assert test["f1_macro"] == pytest.approx(f1_score(y, probs.argmax(axis=1), average="macro"))
    # Six classes, the largest under a quarter of the questions: far above chance.
    assert np.bincount(y).max() / len(y) < 0.3 and accuracy > 0.6
    lo, hi = test["intervals"]["accuracy"]
    assert lo <= accuracy <= hi and hi - lo < 0.3
    # The penalty chosen is the one with the best validation score among those tried.
    assert baseline.penalty == "C" and len(baseline.scores) >= 3
    assert baseline.scores[baseline.value] == max(baseline.scores.values())
    assert baseline.fit_seconds < 10 and baseline.features > 1000
    saved = json.loads(json.dumps(baseline.to_dict()))  # what metrics.json keeps
    assert saved["penalty"] == {"name": "C", "value": baseline.value}
    assert saved["test"]["accuracy"] == test["accuracy"]


def test_regression_and_multilabel_baselines():
    data = _data("vader", 400)
    baseline = fit_baseline(data, "rmse", seed=0)
    y, values = data.targets("test"), baseline.outputs["test"]
    assert baseline.penalty == "alpha" and values.shape == y.shape
    rmse = float(np.sqrt(np.mean((values - y) ** 2)))
    assert baseline.metrics["test"]["rmse"] == pytest.approx(rmse, rel=1e-5)
    assert rmse < y.std()  # better than predicting the mean
    assert baseline.scores[baseline.value] == min(baseline.scores.values())  # lower is better

    data = _data("trec_multilabel", 200)
    baseline = fit_baseline(data, "f1_micro", seed=0)
    y, probs = data.targets("test"), baseline.outputs["test"]
    assert probs.shape == y.shape and len(baseline.thresholds) == len(data.labels)
    decided = MULTI_LABEL.decide_ids(probs, baseline.thresholds)
    test = baseline.metrics["test"]
    assert test["f1_micro"] == pytest.approx(f1_score(y, decided, average="micro", zero_division=0))
    for name in ("f1_micro", "f1_macro", "f1_samples", "hamming_loss"):
        lo, hi = test["intervals"][name]
        assert lo <= test[name] <= hi, name


def test_text_pairs_are_read_as_one_text(trec):
    data, _ = trec
    splits = {
        name: frame.assign(text_pair=frame["text"].str.split().str[0])
        for name, frame in data.splits.items()
    }
    baseline = fit_baseline(dataclasses.replace(data, splits=splits), "accuracy", seed=0)
    assert baseline.metrics["test"]["accuracy"] > 0.5


# ---------------------------------------------------------------- the paired bootstrap


def test_paired_bootstrap_of_identical_systems_is_exactly_zero():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    probs = rng.dirichlet(np.ones(3), 200)
    c = compare(SINGLE_LABEL, y, probs, probs.copy(), ["a", "b", "c"], "f1_macro")
    assert c["difference"] == 0 and (c["low"], c["high"]) == (0, 0)
    assert c["verdict"] == "no_difference" and c["model"] == c["baseline"]


def test_paired_bootstrap_finds_a_strictly_better_model():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    base = np.where(rng.random(300) < 0.7, y, 1 - y)  # 70% right
    better = np.where(rng.random(300) < 0.5, y, base)  # right wherever base is, and more
    assert ((better == y) >= (base == y)).all()
    onehot = np.eye(2)
    c = compare(SINGLE_LABEL, y, onehot[better], onehot[base], ["x", "y"], "accuracy", seed=3)
    assert c["model"] == pytest.approx((better == y).mean())
    assert c["baseline"] == pytest.approx((base == y).mean())
    assert 0 < c["low"] <= c["difference"] <= c["high"] and c["verdict"] == "better"
    reverse = compare(SINGLE_LABEL, y, onehot[base], onehot[better], ["x", "y"], "accuracy")
    assert reverse["high"] < 0 and reverse["verdict"] == "worse"


def test_paired_bootstrap_respects_lower_is_better_and_falls_back_from_roc_auc():
    rng = np.random.default_rng(2)
    y = rng.normal(size=400)
    close, far = y + rng.normal(0, 0.1, 400), y + rng.normal(0, 1.0, 400)
    c = compare(REGRESSION, y, close, far, ["score"], "rmse")
    assert c["lower_is_better"] and c["difference"] < 0 and c["high"] < 0
    assert c["verdict"] == "better"
    probs = np.eye(2)[(y > 0).astype(int)]
    c = compare(SINGLE_LABEL, (y > 0).astype(int), probs, probs, ["n", "p"], "roc_auc")
    assert c["metric"] == "f1_macro"  # no resampled ROC-AUC: the task's default metric


def test_paired_bootstrap_is_seeded_and_pairs_the_rows():
    a = np.array([1.0, 0.0] * 50)
    score = lambda values: lambda idx: values[idx].mean(axis=1)  # noqa: E731
    one = paired_bootstrap(score(a), score(a * 0.5), 100, seed=7)
    assert one == paired_bootstrap(score(a), score(a * 0.5), 100, seed=7)
    # a - a/2 = a/2 on every resample: the interval is that of a/2's mean, not wider.
    halves = paired_bootstrap(score(a * 0.5), score(a * 0.0), 100, seed=7)
    assert (one["low"], one["high"]) == (halves["low"], halves["high"])


# ---------------------------------------------------------------- report and diagnosis


def _with_baseline(run, verdict: str, model: float = 0.70, base: float = 0.80) -> None:
    """Add metrics.json's `baseline` to a hand-written run."""
    metrics = json.loads((run / "metrics.json").read_text())
    low, high = {"better": (0.02, 0.1), "worse": (-0.15, -0.05), "no_difference": (-0.1, 0.02)}[
        verdict
    ]
    entry = {
        "description": "TF-IDF (word 1-2-grams, character 3-5-grams) + logistic regression",
        "metric": "f1_macro",
        "penalty": {"name": "C", "value": 4.0},
        "validation_scores": [{"value": 1.0, "score": 0.7}, {"value": 4.0, "score": 0.8}],
        "features": 1234,
        "fit_seconds": 0.2,
        "thresholds": None,
        "comparison": {
            "metric": "f1_macro",
            "lower_is_better": False,
            "model": model,
            "baseline": base,
            "difference": model - base,
            "low": low,
            "high": high,
            "n": 60,
            "resamples": 1000,
            "confidence": 0.95,
            "verdict": verdict,
        },
    }
    for split in ("validation", "test"):
        entry[split] = metrics[split] | {"f1_macro": base, "intervals": {"f1_macro": [0.7, 0.9]}}
    metrics["baseline"] = entry
    (run / "metrics.json").write_text(json.dumps(metrics))


def test_report_section_and_diagnosis_of_a_model_worse_than_its_baseline(tmp_path):
    run = write_classification_run(tmp_path / "run", ["neg", "pos"])
    _with_baseline(run, "worse")
    report = build_report(run)
    (finding,) = [f for f in report["diagnosis"] if f["check"] == "baseline"]
    assert finding["severity"] == "fail" and "worse than" in finding["title"]
    assert "0.7000 vs 0.8000" in finding["evidence"] and "[-0.1500, -0.0500]" in finding["evidence"]
    # 24 optimizer steps in the run's history: too little training, and the fix says so.
    assert any("too little training" in c for c in finding["causes"])
    assert "train.epochs=4" in finding["recommendation"]
    rows = {r["metric"]: r for r in report["baseline"]["rows"]}
    assert rows["f1_macro"]["test"]["baseline"] == [0.8, [0.7, 0.9]]
    md = write_report(run)["md"].read_text()
    assert "### Against a baseline (TF-IDF + linear model)" in md
    assert "**the model is worse than the baseline**" in md
    assert "model - baseline f1_macro **-0.1000 [-0.1500, -0.0500]**" in md
    assert "Against the TF-IDF baseline: test f1_macro 0.7000 vs 0.8000" in md


def test_no_finding_when_the_model_beats_its_baseline(tmp_path):
    run = write_classification_run(tmp_path / "run", ["neg", "pos"])
    _with_baseline(run, "better", model=0.9, base=0.8)
    report = build_report(run)
    assert not [f for f in report["diagnosis"] if f["check"] == "baseline"]
    md = render_markdown(report_blocks(report), "report_files", {})
    assert "the model is better than the baseline" in md


def _markdown(run) -> str:
    return render_markdown(report_blocks(build_report(run)), "report_files", {})


def test_runs_without_a_baseline_say_why(tmp_path):
    run = write_classification_run(tmp_path / "run", ["neg", "pos"])  # no eval.baseline key
    assert "Not measured: the run predates baselines." in _markdown(run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump(config | {"eval": {"baseline": False}}))
    assert "Not measured: the run had `eval.baseline: false`." in _markdown(run)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["baseline"] = {"skipped": "the baseline could not be fitted: no features"}
    (run / "metrics.json").write_text(json.dumps(metrics))
    assert not [f for f in build_report(run)["diagnosis"] if f["check"] == "baseline"]
    assert "Not measured: the baseline could not be fitted: no features." in _markdown(run)


def test_baseline_rule_names_truncation_and_learning_rate_from_the_record():
    metrics = {"baseline": {"comparison": _comparison("no_difference", n=5000)}}
    config = {
        "model": {"architecture": "transformer", "pretrained": True, "max_length": 64},
        "train": {"epochs": 3, "lr": 1e-3},
    }
    train_cut = {"texts": 100, "texts_longer": 70, "tokens": 20000, "tokens_dropped": 9000}
    train_cut |= {"texts_longer_share": 0.7, "tokens_dropped_share": 0.45}
    record = {"max_length": 64, "strategy": "head", "position_limit": 512, "reason": "set"}
    data = {"truncation": {**record, "splits": {"train": train_cut}}}
    history = [{"step": 900, "is_best": True}, {"step": 1800, "is_best": False}]
    (finding,) = check_baseline(
        metrics=metrics,
        history=history,
        monitor={"steps": {"lr": [1e-3, 5e-4]}},
        data_stats=data,
        task=SINGLE_LABEL,
        config=config,
    )
    assert finding.severity == "warn" and "no better than" in finding.title
    assert finding.causes[0].startswith("truncation: 45% of the training text is cut away")
    assert "learning rate 0.001 is high for a pretrained encoder" in finding.causes[1]
    assert "too little training" not in " ".join(finding.causes)  # 1,800 steps, past its best
    assert "model.max_length" in finding.recommendation and "train.lr" in finding.recommendation
    assert "model.truncation=windows" in finding.recommendation
    assert "45% of the training tokens not read (head, 64 tokens)" in finding.evidence
    (warning,) = check_truncation(data_stats=data)
    assert "9,000 of 20,000 training tokens (45%)" in warning.evidence
    # Windows that read (nearly) the whole text: truncation is then no cause.
    train_cut["tokens_dropped_share"] = 0.01
    (finding,) = check_baseline(
        metrics=metrics, history=history, monitor={}, data_stats=data, task=SINGLE_LABEL,
        config=config,
    )  # fmt: skip
    assert check_truncation(data_stats=data) == []
    assert not any("truncation" in c for c in finding.causes)


def test_baseline_rule_is_silent_without_a_comparison():
    args = {"history": [], "monitor": {}, "data_stats": {}, "task": SINGLE_LABEL}
    assert check_baseline(metrics={}, **args) == []
    assert check_baseline(metrics={"baseline": {"skipped": "no n-grams"}}, **args) == []
    better = {"baseline": {"comparison": _comparison("better")}}
    assert check_baseline(metrics=better, **args) == []


def _comparison(verdict: str, n: int = 500) -> dict:
    return {
        "metric": "f1_macro",
        "lower_is_better": False,
        "model": 0.8,
        "baseline": 0.81,
        "difference": -0.01,
        "low": -0.03,
        "high": 0.01,
        "n": n,
        "resamples": 1000,
        "confidence": 0.95,
        "verdict": verdict,
    }
