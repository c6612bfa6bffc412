"""Multi-label reports and diagnosis: thresholds, label-set metrics, collapse to no label."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

import textclass
from textclass.config.tasks import MULTI_LABEL
from textclass.diagnosis.rules import diagnose, label_weakness, multilabel_collapse
from textclass.evaluation.analysis import label_matrix, row_f1
from textclass.evaluation.metrics import classification_metrics
from textclass.reporting.build import build_report, write_report
from textclass.reporting.compare import compare_runs
from textclass.reporting.sections.objective import describe
from textclass.reporting.sections.windows import window_blocks

LABELS = ["a", "b", "c", "d", "e"]


def _gold(n: int = 200, seed: int = 0) -> np.ndarray:
    """Label sets of 1-2 labels per text, every label frequent."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, len(LABELS)), dtype=np.int64)
    y[np.arange(n), rng.integers(0, len(LABELS), n)] = 1
    second = rng.random(n) < 0.5
    y[np.flatnonzero(second), rng.integers(0, len(LABELS), second.sum())] = 1
    return y


def _metrics(probs: np.ndarray, y: np.ndarray) -> dict:
    return MULTI_LABEL.metrics(y, probs, LABELS)


def test_multilabel_collapse_rules_on_synthetic_metrics():
    y = _gold()
    rng = np.random.default_rng(1)
    # Healthy: right on ~90% of the label decisions.
    noisy = np.where(rng.random(y.shape) < 0.1, 1 - y, y)
    healthy = _metrics(np.where(noisy == 1, 0.8, 0.2), y)
    assert healthy["f1_micro"] > 0.7
    assert multilabel_collapse(healthy, "test") is None
    assert label_weakness(healthy) == []

    nothing = _metrics(np.full(y.shape, 0.1), y)  # every sigmoid below the 0.5 cut
    found = multilabel_collapse(nothing, "test")
    assert found is not None and found.severity == "fail"
    assert "no label for any text" in found.title
    assert "0.00 labels predicted per text" in found.evidence
    assert "pos_weight=balanced" in found.recommendation
    assert "eval.thresholds.tune=true" in found.recommendation  # thresholds were all 0.5
    # Weighted BCE already: the advice moves on to focal loss.
    weighted = multilabel_collapse(nothing, "test", {"name": "bce", "weights": {"a": 2.0}})
    assert "pos_weight" not in weighted.recommendation
    assert "train.loss.name=focal" in weighted.recommendation

    everything = multilabel_collapse(_metrics(np.full(y.shape, 0.9), y), "test")
    assert "every label" in everything.title

    fixed = np.tile([0.9, 0.9, 0.1, 0.1, 0.1], (len(y), 1))  # {a, b} for every text
    same = multilabel_collapse(_metrics(fixed, y), "validation")
    assert same.check == "collapse_validation"
    assert "the same label set for every text (`a`, `b`)" in same.title

    # One label never predicted while present: a weakness, not a collapse.
    no_e = np.where(noisy == 1, 0.8, 0.2)
    no_e[:, 4] = 0.1
    weak = _metrics(no_e, y)
    assert multilabel_collapse(weak, "test") is None
    (finding,) = label_weakness(weak)
    assert finding.check == "label_weakness" and "`e`" in finding.evidence

    # diagnose() routes multi-label metrics to these rules (no confusion matrix needed).
    ids = {f.check for f in diagnose({}, [], {"validation": nothing, "test": nothing}, {}, {})}
    assert ids == {"collapse_validation", "collapse_test"}
    assert not diagnose({}, [], {"validation": healthy, "test": healthy}, {}, {})


def test_batch_mix_check_allows_for_siamese_pairs_and_windows():
    monitor = {
        "batch_label_counts": {"ham": 60, "spam": 40},
        "dataset_label_counts": {"ham": 90, "spam": 10},
    }
    assert {f.check for f in diagnose(monitor, [], {}, {}, {})} == {"batch_label_mismatch"}
    siamese = {"name": "cross_entropy", "siamese": {"pairs_per_example": 2}}
    assert diagnose(monitor, [], {}, {}, {}, loss=siamese) == []
    windows = {
        "windows": {
            "train": {"texts": 100, "longer_than_window": 30, "windows": 160, "truncated": 0}
        }
    }
    assert diagnose(monitor, [], {}, {}, windows) == []
    one = {
        "batch_label_counts": {"ham": 100, "spam": 0},
        "dataset_label_counts": {"ham": 90, "spam": 10},
    }
    assert {f.check for f in diagnose(one, [], {}, {}, windows, loss=siamese)} == {
        "batch_labels_identical"
    }


def test_single_label_collapse_still_uses_the_confusion_matrix():
    y = np.array([0, 1] * 50)
    probs = np.tile([0.9, 0.1], (100, 1))
    metrics = classification_metrics(y, probs, ["ham", "spam"])
    findings = {f.check: f for f in diagnose({}, [], {"test": metrics}, {}, {})}
    assert set(findings) == {"collapse_test", "class_weakness"}
    assert "majority-class baseline" in findings["collapse_test"].evidence


@pytest.fixture
def multilabel_run(tmp_path, tiny_model_dir):
    from tests.conftest import tiny_overrides

    cfg = textclass.load_config(
        base={"name": "ml"},
        overrides=[
            "data.dataset=trec_multilabel",
            "data.max_samples=300",
            *tiny_overrides(tiny_model_dir, tmp_path / "runs"),
            "train.max_steps=6",
            "train.metric=f1_micro",
            "train.loss.pos_weight=balanced",
        ],
    )
    return textclass.train(cfg)


def test_multilabel_run_report(multilabel_run):
    run = multilabel_run.run_dir
    metrics = json.loads((run / "metrics.json").read_text())
    report = json.loads((run / "report.json").read_text())
    assert report["task"] == "multi_label"
    labels = report["labels"]
    test = report["results"]["test"]
    assert "confusion_matrix" not in test
    for key in ("f1_micro", "f1_macro", "f1_samples", "subset_accuracy", "hamming_loss"):
        lo, hi = test["intervals"][key]
        assert lo <= test[key] <= hi, key

    # Subset accuracy and micro-F1 recomputed from the predictions file's label sets, as the
    # report shows them.
    rows = pd.read_csv(run / "predictions.csv", dtype=str, keep_default_na=False)
    sets = [
        (set(filter(None, g.split("|"))), set(filter(None, p.split("|"))))
        for g, p in zip(rows["gold"], rows["predicted"], strict=True)
    ]
    subset = np.mean([g == p for g, p in sets])
    tp = sum(len(g & p) for g, p in sets)
    wrong = sum(len(g ^ p) for g, p in sets)  # extra and missed labels
    micro = 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0
    assert test["subset_accuracy"] == pytest.approx(subset)
    assert test["f1_micro"] == pytest.approx(micro)

    # The report's own reading of predictions.csv agrees with the run's metrics.
    frame = pd.read_csv(run / "predictions.csv", keep_default_na=False, dtype=str)
    y, pred = label_matrix(frame["gold"], labels), label_matrix(frame["predicted"], labels)
    assert (y.sum(axis=1) > 0).all()
    assert row_f1(y, pred).mean() == pytest.approx(metrics["test"]["f1_samples"])
    assert (y != pred).mean() == pytest.approx(metrics["test"]["hamming_loss"])
    assert test["labels_per_text"]["predicted"] == pytest.approx(pred.sum(axis=1).mean())
    errors = report["errors"]["test"]
    assert errors["summary"]["exact"] == round(metrics["test"]["subset_accuracy"] * len(y))

    thresholds = report["thresholds"]
    meta = json.loads((run / "model" / "textclass.json").read_text())
    assert {r["label"]: r["threshold"] for r in thresholds["per_label"]} == meta["thresholds"]
    assert thresholds["summary"]["test"] == {
        k: v for k, v in multilabel_run.thresholds["test"].items() if k != "per_label"
    }
    supports = [r["validation"]["support"] for r in thresholds["per_label"]]
    assert supports == sorted(supports, reverse=True)

    objective = report["objective"]
    assert objective["name"] == "bce" and objective["weights_setting"] == "balanced"
    assert set(objective["weights"]) == set(labels)
    diag = json.loads((run / "diagnostics.json").read_text())
    data = json.loads((run / "data.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    again = diagnose(
        diag["monitor"], multilabel_run.history, metrics, diag["integrity"], data,
        loss=diag["loss"], config=config,
    )  # fmt: skip
    assert report["diagnosis"] == [f.to_dict() for f in again]

    md = (run / "report.md").read_text()
    titles = re.findall(r"^## (.+)$", md, flags=re.M)
    assert titles == [
        "Model",
        "Configuration",
        "Data",
        "Training progress",
        "Results",
        "Decision thresholds",
        "Error analysis (test)",
        "Observations",
        "Diagnosis and recommendations",
    ]
    for text in (
        f"Test micro-F1 **{micro:.4f} [",
        f"| micro-F1 | {micro:.4f} [",
        f"| subset accuracy (exact label set) | {subset:.4f} [",
        "| samples-F1 (mean per text) | ",
        "| Hamming loss (wrong label decisions) | ",
        "| label | threshold | validation support | validation F1 at 0.5 | validation F1 tuned",
        "| macro-F1 | ",
        "### Texts with the most missed labels",
        "### Training objective",
        "Binary cross-entropy per label (sigmoid); pos_weight (balanced): ",
    ):
        assert text in md, text
    assert "Confusion matrix" not in md and "TODO" not in md
    section = md.split("## Decision thresholds")[1].split("\n## ")[0]
    assert len(re.findall(r"^\| \S+ \| 0\.\d{3} \|", section, flags=re.M)) == len(labels)
    for figure in re.findall(r"\]\((report_files/[^)]+)\)", md):
        assert (run / figure).stat().st_size > 5000

    comparison = compare_runs([run])["metrics"][0]
    assert comparison["test_f1_micro"] == [test["f1_micro"], *test["intervals"]["f1_micro"]]
    assert comparison["test_f1_weighted"] == [test["f1_weighted"]]  # no interval: value only

    page = (run / "report.html").read_text()
    assert "<h2>Decision thresholds</h2>" in page and "Hamming loss" in page
    # curves, ROC/PR/reliability, reliability before/after scaling, thresholds
    assert page.count("data:image/png;base64,") == 4
    cal = report["calibration"]
    after = report["results"]["test"]["calibration"]["ece"]  # from the predictions file
    assert cal["splits"]["test"]["after"]["ece"] == pytest.approx(after, abs=1e-5)
    assert "<h3>Calibrated probabilities</h3>" in page

    # Sliding-window counts in data.json (written when model.window.enabled) are stated.
    data["windows"] = {
        s: {"texts": n, "longer_than_window": 3, "windows": n + 4, "truncated": 1}
        for s, n in data["sizes"].items()
    }
    (run / "data.json").write_text(json.dumps(data))
    md = write_report(run)["md"].read_text()
    assert "### Long texts (sliding windows)" in md
    assert f"train: 3 of {data['sizes']['train']} texts" in md
    assert build_report(run)["data"]["windows"] == data["windows"]


def test_training_objective_and_windows_are_described():
    cfg = {
        "train": {
            "class_weights": "balanced",
            "loss": {"name": "focal", "gamma": 2.0, "alpha": None, "pos_weight": "none"},
            "siamese": {"enabled": True},
        }
    }
    recorded = {
        "name": "focal",
        "task": "single_label",
        "weights": {"ham": 0.58, "spam": 3.7},
        "params": {"gamma": 2.0, "alpha": None},
        "siamese": {
            "enabled": True,
            "pairs_per_example": 2,
            "margin": 0.5,
            "alpha": 1.0,
            "beta": 0.5,
        },
    }
    text = describe(cfg, {"loss": recorded}, "single_label")["text"]
    assert text.startswith("Softmax focal loss (gamma 2); class weights (balanced): ham 0.58")
    assert "Siamese training" in text and "margin 0.5" in text and "0.5 x classification" in text
    # Older runs without a recorded loss: read from the config.
    plain = describe({"train": {"class_weights": "none"}}, {}, "single_label")
    assert plain["text"] == "Cross-entropy; no class weights."

    model = {
        "max_length": 64,
        "window": {"enabled": True, "stride": 16, "aggregate": "max", "max_windows": 4},
    }
    assert window_blocks(None, {"max_length": 64, "window": {"enabled": False}}) == []
    blocks = window_blocks(
        {"test": {"texts": 10, "longer_than_window": 4, "windows": 17, "truncated": 2}}, model
    )
    text = " ".join(str(b) for b in blocks)
    assert "test: 4 of 10 texts (40.0%) split, 2 truncated" in text and "by max" in text


def test_group_summary_of_multilabel_predictions(tmp_path):
    from textclass.workflows.summaries import group_summary

    rows = pd.DataFrame(
        {
            "text": [f"t{i}" for i in range(5)],
            "movie_name": ["Alien", "Alien", "Alien", "Cats", "Cats"],
            "predicted": ["scary|space", "space", "", "", "funny"],
            "prob_funny": [0.1, 0.2, 0.3, 0.4, 0.9],
            "prob_scary": [0.8, 0.2, 0.3, 0.1, 0.1],
            "prob_space": [0.9, 0.7, 0.2, 0.1, 0.1],
        }
    )
    rows.to_csv(tmp_path / "preds.csv", index=False)
    table = group_summary(tmp_path / "preds.csv", "movie_name", rank_by="space", chunk_size=2)
    alien = table.set_index("movie_name").loc["Alien"]
    assert table["movie_name"].tolist() == ["Alien", "Cats"]
    assert table["count"].tolist() == [3, 2]  # texts, not labels
    assert alien["share_space"] == pytest.approx(2 / 3, abs=1e-6)
    assert alien["share_scary"] == pytest.approx(1 / 3, abs=1e-6)
    assert table.set_index("movie_name").loc["Cats", "share_funny"] == 0.5
