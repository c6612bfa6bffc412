"""Percentile bootstrap intervals for every task's metrics, vectorised over resamples."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


def _scores_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics from stacked confusion matrices (B, K, K): rows gold, columns predicted."""
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    support = cm.sum(axis=2)
    predicted = cm.sum(axis=1)
    n = cm.sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    weights = support / np.maximum(n[:, None], 1)
    return {
        "accuracy": tp.sum(axis=1) / np.maximum(n, 1),
        "precision_macro": precision.mean(axis=1),
        "recall_macro": recall.mean(axis=1),
        "f1_macro": f1.mean(axis=1),
        "f1_weighted": (f1 * weights).sum(axis=1),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def resample_counts(n: int, resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Bootstrap resamples of n rows as row multiplicities, (≤100, n) float matrices at a
    time: a resample's sum of any per-row statistic is then one matrix product."""
    for start in range(0, resamples, 100):
        b = min(100, resamples - start)
        counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(b)])
        yield counts.astype(np.float64)


def percentile_interval(values: np.ndarray, confidence: float) -> list[float]:
    """The central `confidence` interval of bootstrap values, [low, high]."""
    tail = (1 - confidence) / 2 * 100
    return [float(v) for v in np.percentile(values, [tail, 100 - tail])]


def mean_intervals(
    per_row: dict[str, np.ndarray], resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> dict[str, list[float]]:
    """Percentile bootstrap intervals of per-row means (e.g. Hamming loss and samples-F1 of
    each text), resampling rows as `multilabel_bootstrap_intervals` does."""
    n = len(next(iter(per_row.values())))
    rng = np.random.default_rng(seed)
    matrix = np.stack(list(per_row.values()), axis=1).astype(np.float64)  # (n, metrics)
    means = np.concatenate([c @ matrix / n for c in resample_counts(n, resamples, rng)])
    return {name: percentile_interval(means[:, j], confidence) for j, name in enumerate(per_row)}


def bootstrap_intervals(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: list[str],
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Percentile bootstrap intervals for accuracy, macro/weighted scores and per-class P/R/F1.

    Resamples whole examples with replacement; all resamples are scored at once from their
    confusion matrices (vectorised: 1000 resamples of 10,000 examples take well under a second).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k, n = len(labels), len(y_true)
    rng = np.random.default_rng(seed)
    codes = (y_true * k + y_pred).astype(np.int64)
    out: dict[str, Any] = {"resamples": resamples, "confidence": confidence}
    chunks = []
    for start in range(0, resamples, 100):  # bounded memory: 100 resamples at a time
        b = min(100, resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        flat = codes[idx] + (np.arange(b)[:, None] * k * k)
        chunks.append(np.bincount(flat.ravel(), minlength=b * k * k).reshape(b, k, k))
    scores = _scores_from_confusion(np.concatenate(chunks))
    for name in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted"):
        out[name] = percentile_interval(scores[name], confidence)
    out["per_class"] = {}
    for i, label in enumerate(labels):
        out["per_class"][label] = {
            m: percentile_interval(scores[m][:, i], confidence)
            for m in ("precision", "recall", "f1")
        }
    return out


def multilabel_bootstrap_intervals(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: list[str],
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Percentile bootstrap intervals for multi-label micro/macro F1, subset accuracy and
    per-label P/R/F1. Each resample is a vector of row multiplicities, so the per-label
    TP/FP/FN of 100 resamples come from one matrix product."""
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    n = len(y_true)
    rng = np.random.default_rng(seed)
    tp_rows, fp_rows, fn_rows = y_true * y_pred, (1 - y_true) * y_pred, y_true * (1 - y_pred)
    exact = (y_true == y_pred).all(axis=1).astype(np.float64)
    tp, fp, fn, subset = [], [], [], []
    for counts in resample_counts(n, resamples, rng):
        tp.append(counts @ tp_rows)
        fp.append(counts @ fp_rows)
        fn.append(counts @ fn_rows)
        subset.append(counts @ exact / n)
    tp, fp, fn = np.concatenate(tp), np.concatenate(fp), np.concatenate(fn)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        t, p_, n_ = tp.sum(1), fp.sum(1), fn.sum(1)
        micro = np.where(2 * t + p_ + n_ > 0, 2 * t / (2 * t + p_ + n_), 0.0)

    def interval(values: np.ndarray) -> list[float]:
        return percentile_interval(values, confidence)

    out: dict[str, Any] = {
        "resamples": resamples,
        "confidence": confidence,
        "f1_micro": interval(micro),
        "f1_macro": interval(f1.mean(axis=1)),
        "subset_accuracy": interval(np.concatenate(subset)),
    }
    out["accuracy"] = out["subset_accuracy"]
    out["per_class"] = {
        label: {
            "precision": interval(precision[:, i]),
            "recall": interval(recall[:, i]),
            "f1": interval(f1[:, i]),
        }
        for i, label in enumerate(labels)
    }
    return out


def regression_intervals(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Percentile bootstrap intervals for RMSE, MAE, R², Pearson and Spearman (whole rows
    resampled; 100 resamples at a time)."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    n = len(y_true)
    rng = np.random.default_rng(seed)
    names = ("rmse", "mae", "r2", "pearson", "spearman")
    values: dict[str, list[float]] = {name: [] for name in names}
    for start in range(0, resamples, 100):
        idx = rng.integers(0, n, size=(min(100, resamples - start), n))
        t, p = y_true[idx], y_pred[idx]
        err = p - t
        values["rmse"] += list(np.sqrt((err**2).mean(axis=1)))
        values["mae"] += list(np.abs(err).mean(axis=1))
        total = ((t - t.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            values["r2"] += list(1 - (err**2).sum(axis=1) / total)
        values["pearson"] += list(_rowwise_correlation(t, p))
        values["spearman"] += list(_rowwise_correlation(_ranks(t), _ranks(p)))
    out: dict[str, Any] = {"resamples": resamples, "confidence": confidence}
    for name in names:
        finite = np.asarray(values[name])[np.isfinite(values[name])]
        out[name] = percentile_interval(finite, confidence) if len(finite) else None
    return out


def _rowwise_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (a * b).sum(axis=1) / np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along each row (ties share their mean rank), as Spearman needs."""
    from scipy.stats import rankdata

    return rankdata(x, axis=1)
