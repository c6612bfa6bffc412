"""Regression results: error and correlation metrics with bootstrap intervals, the comparison
with predicting the mean, a residual plot, and the texts with the largest errors.

Reads the predictions files' `gold`, `predicted` and `residual` (predicted - gold) columns;
the training mean of the target from data.json's `target_stats.train.mean` when the run
recorded it (else the baseline predicts each split's own mean, and says so)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from textclass.config.tasks import REGRESSION
from textclass.evaluation import analysis
from textclass.evaluation.intervals import regression_intervals
from textclass.reporting.format import Block, ci_or_value, fmt4, short

if TYPE_CHECKING:
    from textclass.reporting.build import Run

HISTORY_COLUMNS = (
    ("val_rmse", "val RMSE"),
    ("val_mae", "val MAE"),
    ("val_r2", "val R²"),
    ("val_spearman", "val Spearman"),
)
KEYS = ("n", "rmse", "mae", "mse", "r2", "pearson", "spearman", "loss", "target_mean")
KEYS += ("target_std",)
METRIC_NAMES = (
    ("RMSE", "rmse"),
    ("MAE", "mae"),
    ("R²", "r2"),
    ("Pearson correlation", "pearson"),
    ("Spearman correlation", "spearman"),
    ("MSE", "mse"),
)


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    """Per split: metrics.json's values; intervals, the mean baseline, residuals and the
    largest errors measured from the predictions file."""
    results, errors = {}, {}
    train_mean = ((run.data.get("target_stats") or {}).get("train") or {}).get("mean")
    for split, frame in run.predictions().items():
        gold = frame["gold"].to_numpy(dtype=np.float64)
        predicted = frame["predicted"].to_numpy(dtype=np.float64)
        m = run.metrics[split]
        mean = float(gold.mean()) if train_mean is None else float(train_mean)
        results[split] = {
            "task": REGRESSION.name,
            **{k: m.get(k) for k in KEYS},
            "intervals": regression_intervals(gold, predicted, seed=run.seed),
            "baseline": {
                "mean": mean,
                "source": f"{split} mean" if train_mean is None else "training mean",
                "rmse": analysis.mean_predictor(gold, mean),
            },
            "residuals": analysis.residual_summary(gold, predicted, seed=run.seed),
        }
        errors[split] = {"worst": analysis.worst_errors(frame["text"], gold, predicted)}
    return {"results": results, "errors": errors}


def headline(test: dict[str, Any]) -> str:
    iv = test["intervals"]
    return (
        f"Test RMSE **{ci_or_value(test['rmse'], iv['rmse'])}**, MAE "
        f"**{ci_or_value(test['mae'], iv['mae'])}**, R² **{ci_or_value(test['r2'], iv['r2'])}** "
        f"(95% bootstrap intervals, n={test['n']})."
    )


def blocks(report: dict[str, Any]) -> list[Block]:
    b: list[Block] = []
    for split, r in report["results"].items():
        b.append(("h3", f"{split.capitalize()} ({r['n']:,} examples)"))
        b.append(_metrics_table(r))
        b.append(("p", baseline_line(r)))
        if split == "test":
            b.append(("fig", "residuals_test"))
    return b


def _metrics_table(r: dict[str, Any]) -> Block:
    iv = r["intervals"]
    rows = [[name, ci_or_value(r[key], iv.get(key))] for name, key in METRIC_NAMES]
    spread = f"{fmt4(r['target_mean'])} / {fmt4(r['target_std'])}"
    rows.append(["target mean / standard deviation", spread])
    return ("table", ["metric", "value [95% CI]"], rows)


def baseline_line(r: dict[str, Any]) -> str:
    """The model's RMSE against predicting one mean for every text."""
    base, rmse = r["baseline"], r["rmse"]
    change = (rmse - base["rmse"]) / base["rmse"] if base["rmse"] > 0 else 0.0
    verdict = (
        f"{-change:.1%} lower" if change < 0 else f"{change:.1%} higher: not better than the mean"
    )
    return (
        f"Mean predictor: predicting the {base['source']} ({base['mean']:.4f}) for every text "
        f"gives RMSE {base['rmse']:.4f}; the model's RMSE {rmse:.4f} is {verdict}."
    )


def error_blocks(report: dict[str, Any]) -> list[Block]:
    e = report["errors"].get("test")
    if not e:
        return []
    rows = [
        [short(x["text"]), fmt4(x["gold"]), fmt4(x["predicted"]), f"{x['residual']:+.4f}"]
        for x in e["worst"]
    ]
    return [
        ("h3", "Largest errors (the largest absolute residuals)"),
        ("table", ["text", "gold", "predicted", "residual"], rows),
    ]


def observations(report: dict[str, Any]) -> list[str]:
    test = report["results"].get("test")
    if not test:
        return []
    bias, spread = test["residuals"]["bias"], test["target_std"] or 0.0
    lean = " (predictions run high)" if bias > 0 else " (predictions run low)"
    return [
        baseline_line(test),
        f"Bias: the mean residual (predicted - gold) on test is {bias:+.4f}"
        + (lean if abs(bias) > 0.1 * spread else "")
        + ".",
    ]
