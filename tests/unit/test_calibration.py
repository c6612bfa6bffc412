"""Temperature scaling: the fit, what it leaves alone (decisions), and when T stays 1."""

import numpy as np
import pytest

from textclass.config.tasks import MULTI_LABEL, SINGLE_LABEL
from textclass.errors import TextclassError
from textclass.evaluation.calibration import (
    calibration,
    fit_temperature,
    pooled_calibration,
    scale_logits,
    scale_thresholds,
    temperature_array,
)


def _single_label(n: int, true_t: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels were drawn from softmax(logits / true_t): over-confident by T."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, (n, 4)).astype(np.float32)
    p = np.exp(z / true_t)
    p /= p.sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    return z, y


def _multi_label(n: int, true_t: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 4, (n, len(true_t))).astype(np.float32)
    y = (rng.random(z.shape) < 1 / (1 + np.exp(-z / true_t))).astype(np.float32)
    return z, y


def test_fit_recovers_a_known_temperature_and_lowers_held_out_ece():
    z, y = _single_label(6000, 2.5, seed=0)
    t, record = fit_temperature(z, y, SINGLE_LABEL)
    assert t == pytest.approx(2.5, rel=0.06)
    assert record["applied"] and record["temperature"] == t and record["reason"] is None
    fit = record["validation"]
    assert fit["nll_fitted"] < fit["nll_before"] and fit["ece_fitted"] < fit["ece_before"]

    held_z, held_y = _single_label(4000, 2.5, seed=1)
    before = calibration(SINGLE_LABEL.outputs(held_z), held_y)["ece"]
    after = calibration(SINGLE_LABEL.outputs(scale_logits(held_z, np.float32(t))), held_y)["ece"]
    assert after < before / 3
    # Dividing by T > 0 never changes the most probable class.
    scaled = SINGLE_LABEL.outputs(scale_logits(held_z, np.float32(t)))
    assert np.array_equal(scaled.argmax(axis=1), held_z.argmax(axis=1))
    assert scaled.dtype == np.float32


def test_temperature_stays_1_when_it_does_not_lower_ece():
    """Ten texts at confidence 0.8, eight right: already calibrated (ECE 0), and T=1 is also
    the likelihood's optimum; nothing can lower the ECE, so nothing is applied."""
    z = np.tile(np.array([[np.log(4.0), 0.0]], dtype=np.float32), (10, 1))
    y = np.array([0] * 8 + [1] * 2)
    t, record = fit_temperature(z, y, SINGLE_LABEL)
    assert t is None
    assert record["applied"] is False and record["temperature"] == 1.0
    assert record["fitted"] == pytest.approx(1.0, abs=1e-3)
    assert "did not lower the validation expected calibration error" in record["reason"]
    assert "T stays 1" in record["reason"]
    assert record["validation"]["ece_before"] == pytest.approx(0.0, abs=1e-7)


def test_multi_label_fits_one_temperature_per_label():
    true_t = np.array([0.5, 2.0, 3.0], dtype=np.float32)
    z, y = _multi_label(6000, true_t, seed=0)
    t, record = fit_temperature(z, y, MULTI_LABEL)
    np.testing.assert_allclose(t, true_t, rtol=0.1)
    assert record["temperature"] == pytest.approx(list(t)) and record["labels_kept_at_1"] == 0

    held_z, held_y = _multi_label(4000, true_t, seed=1)
    before = pooled_calibration(MULTI_LABEL.outputs(held_z), held_y)["ece"]
    scale = temperature_array(record["temperature"], 3)
    after = pooled_calibration(MULTI_LABEL.outputs(scale_logits(held_z, scale)), held_y)["ece"]
    assert after < before / 2


def test_a_label_with_one_outcome_on_validation_keeps_1():
    z, y = _multi_label(2000, np.array([2.0, 2.0]), seed=3)
    y[:, 1] = 0  # never positive: its NLL keeps falling as T -> 0
    t, record = fit_temperature(z, y, MULTI_LABEL)
    assert t[1] == 1.0 and t[0] == pytest.approx(2.0, rel=0.15)
    assert record["labels_kept_at_1"] == 1


def test_multi_label_decisions_are_unchanged_at_carried_over_thresholds():
    true_t = np.array([0.5, 2.0, 3.0, 1.5], dtype=np.float32)
    z, _ = _multi_label(5000, true_t, seed=2)
    rng = np.random.default_rng(4)
    for cuts in (np.full(4, 0.5), rng.uniform(0.02, 0.98, 4)):
        raw = MULTI_LABEL.decide_ids(MULTI_LABEL.outputs(z), cuts)
        calibrated = MULTI_LABEL.outputs(scale_logits(z, true_t))
        moved = scale_thresholds(cuts, true_t)
        assert np.array_equal(MULTI_LABEL.decide_ids(calibrated, moved), raw)
        assert not np.allclose(calibrated, MULTI_LABEL.outputs(z))  # the probabilities moved
    # 0.5 is 0.5 at any temperature: the default cut needs no carrying over.
    np.testing.assert_allclose(scale_thresholds(np.full(4, 0.5), true_t), 0.5)
    np.testing.assert_array_equal(scale_thresholds(np.array([0.3]), None), [0.3])


def test_saved_temperatures_are_read_or_refused():
    assert temperature_array(None, 3) is None
    assert temperature_array(1.0, 3) is None  # nothing to divide by
    assert temperature_array([1.0, 1.0], 2) is None
    assert temperature_array(2.0, 3) == np.float32(2.0)
    np.testing.assert_array_equal(temperature_array([0.5, 2.0], 2), [0.5, 2.0])
    for bad in ([1.0, 2.0], 0.0, -1.0, [[1.0]]):
        with pytest.raises(TextclassError, match="temperature"):
            temperature_array(bad, 3)
