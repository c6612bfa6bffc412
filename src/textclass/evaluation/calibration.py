"""Calibration of predicted probabilities: expected calibration error and reliability bins."""

from __future__ import annotations

from typing import Any

import numpy as np

from textclass.config.tasks import SINGLE_LABEL


def _reliability(
    scores: np.ndarray, outcomes: np.ndarray, bins: int, names: tuple[str, str]
) -> dict[str, Any]:
    """Equal-width bins of `scores` in [0, 1]: per bin the mean score and the observed rate of
    `outcomes` (named by `names`), and the expected calibration error over the bins."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        score, rate = float(scores[mask].mean()), float(outcomes[mask].mean())
        ece += mask.mean() * abs(rate - score)
        table.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "n": int(mask.sum()),
                names[0]: score,
                names[1]: rate,
            }
        )
    return {"ece": float(ece), "bins": table}


def calibration(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """Expected calibration error of the top-class confidence, with the reliability bins."""
    confidence = probs.max(axis=1)
    correct = SINGLE_LABEL.decide_ids(probs) == np.asarray(y_true)
    return _reliability(confidence, correct, bins, ("confidence", "accuracy"))


def pooled_calibration(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """Calibration of independent per-label probabilities (multi-label): every (text, label)
    pair is one binary forecast; expected calibration error of the predicted probability
    against the observed share of positives."""
    p, outcome = probs.ravel(), y.ravel().astype(np.float64)
    out = _reliability(p, outcome, bins, ("mean_probability", "positive_rate"))
    return {**out, "pooled": "every (text, label) probability"}
