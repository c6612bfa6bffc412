"""How a model's predictions move when its texts are perturbed: measured from its outputs on
the original texts and on the perturbed ones (NumPy only; `workflows/robustness.py` perturbs
the texts and predicts).

For a robustness perturbation (the meaning stays): the share of texts it changed, the share of
predictions that flip (the decision changes: another class, another label set) among the
changed texts and over all texts, and the task's metric (`Task.robustness_metric`: accuracy,
micro-F1, RMSE) before and after with the paired difference. For regression, whose values have
no decision to flip, the mean absolute change of the predicted value instead of flips.

For an expected-flip perturbation (negation templates, binary single-label tasks): the share
of predictions that flip (higher is better) and the share that agree with the flipped gold
label.

Intervals are 95% percentile bootstraps over the rows (1000 resamples): flip rates as means of
per-row flips (`mean_intervals`), the metric's change as a paired bootstrap (`paired_bootstrap`:
the same rows drawn for both sides).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from textclass.config.tasks import Task
from textclass.evaluation.intervals import mean_intervals, paired_bootstrap

RESAMPLES = 1000


def _rate(values: np.ndarray, seed: int, resamples: int) -> tuple[float | None, list | None]:
    """The mean of per-row 0/1 (or real) values and its bootstrap interval; None for no rows."""
    if len(values) == 0:
        return None, None
    values = np.asarray(values, dtype=np.float64)
    interval = mean_intervals({"v": values}, resamples=resamples, seed=seed)["v"]
    return float(values.mean()), interval


def metric_change(
    task: Task,
    y: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    labels: Sequence[str],
    thresholds: np.ndarray | None = None,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> dict[str, Any]:
    """The task's robustness metric on the original and the perturbed outputs, and their
    paired difference (perturbed - original) with its interval."""
    metric = task.robustness_metric

    def score(outputs: np.ndarray):
        return lambda idx: task.resampled_score(y, outputs, labels, idx, metric, thresholds)

    paired = paired_bootstrap(score(after), score(before), len(y), resamples, seed=seed)
    return {
        "metric": metric,
        "original": paired["b"],
        "perturbed": paired["a"],
        "difference": paired["difference"],
        "interval": [paired["low"], paired["high"]] if paired["low"] is not None else None,
    }


def flip_record(
    task: Task,
    y: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    changed: np.ndarray,
    labels: Sequence[str],
    thresholds: np.ndarray | None = None,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> dict[str, Any]:
    """A robustness perturbation's numbers: texts changed, predictions flipped (or, for
    regression, the mean absolute change), the metric before and after."""
    n, changed = len(y), np.asarray(changed, dtype=bool)
    record: dict[str, Any] = {"n": n, "changed": int(changed.sum())}
    record["changed_share"] = record["changed"] / n if n else None
    flips = task.decisions_differ(before, after, thresholds)
    if flips is None:  # regression: how far the values move
        moved = np.abs(np.asarray(after, np.float64) - np.asarray(before, np.float64))
        record["flips"] = None
        mean, interval = _rate(moved, seed, resamples)
        record |= {"mean_abs_change": mean, "mean_abs_change_interval": interval}
        mean, interval = _rate(moved[changed], seed, resamples)
        record |= {"mean_abs_change_changed": mean, "mean_abs_change_changed_interval": interval}
    else:
        record["flips"] = int(flips.sum())
        rate, interval = _rate(flips, seed, resamples)
        record |= {"flip_rate": rate, "flip_rate_interval": interval}
        rate, interval = _rate(flips[changed], seed, resamples)
        record |= {"flip_rate_changed": rate, "flip_rate_changed_interval": interval}
    record |= metric_change(task, y, before, after, labels, thresholds, seed, resamples)
    return record


def expected_flip_record(
    task: Task,
    y: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    changed: np.ndarray,
    thresholds: np.ndarray | None = None,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> dict[str, Any]:
    """An expected-flip perturbation's numbers (binary single-label): the share of predictions
    that flip, and the share of perturbed predictions that match the flipped gold label."""
    n, changed = len(y), np.asarray(changed, dtype=bool)
    flips = task.decisions_differ(before, after, thresholds)
    if flips is None:
        raise ValueError(f"an expected-flip check needs decisions to flip; {task} has none")
    flip_rate, flip_interval = _rate(flips, seed, resamples)
    agrees = task.decide_ids(after) == 1 - np.asarray(y)  # the other of the two classes
    agree_rate, agree_interval = _rate(agrees, seed, resamples)
    return {
        "n": n,
        "changed": int(changed.sum()),
        "changed_share": float(changed.mean()) if n else None,
        "flips": int(flips.sum()),
        "flip_rate": flip_rate,
        "flip_rate_interval": flip_interval,
        "flipped_label_agreement": agree_rate,
        "flipped_label_agreement_interval": agree_interval,
    }
