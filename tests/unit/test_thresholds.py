"""Per-label decision thresholds (textclass.evaluation.thresholds), judged on rows they were not
tuned on."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from textclass.config.schema import ThresholdConfig
from textclass.evaluation.thresholds import tune_thresholds

SHIFT = np.array([0.0, 0.3, 0.35])  # label 0 calibrated; labels 1 and 2 scored too low


def _scores(n: int = 800, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gold label sets (label 2 rare) and informative scores, shifted down for labels 1 and 2:
    what BCE on rare labels typically gives. The F1-optimal cut of a shifted label is far
    below 0.5."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 3)) < [0.5, 0.3, 0.08]).astype(int)
    signal = np.where(y == 1, 0.7, 0.3) + rng.normal(0, 0.15, y.shape)
    return y, np.clip(signal - SHIFT, 0.001, 0.999)


def _f1(y: np.ndarray, probs: np.ndarray, cuts) -> np.ndarray:
    cuts = np.broadcast_to(cuts, (y.shape[1],))
    return np.array(
        [f1_score(y[:, k], probs[:, k] >= cuts[k], zero_division=0) for k in range(y.shape[1])]
    )


def test_tuned_thresholds_beat_the_default_on_held_out_rows():
    y, probs = _scores()
    order = np.random.default_rng(1).permutation(len(y))
    tune, held = order[: len(y) // 2], order[len(y) // 2 :]
    cuts = tune_thresholds(y[tune], probs[tune])
    assert cuts[1] < 0.5 and cuts[2] < 0.5  # the shifted labels get lower cuts
    assert cuts[0] == pytest.approx(0.5, abs=0.1)  # the calibrated one stays near 0.5

    tuned, default = _f1(y[held], probs[held], cuts), _f1(y[held], probs[held], 0.5)
    # Scored on the half the cuts never saw: clearly better where the scores are shifted ...
    assert (tuned[1:] > default[1:] + 0.2).all(), (tuned, default)
    # ... and no real loss where 0.5 was already right (a tuned cut fits its half's noise).
    assert tuned[0] >= default[0] - 0.02, (tuned, default)
    assert tuned.mean() > default.mean() + 0.1


def test_threshold_settings_keep_the_default():
    y, probs = _scores()
    off = tune_thresholds(y, probs, ThresholdConfig(tune=False))
    assert off.tolist() == [0.5, 0.5, 0.5]
    rare = tune_thresholds(y, probs, ThresholdConfig(min_support=1000))
    assert rare.tolist() == [0.5, 0.5, 0.5]
    # Only the label with too few positives (label 2: about 64 of 800) keeps the default.
    some = tune_thresholds(y, probs, ThresholdConfig(min_support=int(y[:, 2].sum()) + 1))
    assert some[2] == 0.5 and some[1] < 0.5
    shifted = tune_thresholds(y, probs, ThresholdConfig(default=0.3, min_support=1000))
    assert shifted.tolist() == [0.3, 0.3, 0.3]
