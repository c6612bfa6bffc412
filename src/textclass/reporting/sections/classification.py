"""Single-label results: metrics with bootstrap intervals, per-class scores, the confusion
matrix, ROC/PR curves and calibration; the error analysis of the test split."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from textclass.config.tasks import SINGLE_LABEL
from textclass.errors import TextclassError
from textclass.evaluation import analysis
from textclass.evaluation.calibration import calibration
from textclass.evaluation.intervals import bootstrap_intervals
from textclass.reporting.format import Block, ci, examples_table, fmt
from textclass.workflows import rundir

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from textclass.reporting.build import Run

HISTORY_COLUMNS = (("val_accuracy", "val accuracy"), ("val_f1_macro", "val macro-F1"))
KEYS = ("n", "accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted")


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    """Per split: metrics.json's values; intervals, calibration, curves and errors measured
    from the predictions file's probabilities."""
    results, errors = {}, {}
    for split, frame in run.predictions().items():
        labels = run.labels
        probs = frame[[f"prob_{label}" for label in labels]].to_numpy(dtype=np.float64)
        y = _class_ids(frame["gold"], labels, run.dir / rundir.PREDICTIONS[split])
        pred = SINGLE_LABEL.decide_ids(probs)
        m = run.metrics[split]
        results[split] = {
            **{k: m[k] for k in KEYS},
            "log_loss": m.get("log_loss"),
            "roc_auc": m.get("roc_auc"),
            "per_class": m["per_class"],
            "confusion_matrix": m["confusion_matrix"],
            "intervals": bootstrap_intervals(y, pred, labels, seed=run.seed),
            "calibration": calibration(probs, y),
            "curves": analysis.class_curves(probs, y, labels),
            "predicted_share": analysis.predicted_share(pred, labels),
        }
        errors[split] = analysis.error_analysis(frame["text"], probs, y, labels)
    return {"results": results, "errors": errors}


def _class_ids(gold: pd.Series, labels: list[str], path: Path) -> np.ndarray:
    """Each row's gold class id; a gold label the model does not have is a broken file, said
    as such (not a NaN that fails deep inside the bootstrap)."""
    ids = gold.map({label: i for i, label in enumerate(labels)})
    unknown = sorted(set(gold[ids.isna()]))
    if unknown:
        raise TextclassError(
            f"{path}: gold label(s) {', '.join(map(repr, unknown[:10]))} are not labels of the "
            f"model ({', '.join(labels[:20])}). The file does not belong to this run; rerun "
            "`textclass evaluate` or the training run that wrote it."
        )
    return ids.to_numpy(dtype=np.int64)


def headline(test: dict[str, Any]) -> str:
    iv = test["intervals"]
    return (
        f"Test accuracy **{ci(test['accuracy'], iv['accuracy'])}**, macro-F1 "
        f"**{ci(test['f1_macro'], iv['f1_macro'])}** (95% bootstrap intervals, n={test['n']})."
    )


def blocks(report: dict[str, Any]) -> list[Block]:
    b: list[Block] = []
    labels = report["labels"]
    for split, r in report["results"].items():
        b.append(("h3", f"{split.capitalize()} ({r['n']:,} examples)"))
        b.append(_metrics_table(r, len(labels)))
        b.append(_per_class_table(r))
        if len(labels) <= 20:
            cm = r["confusion_matrix"]
            b.append(
                (
                    "table",
                    ["gold \\ predicted", *labels],
                    [[labels[i]] + [str(x) for x in row] for i, row in enumerate(cm)],
                )
            )
        b.append(("fig", f"confusion_{split}"))
        if split == "test":
            b.append(("fig", "curves_test"))
    return b


def _metrics_table(r: dict[str, Any], classes: int) -> Block:
    iv = r["intervals"]
    rows = [
        ["accuracy", ci(r["accuracy"], iv["accuracy"])],
        ["macro precision", ci(r["precision_macro"], iv["precision_macro"])],
        ["macro recall", ci(r["recall_macro"], iv["recall_macro"])],
        ["macro F1", ci(r["f1_macro"], iv["f1_macro"])],
        ["weighted F1", ci(r["f1_weighted"], iv["f1_weighted"])],
        ["log loss", fmt(r["log_loss"])],
        ["ROC-AUC" + (" (one-vs-rest macro)" if classes > 2 else ""), fmt(r["roc_auc"])],
        ["expected calibration error", f"{r['calibration']['ece']:.4f}"],
    ]
    return ("table", ["metric", "value [95% CI]"], rows)


def _per_class_table(r: dict[str, Any]) -> Block:
    iv = r["intervals"]["per_class"]
    headers = ["class", "precision [95% CI]", "recall [95% CI]", "F1 [95% CI]", "support"]
    rows = [
        [
            k,
            ci(v["precision"], iv[k]["precision"]),
            ci(v["recall"], iv[k]["recall"]),
            ci(v["f1"], iv[k]["f1"]),
            v["support"],
            f"{r['predicted_share'][k]:.1%}",
        ]
        for k, v in r["per_class"].items()
    ][:60]
    return ("table", [*headers, "predicted share"], rows)


def error_blocks(report: dict[str, Any]) -> list[Block]:
    e = report["errors"].get("test")
    if not e:
        return []
    pairs = [[p["gold"], p["predicted"], p["count"]] for p in e["confused_pairs"]]
    per_class = [[k, v["false_positives"], v["false_negatives"]] for k, v in e["per_class"].items()]
    lengths = [[x["words"], x["n"], f"{x['accuracy']:.4f}"] for x in e["by_length"]]
    return [
        ("h3", "Most confident mistakes"),
        examples_table(e["confident_mistakes"], "confidence"),
        ("h3", "Most confused pairs"),
        ("table", ["gold", "predicted as", "count"], pairs),
        ("h3", "False positives and false negatives per class"),
        ("table", ["class", "false positives", "false negatives"], per_class[:60]),
        ("h3", "Ambiguous cases (smallest margin between the top two classes)"),
        examples_table(e["ambiguous"], "margin"),
        ("h3", "Accuracy by text length"),
        ("table", ["words", "examples", "accuracy"], lengths),
    ]


def observations(report: dict[str, Any]) -> list[str]:
    test = report["results"].get("test")
    if not test:
        return []
    out = []
    f1s = sorted((v["f1"], k) for k, v in test["per_class"].items())
    if len(f1s) >= 2:
        out.append(
            f"Class-wise: test F1 ranges from {f1s[0][0]:.3f} (`{f1s[0][1]}`) to "
            f"{f1s[-1][0]:.3f} (`{f1s[-1][1]}`)."
        )
    cal = test["calibration"]["ece"]
    out.append(
        f"Calibration: expected calibration error {cal:.3f} on test "
        + (
            "(well calibrated)."
            if cal < 0.05
            else "(probabilities are over- or under-confident; see the reliability diagram)."
        )
    )
    return out
