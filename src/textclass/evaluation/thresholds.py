"""Per-label decision thresholds for multi-label classifiers, tuned on validation data.

A sigmoid output of 0.5 is the right cut only for a calibrated model with balanced costs; for
rare labels the F1-optimal cut is usually much lower. Each label's threshold is chosen on the
validation split to maximise that label's F-score (or precision/recall, as configured), using
scikit-learn's `precision_recall_curve` to score every distinct cut at once. Labels too rare on
validation to tune keep the default.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve

from textclass.config.schema import ThresholdConfig

_BETA = {"f1": 1.0, "f0.5": 0.5, "f2": 2.0}


def _best_cut(y: np.ndarray, scores: np.ndarray, metric: str, default: float) -> float:
    precision, recall, cuts = precision_recall_curve(y, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    if metric in _BETA:
        b2 = _BETA[metric] ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(
                precision + recall > 0,
                (1 + b2) * precision * recall / (b2 * precision + recall),
                0.0,
            )
    elif metric == "precision":
        value = precision + 1e-6 * recall  # break ties towards more recall
    else:
        value = recall + 1e-6 * precision
    best = np.flatnonzero(value >= value.max() - 1e-12)
    # Among equally good cuts, the one nearest the default (cuts are ascending).
    i = best[np.argmin(np.abs(cuts[best] - default))]
    # Midway to the next lower score, so that a slightly lower probability on new data still
    # counts as positive (the curve's cut is the lowest positive score itself).
    lower = scores[scores < cuts[i]]
    cut = (cuts[i] + lower.max()) / 2 if lower.size else cuts[i]
    return float(np.clip(cut, 1e-6, 1 - 1e-6))


def tune_thresholds(
    y_true: np.ndarray, probs: np.ndarray, cfg: ThresholdConfig | None = None
) -> np.ndarray:
    """One threshold per label (column), each maximising the configured metric on
    (y_true, probs); labels with fewer than `min_support` positives keep `default`."""
    cfg = cfg or ThresholdConfig()
    y_true = np.asarray(y_true)
    out = np.full(probs.shape[1], cfg.default, dtype=np.float64)
    if not cfg.tune:
        return out
    for k in range(probs.shape[1]):
        positives = int(y_true[:, k].sum())
        if positives < max(cfg.min_support, 1) or positives == len(y_true):
            continue
        out[k] = _best_cut(y_true[:, k], probs[:, k], cfg.metric, cfg.default)
    return out


def threshold_table(
    labels: list[str],
    thresholds: np.ndarray,
    y_true: np.ndarray,
    probs: np.ndarray,
    default: float = 0.5,
) -> list[dict[str, Any]]:
    """Per label: its threshold, support, and F1 at the default cut vs at its own."""
    from sklearn.metrics import f1_score

    rows = []
    for k, label in enumerate(labels):
        y = y_true[:, k]
        rows.append(
            {
                "label": label,
                "threshold": float(thresholds[k]),
                "support": int(y.sum()),
                "f1_default": float(f1_score(y, probs[:, k] >= default, zero_division=0)),
                "f1_tuned": float(f1_score(y, probs[:, k] >= thresholds[k], zero_division=0)),
            }
        )
    return rows
