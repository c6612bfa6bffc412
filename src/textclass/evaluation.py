"""Metrics from gold labels and predicted probabilities, computed with scikit-learn."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)


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


def compute_metrics(y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Accuracy, P/R/F1 (macro, weighted, per class), confusion matrix, ROC-AUC, log loss."""
    y_true = np.asarray(y_true)
    y_pred = probs.argmax(axis=1)
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


def predictions_frame(frame: pd.DataFrame, probs: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """Text, gold, predicted label and one probability column per class."""
    out = pd.DataFrame({"text": frame["text"].to_numpy()})
    if "text_pair" in frame.columns:
        out["text_pair"] = frame["text_pair"].to_numpy()
    if "label" in frame.columns:
        out["gold"] = frame["label"].to_numpy()
    out["predicted"] = [labels[i] for i in probs.argmax(axis=1)]
    for i, label in enumerate(labels):
        out[f"prob_{label}"] = probs[:, i].round(6)
    return out


def summary_line(metrics: dict[str, Any]) -> str:
    parts = [f"accuracy {metrics['accuracy']:.4f}", f"macro-F1 {metrics['f1_macro']:.4f}"]
    if metrics.get("roc_auc") is not None:
        parts.append(f"ROC-AUC {metrics['roc_auc']:.4f}")
    if metrics.get("log_loss") is not None:
        parts.append(f"log loss {metrics['log_loss']:.4f}")
    return ", ".join(parts) + f" (n={metrics['n']})"
