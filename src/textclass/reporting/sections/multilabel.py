"""Multi-label results: label-set metrics with bootstrap intervals, per-label scores, pooled
calibration, ROC/PR curves of the frequent labels; the label-set errors on test."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from textclass.config.tasks import MULTI_LABEL
from textclass.evaluation import analysis
from textclass.evaluation.calibration import pooled_calibration
from textclass.evaluation.intervals import mean_intervals, multilabel_bootstrap_intervals
from textclass.reporting.format import Block, ci, ci_or_value, fmt4, short

if TYPE_CHECKING:
    from textclass.reporting.build import Run

HISTORY_COLUMNS = (
    ("val_accuracy", "val subset accuracy"),
    ("val_f1_micro", "val micro-F1"),
    ("val_f1_macro", "val macro-F1"),
)
KEYS = (
    "n",
    "accuracy",
    "subset_accuracy",
    "precision_micro",
    "recall_micro",
    "f1_micro",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "f1_weighted",
    "f1_samples",
    "hamming_loss",
    "roc_auc",
    "log_loss",
)
METRIC_NAMES = (
    ("micro-F1", "f1_micro"),
    ("micro precision", "precision_micro"),
    ("micro recall", "recall_micro"),
    ("macro-F1", "f1_macro"),
    ("macro precision", "precision_macro"),
    ("macro recall", "recall_macro"),
    ("samples-F1 (mean per text)", "f1_samples"),
    ("weighted F1", "f1_weighted"),
    ("subset accuracy (exact label set)", "subset_accuracy"),
    ("Hamming loss (wrong label decisions)", "hamming_loss"),
    ("ROC-AUC (macro over labels)", "roc_auc"),
    ("log loss (mean binary)", "log_loss"),
)


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    """As the single-label section, for sets of labels: the predictions files hold `a|b`
    label strings (at the run's thresholds) and one independent probability per label."""
    results, errors = {}, {}
    labels = run.labels
    for split, frame in run.predictions().items():
        probs = frame[[f"prob_{label}" for label in labels]].to_numpy(dtype=np.float64)
        y = analysis.label_matrix(frame["gold"], labels)
        pred = analysis.label_matrix(frame["predicted"], labels)
        m = run.metrics[split]
        intervals = multilabel_bootstrap_intervals(y, pred, labels, seed=run.seed)
        per_row = {"hamming_loss": (y != pred).mean(axis=1), "f1_samples": analysis.row_f1(y, pred)}
        intervals |= mean_intervals(per_row, seed=run.seed)
        results[split] = {
            "task": MULTI_LABEL.name,
            **{k: m.get(k) for k in KEYS},
            "per_class": m["per_class"],
            "labels_per_text": m["labels_per_text"],
            "intervals": intervals,
            "calibration": pooled_calibration(probs, y),
            "curves": analysis.label_curves(probs, y, labels),
            "predicted_share": analysis.predicted_share(pred, labels),
        }
        errors[split] = analysis.multilabel_errors(frame["text"], probs, y, pred, labels)
    return {"results": results, "errors": errors}


def headline(test: dict[str, Any]) -> str:
    iv = test["intervals"]
    return (
        f"Test micro-F1 **{ci(test['f1_micro'], iv['f1_micro'])}**, macro-F1 "
        f"**{ci(test['f1_macro'], iv['f1_macro'])}**, subset accuracy "
        f"**{ci(test['subset_accuracy'], iv['subset_accuracy'])}** (95% bootstrap "
        f"intervals, n={test['n']})."
    )


def blocks(report: dict[str, Any]) -> list[Block]:
    b: list[Block] = []
    for split, r in report["results"].items():
        b.append(("h3", f"{split.capitalize()} ({r['n']:,} texts)"))
        b.append(_metrics_table(r))
        per = r["per_class"]
        order = sorted(per, key=lambda k: (-per[k]["support"], k))
        b.append(_per_label_table(r, order[:60]))
        if len(order) > 60:
            b.append(("p", f"The 60 most frequent of {len(order)} labels shown."))
        if split == "test":
            b.append(("fig", "curves_test"))
    return b


def _metrics_table(r: dict[str, Any]) -> Block:
    iv, lpt = r["intervals"], r["labels_per_text"]
    rows = [[name, ci_or_value(r[key], iv.get(key))] for name, key in METRIC_NAMES]
    rows += [
        ["labels per text (predicted / gold)", f"{lpt['predicted']:.2f} / {lpt['gold']:.2f}"],
        ["expected calibration error (pooled)", f"{r['calibration']['ece']:.4f}"],
    ]
    return ("table", ["metric", "value [95% CI]"], rows)


def _per_label_table(r: dict[str, Any], labels: list[str]) -> Block:
    per, iv = r["per_class"], r["intervals"]["per_class"]
    headers = ["label", "precision [95% CI]", "recall [95% CI]", "F1 [95% CI]", "support"]
    headers += ["predicted share", "ROC-AUC", "threshold"]
    rows = [
        [
            k,
            ci(per[k]["precision"], iv[k]["precision"]),
            ci(per[k]["recall"], iv[k]["recall"]),
            ci(per[k]["f1"], iv[k]["f1"]),
            per[k]["support"],
            f"{r['predicted_share'][k]:.1%}",
            fmt4(per[k].get("roc_auc")),
            f"{per[k].get('threshold', 0.5):.3f}",
        ]
        for k in labels
    ]
    return ("table", headers, rows)


def error_blocks(report: dict[str, Any]) -> list[Block]:
    e = report["errors"].get("test")
    if not e:
        return []
    s = e["summary"]
    b: list[Block] = [
        (
            "p",
            f"Of {s['texts']:,} test texts, {s['exact']:,} got exactly their label set, "
            f"{s['with_missed']:,} miss at least one gold label, {s['with_extra']:,} got at "
            f"least one extra label, and {s['no_label_predicted']:,} got no label at all.",
        ),
    ]
    for kind in ("missed", "extra"):
        rows = [
            [short(x["text"])] + [short(x[k], 100) for k in ("gold", "predicted", kind)]
            for x in e[f"most_{kind}"]
        ]
        b += [
            ("h3", f"Texts with the most {kind} labels"),
            ("table", ["text", "gold", "predicted", kind], rows),
        ]
    return b + _decision_error_blocks(e)


def _decision_error_blocks(e: dict[str, Any]) -> list[Block]:
    """Wrong (text, label) decisions, missed-for-extra pairs, per-label counts, by length."""
    confident = [
        [short(x["text"]), x["label"], x["kind"], f"{x['probability']:.3f}"]
        for x in e["confident_mistakes"]
    ]
    pairs = [[p["gold"], p["predicted"], p["count"]] for p in e["confused_pairs"]]
    per = e["per_class"]
    order = sorted(
        (k for k, v in per.items() if any(v.values())),
        key=lambda k: (-(per[k]["false_positives"] + per[k]["false_negatives"]), k),
    )
    counts = [
        [k, per[k]["true_positives"], per[k]["false_positives"], per[k]["false_negatives"]]
        for k in order[:60]
    ]
    lengths = [
        [x["words"], x["n"], f"{x['accuracy']:.4f}", f"{x['f1_samples']:.4f}"]
        for x in e["by_length"]
    ]
    return [
        ("h3", "Most confident wrong label decisions"),
        ("table", ["text", "label", "error", "probability"], confident),
        ("h3", "Gold labels missed while another label was predicted"),
        ("table", ["missed gold label", "predicted instead", "texts"], pairs),
        ("h3", "True positives, false positives and false negatives per label"),
        (
            "table",
            ["label", "true positives", "false positives (extra)", "false negatives (missed)"],
            counts,
        ),
        ("h3", "Exact matches by text length"),
        ("table", ["words", "texts", "subset accuracy", "samples-F1"], lengths),
    ]


def observations(report: dict[str, Any]) -> list[str]:
    test, thresholds = report["results"].get("test"), report.get("thresholds")
    if not test:
        return []
    lpt = test["labels_per_text"]
    out = [
        f"Label sets: {lpt['predicted']:.2f} labels predicted per test text on average vs "
        f"{lpt['gold']:.2f} gold; {test['subset_accuracy']:.1%} of texts get exactly their "
        f"label set; Hamming loss {test['hamming_loss']:.4f}."
    ]
    f1s = sorted((v["f1"], k) for k, v in test["per_class"].items() if v["support"] > 0)
    if len(f1s) >= 2:
        zero = sum(1 for f, _ in f1s if f == 0)
        out.append(
            f"Label-wise: test F1 ranges from {f1s[0][0]:.3f} (`{f1s[0][1]}`) to "
            f"{f1s[-1][0]:.3f} (`{f1s[-1][1]}`) over the {len(f1s)} labels present in test"
            + (f"; {zero} of them at F1 0." if zero else ".")
        )
    if thresholds and "test" in thresholds["summary"]:
        t = thresholds["summary"]["test"]
        out.append(
            f"Thresholds: the per-label thresholds tuned on validation move test micro-F1 from "
            f"{t['default']['f1_micro']:.4f} (cut {thresholds['default']:g}) to "
            f"{t['tuned']['f1_micro']:.4f} and macro-F1 from {t['default']['f1_macro']:.4f} to "
            f"{t['tuned']['f1_macro']:.4f}."
        )
    cal = test["calibration"]["ece"]
    out.append(
        f"Calibration: expected calibration error {cal:.3f} over every (text, label) "
        "probability on test "
        + ("(well calibrated)." if cal < 0.05 else "(see the reliability diagram).")
    )
    return out
