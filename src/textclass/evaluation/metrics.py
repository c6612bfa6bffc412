"""Metrics from gold targets and model outputs, computed with scikit-learn and SciPy.

Which function a run uses is the task's choice (`textclass.config.tasks`); intervals are in
`intervals.py`, calibration in `calibration.py`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    hamming_loss,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
)

from textclass.config.tasks import LABEL_SEPARATOR, MULTI_LABEL, SINGLE_LABEL


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float | None:
    """Binary ROC-AUC, or macro one-vs-rest over the classes present in `y_true`."""
    present = np.unique(y_true)
    if len(present) < 2:
        return None  # undefined with one class
    if probs.shape[1] == 2:
        return float(roc_auc_score(y_true, probs[:, 1]))
    scores = [roc_auc_score(y_true == k, probs[:, k]) for k in present]
    return float(np.mean(scores))


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    """Single-label: accuracy, P/R/F1 (macro, weighted, per class), confusion matrix, ROC-AUC,
    log loss."""
    y_true = np.asarray(y_true)
    y_pred = SINGLE_LABEL.decide_ids(probs)
    ids = list(range(len(labels)))
    out: dict[str, Any] = {"n": len(y_true), "accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=ids, average=average, zero_division=0
        )
        out[f"precision_{average}"], out[f"recall_{average}"], out[f"f1_{average}"] = (
            float(p),
            float(r),
            float(f),
        )
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=ids, average=None, zero_division=0
    )
    out["per_class"] = {
        label: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, label in enumerate(labels)
    }
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=ids).tolist()
    out["roc_auc"] = _roc_auc(y_true, probs)
    clipped = np.clip(probs.astype(np.float64), 1e-12, 1.0)
    out["log_loss"] = _finite(log_loss(y_true, clipped / clipped.sum(1, keepdims=True), labels=ids))
    out["labels"] = list(labels)
    return out


def multilabel_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    labels: list[str],
    thresholds: np.ndarray | None = None,
) -> dict[str, Any]:
    """Micro/macro/weighted/samples P/R/F1, per-label P/R/F1/support/ROC-AUC, Hamming loss,
    subset accuracy (also reported as `accuracy`) and mean binary log loss, at `thresholds`
    (one per label, or one row per text: pooled out-of-fold predictions each cut at their fold's
    thresholds; 0.5 when None)."""
    y_true = np.asarray(y_true).astype(np.int64)
    cut = np.full(len(labels), 0.5) if thresholds is None else np.asarray(thresholds)
    y_pred = MULTI_LABEL.decide_ids(probs, cut)
    subset = float(accuracy_score(y_true, y_pred))
    out: dict[str, Any] = {"n": len(y_true), "accuracy": subset, "subset_accuracy": subset}
    for average in ("micro", "macro", "weighted", "samples"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=0
        )
        out[f"precision_{average}"], out[f"recall_{average}"], out[f"f1_{average}"] = (
            float(p),
            float(r),
            float(f),
        )
    out["hamming_loss"] = float(hamming_loss(y_true, y_pred))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    aucs = [
        float(roc_auc_score(y_true[:, k], probs[:, k]))
        if 0 < y_true[:, k].sum() < len(y_true)
        else None
        for k in range(len(labels))
    ]
    out["per_class"] = {
        label: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
            "roc_auc": aucs[i],
            "threshold": float(cut[i] if cut.ndim == 1 else cut[:, i].mean()),
        }
        for i, label in enumerate(labels)
    }
    defined = [a for a in aucs if a is not None]
    out["roc_auc"] = float(np.mean(defined)) if defined else None
    clipped = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    out["log_loss"] = float(-(y_true * np.log(clipped) + (1 - y_true) * np.log(1 - clipped)).mean())
    out["labels_per_text"] = {
        "gold": float(y_true.sum(axis=1).mean()),
        "predicted": float(y_pred.sum(axis=1).mean()),
    }
    out["labels"] = list(labels)
    return out


def join_labels(matrix: np.ndarray, labels: list[str]) -> list[str]:
    """Rows of a 0/1 matrix as `a|b` strings (empty when no label)."""
    return [LABEL_SEPARATOR.join(labels[k] for k in np.flatnonzero(row)) for row in matrix]


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """RMSE, MAE, MSE, R², Pearson and Spearman correlation of predicted against true values."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    constant = np.ptp(y_true) == 0 or np.ptp(y_pred) == 0  # correlations undefined
    mse = float(mean_squared_error(y_true, y_pred))
    return {
        "n": len(y_true),
        "rmse": math.sqrt(mse),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "mse": mse,
        "r2": float(r2_score(y_true, y_pred)) if len(y_true) > 1 else None,
        "pearson": None if constant else float(pearsonr(y_true, y_pred).statistic),
        "spearman": None if constant else float(spearmanr(y_true, y_pred).statistic),
        "target_mean": float(y_true.mean()),
        "target_std": float(y_true.std()),
    }
