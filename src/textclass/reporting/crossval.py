"""The cross-validation report: fold table, mean ± std, pooled out-of-fold metrics with
intervals, pooled confusion matrix and per-fold validation curves. Reads `cv.json` and each
fold's `history.json`; torch-free like every report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textclass.reporting.format import Block, ci_or_value, fmt, fmt4
from textclass.reporting.render import write_rendered
from textclass.workflows import rundir

SHOWN = ("accuracy", "f1_macro", "f1_micro", "roc_auc", "log_loss", "ece", "rmse", "mae", "r2")


def _metrics_shown(summary: dict[str, Any]) -> list[str]:
    metric = summary["metric"]
    keys = [m for m in SHOWN if m in summary["mean"]]
    return [metric, *[m for m in keys if m != metric]] if metric in summary["mean"] else keys


def cv_blocks(summary: dict[str, Any]) -> list[Block]:
    keys = _metrics_shown(summary)
    k, grouped = summary["folds"], summary["grouped"]
    b: list[Block] = [
        ("h1", f"Cross-validation: {summary['config'].get('name') or 'run'}, {k} folds"),
        (
            "p",
            f"{summary['rows']:,} rows (the training and validation splits pooled) in {k} folds, "
            + ("grouped by `data.group_column` (no group in two folds), " if grouped else "")
            + f"stratified by label, seed {summary['seed']}. Each fold's model early-stops and "
            "selects its checkpoint on an inner validation split carved from its own training "
            "folds, and is scored on the held-out fold. The test split "
            f"({summary['test_rows']:,} rows) is kept apart.",
        ),
        ("h2", "Folds (scored on the held-out fold)"),
        _fold_table(summary, keys),
        ("p", "Mean ± standard deviation over the folds (ddof=1): " + _mean_std(summary, keys)),
        ("h2", "Pooled out-of-fold predictions"),
        (
            "p",
            "Every row predicted once, by the model that never saw it "
            f"(`{rundir.OOF_PREDICTIONS}`); 95% bootstrap intervals over rows.",
        ),
        _pooled_table(summary["pooled"], keys),
        ("fig", "confusion_pooled"),
        ("fig", "fold_curves"),
        ("h2", "The fold models on the test split"),
        ("p", "Mean ± standard deviation: " + _mean_std(summary["test_set"], keys)),
        (
            "p",
            "Combine the fold models: `textclass ensemble "
            + "CV_DIR --method soft|stacking --output DIR` (see docs/ensembles.md).",
        ),
    ]
    return b


def _fold_table(summary: dict[str, Any], keys: list[str]) -> Block:
    headers = ["fold", "train", "inner validation", "held out", "selected step", *keys]
    headers.append(f"test {summary['metric']}")
    rows = []
    for f in summary["per_fold"]:
        sizes, held = f["sizes"], f["held_out"]
        counts = [fmt(sizes.get(n)) for n in ("train", "validation", "test")]
        scores = [fmt4(held.get(m)) for m in keys]
        test = fmt4(f["test_set"].get(summary["metric"]))
        rows.append([f["fold"], *counts, fmt(f["selected_step"]), *scores, test])
    return ("table", headers, rows)


def _mean_std(source: dict[str, Any], keys: list[str]) -> str:
    mean, std = source["mean"], source["std"]
    return "; ".join(f"{m} {mean[m]:.4f} ± {std[m]:.4f}" for m in keys if m in mean) + "."


def _pooled_table(pooled: dict[str, Any], keys: list[str]) -> Block:
    intervals = pooled.get("intervals", {})
    rows = [[m, ci_or_value(pooled.get(m), intervals.get(m))] for m in keys if m in pooled]
    return ("table", ["metric", "value [95% interval]"], rows)


def _figures(summary: dict[str, Any], cv_dir: Path) -> dict[str, tuple[bytes, str]]:
    from textclass.reporting.figures import _confusion_figure, canvas

    plt, drawn, save = canvas()
    if "confusion_matrix" in summary["pooled"]:
        _confusion_figure(plt, save, "pooled", summary["pooled"], summary["labels"])
        drawn["confusion_pooled"] = (
            drawn["confusion_pooled"][0],
            f"Pooled out-of-fold confusion matrix ({summary['rows']:,} rows)",
        )
    _fold_curves(plt, save, summary, cv_dir)
    return drawn


def _fold_curves(plt, save, summary: dict[str, Any], cv_dir: Path) -> None:
    """Validation loss and the selection metric per evaluation, one line per fold."""
    metric = f"val_{summary['metric']}"
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    drawn = False
    for f in summary["per_fold"]:
        state = rundir.read_json(cv_dir / f["run_dir"] / rundir.HISTORY)
        history = [h for h in state.get("history", []) if "step" in h]
        if not history:
            continue
        drawn = True
        steps = [h["step"] for h in history]
        axes[0].plot(steps, [h.get("val_loss") for h in history], "o-", label=f"fold {f['fold']}")
        axes[1].plot(steps, [h.get(metric) for h in history], "o-", label=f"fold {f['fold']}")
    if not drawn:  # a linear model: no training curve
        plt.close(fig)
        return
    axes[0].set(title="Inner-validation loss", xlabel="step")
    axes[1].set(title=f"Inner-validation {summary['metric']}", xlabel="step")
    axes[0].legend()
    save(fig, "fold_curves", "Inner-validation loss and metric per fold")


def write_cv_report(cv_dir: str | Path) -> dict[str, Path]:
    """cv_report.md (figures in report_files/) and a self-contained cv_report.html."""
    cv_dir = Path(cv_dir)
    summary = rundir.read_json(cv_dir / rundir.CV_SUMMARY)
    return write_rendered(cv_dir, cv_blocks(summary), _figures(summary, cv_dir), rundir.CV_REPORT)
