"""The report's figures as PNG bytes, drawn from the report data with matplotlib (the only
module of the report that imports it, on first use)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np

from textclass.config.tasks import MULTI_LABEL, get_task

Figures = dict[str, tuple[bytes, str]]  # name -> (PNG bytes, caption)
CURVE_METRICS = (
    "val_accuracy",
    "val_f1_macro",
    "val_f1_micro",
    "val_rmse",
    "val_mae",
    "val_r2",
    "val_spearman",
)


def canvas() -> tuple[Any, Figures, Callable[[Any, str, str], None]]:
    """pyplot (headless), the figures drawn so far, and `save(fig, name, caption)` that
    renders a figure to PNG bytes into them and closes it."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    drawn: Figures = {}

    def save(fig, name: str, caption: str) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        drawn[name] = (buf.getvalue(), caption)

    return plt, drawn, save


def figures(report: dict[str, Any]) -> Figures:
    """PNG bytes and caption per figure name; a figure is drawn where its data is present."""
    plt, drawn, save = canvas()
    if report["training"]["history"]:
        _training_figure(plt, save, report["training"])
    for split, res in report["results"].items():
        if "confusion_matrix" in res:
            _confusion_figure(plt, save, split, res, report["labels"])
        if split == "test" and "curves" in res:
            _curves_figure(plt, save, res)
        if split == "test" and "residuals" in res:
            _residuals_figure(plt, save, res)
    test_calibration = ((report.get("calibration") or {}).get("splits") or {}).get("test")
    if test_calibration:
        _reliability_figure(plt, save, test_calibration)
    if report.get("thresholds"):
        _thresholds_figure(plt, save, report["thresholds"])
    return drawn


def _training_figure(plt, save, training: dict[str, Any]) -> None:
    """Loss per step and per evaluation, validation metrics, learning rate."""
    history, steps = training["history"], training["steps"]
    evaluated = [h["step"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    if steps.get("step"):
        loss = np.array([np.nan if v is None else v for v in steps["loss"]], dtype=float)
        axes[0].plot(steps["step"], loss, color="#bbb", lw=0.8, label="train (per step)")
    axes[0].plot(evaluated, [h["train_loss"] for h in history], "o-", label="train (mean)")
    axes[0].plot(evaluated, [h["val_loss"] for h in history], "s-", label="validation")
    axes[0].set(title="Loss", xlabel="step")
    axes[0].legend()
    for key in [k for k in CURVE_METRICS if k in history[0]]:
        axes[1].plot(evaluated, [h[key] for h in history], "o-", label=key[4:])
    sel, average = training["selected_step"], training.get("average") or {}
    if sel is not None:
        name = "best single" if average.get("selected") else "selected"
        axes[1].axvline(sel, color="green", ls="--", lw=1, label=f"{name} (step {sel})")
    if average.get("selected"):  # the averaged weights' validation metrics, at the last step
        for key in [k for k in CURVE_METRICS if k in average]:
            axes[1].plot(average["step"], average[key], "k*", ms=9)
        axes[1].plot([], [], "k*", label=f"average ({average['method']}, selected)")
    axes[1].set(title="Validation metrics", xlabel="step")
    axes[1].legend()
    if steps.get("lr"):
        axes[2].plot(steps["step"], steps["lr"])
    axes[2].set(title="Learning rate", xlabel="step")
    save(fig, "training_curves", "Loss, validation metrics and learning rate over training")


def _confusion_figure(plt, save, split: str, res: dict[str, Any], labels: list[str]) -> None:
    """Counts and row-normalised shares of a single-label split's confusion matrix."""
    cm = np.array(res["confusion_matrix"])
    size = min(12, 2.5 + 0.45 * len(labels))
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    for ax, matrix, title, fmt in (
        (axes[0], cm, "counts", "d"),
        (axes[1], norm, "row-normalised", ".2f"),
    ):
        ax.imshow(matrix, cmap="Blues")
        ax.set(
            title=f"Confusion matrix ({title})",
            xlabel="predicted",
            ylabel="gold",
            xticks=range(len(labels)),
            yticks=range(len(labels)),
        )
        ax.set_xticklabels(labels, rotation=45, ha="right")
        ax.set_yticklabels(labels)
        if len(labels) <= 15:
            for (i, j), v in np.ndenumerate(matrix):
                colour = "white" if v > matrix.max() / 2 else "black"
                ax.text(j, i, format(v, fmt), ha="center", va="center", color=colour, fontsize=8)
    save(fig, f"confusion_{split}", f"Confusion matrix on {split} ({res['n']} examples)")


def _curves_figure(plt, save, res: dict[str, Any]) -> None:
    """ROC and precision-recall per class (or label) and the reliability diagram."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for label, c in list(res["curves"].items())[:10]:
        axes[0].plot(c["fpr"], c["tpr"], label=f"{label} (AUC {c['auc']:.3f})")
        axes[1].plot(
            c["recall"], c["precision"], label=f"{label} (AP {c['average_precision']:.3f})"
        )
    axes[0].plot([0, 1], [0, 1], color="#999", ls=":")
    pooled = get_task(res.get("task")) == MULTI_LABEL  # calibration over (text, label) pairs
    axes[0].set(
        title="ROC (per label)" if pooled else "ROC (one-vs-rest)",
        xlabel="false positive rate",
        ylabel="true positive rate",
    )
    axes[1].set(title="Precision-recall", xlabel="recall", ylabel="precision")
    for ax in axes[:2]:
        if res["curves"]:
            ax.legend(fontsize=7)
    bins = res["calibration"]["bins"]
    x, y = ("mean_probability", "positive_rate") if pooled else ("confidence", "accuracy")
    axes[2].plot([0, 1], [0, 1], color="#999", ls=":")
    axes[2].bar([b[x] for b in bins], [b[y] for b in bins], width=0.05, alpha=0.7)
    axes[2].set(
        title=f"Reliability (ECE {res['calibration']['ece']:.3f})",
        xlabel="predicted probability (every text and label)" if pooled else "confidence",
        ylabel="share of positives" if pooled else "accuracy",
    )
    what = "the 10 most frequent labels" if pooled else "each class"
    save(fig, "curves_test", f"ROC and precision-recall of {what}, and reliability, on test")


def _reliability_figure(plt, save, test: dict[str, Any]) -> None:
    """Test reliability before and after temperature scaling: per bin, the observed rate
    against the mean predicted probability (on the diagonal: calibrated)."""
    pooled = "mean_probability" in (test["before"]["bins"] or [{}])[0]
    x, y = ("mean_probability", "positive_rate") if pooled else ("confidence", "accuracy")
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.plot([0, 1], [0, 1], color="#999", ls=":", label="calibrated")
    for when, style in (("before", "o--"), ("after", "s-")):
        bins = test[when]["bins"]
        ece = test[when]["ece"]
        ax.plot([b[x] for b in bins], [b[y] for b in bins], style, label=f"{when} (ECE {ece:.3f})")
    ax.set(
        title="Reliability on test",
        xlabel="predicted probability (every text and label)" if pooled else "confidence",
        ylabel="share of positives" if pooled else "accuracy",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(fontsize=8)
    save(fig, "reliability_test", "Reliability on test before and after temperature scaling")


def _thresholds_figure(plt, save, thresholds: dict[str, Any]) -> None:
    """Per label: its threshold and test F1 at the default cut vs at its own."""
    rows = [r for r in thresholds["per_label"] if "test" in r][:30]
    if not rows:
        return
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.8 + 0.28 * len(rows)), sharey=True)
    pos = np.arange(len(rows))
    names = [r["label"] for r in rows]
    axes[0].barh(pos, [r["threshold"] for r in rows], color="#7a9cc6")
    axes[0].axvline(thresholds["default"], color="#999", ls=":", label="default")
    axes[0].set(title="Tuned threshold", xlim=(0, 1), yticks=pos)
    axes[0].set_yticklabels(names, fontsize=7)
    axes[0].invert_yaxis()
    axes[0].legend(fontsize=7)
    axes[1].barh(pos - 0.2, [r["test"]["f1_default"] for r in rows], 0.4, label="default cut")
    axes[1].barh(pos + 0.2, [r["test"]["f1_tuned"] for r in rows], 0.4, label="tuned")
    axes[1].set(title="Test F1 per label", xlim=(0, 1))
    axes[1].legend(fontsize=7)
    save(
        fig, "thresholds", "Per-label thresholds (tuned on validation) and their effect on test F1"
    )


def _residuals_figure(plt, save, res: dict[str, Any]) -> None:
    """Regression: predicted against gold with the identity line, and the residuals' histogram."""
    r = res["residuals"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].scatter(r["gold"], r["predicted"], s=8, alpha=0.5)
    low = min(min(r["gold"]), min(r["predicted"]))
    high = max(max(r["gold"]), max(r["predicted"]))
    axes[0].plot([low, high], [low, high], color="#999", ls=":", label="predicted = gold")
    axes[0].set(title="Predicted against gold", xlabel="gold", ylabel="predicted")
    axes[0].legend(fontsize=7)
    hist = r["histogram"]
    edges = np.array(hist["edges"])
    axes[1].bar(edges[:-1], hist["counts"], width=np.diff(edges), align="edge", alpha=0.7)
    axes[1].axvline(0, color="#999", ls=":")
    axes[1].set(title="Residuals (predicted - gold)", xlabel="residual", ylabel="texts")
    sampled = f", {len(r['gold']):,} sampled points" if r["sampled"] else ""
    save(
        fig,
        "residuals_test",
        f"Predictions against gold and residuals on test ({res['n']:,} texts{sampled})",
    )
