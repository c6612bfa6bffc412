"""The robustness numbers, recomputed by hand from made-up outputs of every task."""

from __future__ import annotations

import numpy as np
import pytest

from textclass.config.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from textclass.evaluation.robustness import expected_flip_record, flip_record


def _probs(classes: list[int], k: int = 2, p: float = 0.8) -> np.ndarray:
    out = np.full((len(classes), k), (1 - p) / (k - 1))
    out[np.arange(len(classes)), classes] = p
    return out


def test_single_label_flips_and_accuracy_by_hand():
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 3, n)
    before_ids = np.where(rng.random(n) < 0.8, y, (y + 1) % 3)  # 80% right
    changed = rng.random(n) < 0.6
    flip = changed & (rng.random(n) < 0.25)  # only changed texts can flip
    after_ids = np.where(flip, (before_ids + 1) % 3, before_ids)
    before, after = _probs(before_ids, 3), _probs(after_ids, 3)
    r = flip_record(SINGLE_LABEL, y, before, after, changed, ["a", "b", "c"], seed=1)

    assert (r["n"], r["changed"], r["flips"]) == (n, changed.sum(), flip.sum())
    assert r["changed_share"] == pytest.approx(changed.mean())
    assert r["flip_rate"] == pytest.approx(flip.mean())
    assert r["flip_rate_changed"] == pytest.approx(flip[changed].mean())
    assert r["metric"] == "accuracy"
    assert r["original"] == pytest.approx((before_ids == y).mean())
    assert r["perturbed"] == pytest.approx((after_ids == y).mean())
    assert r["difference"] == pytest.approx(r["perturbed"] - r["original"])
    for value, key in [("flip_rate", "flip_rate_interval"), ("difference", "interval")]:
        low, high = r[key]
        assert low <= r[value] <= high and high - low > 0
    # The interval of the flip rate is about the binomial one: +-1.96 sqrt(p(1-p)/n).
    half = 1.96 * np.sqrt(flip.mean() * (1 - flip.mean()) / n)
    assert r["flip_rate_interval"][1] - r["flip_rate_interval"][0] == pytest.approx(2 * half, 0.25)


def test_nothing_changed_nothing_flips():
    y = np.array([0, 1, 1, 0])
    out = _probs([0, 1, 0, 0])
    r = flip_record(SINGLE_LABEL, y, out, out.copy(), np.zeros(4, bool), ["x", "y"])
    assert (r["flips"], r["flip_rate"], r["difference"]) == (0, 0.0, 0.0)
    assert r["flip_rate_changed"] is None and r["flip_rate_changed_interval"] is None


def test_multi_label_flip_is_any_change_of_the_label_set():
    y = np.array([[1, 0], [0, 1], [1, 1]], dtype=float)
    before = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6]])
    after = np.array([[0.9, 0.6], [0.2, 0.7], [0.3, 0.9]])  # row 0 gains, row 2 loses a label
    r = flip_record(MULTI_LABEL, y, before, after, np.ones(3, bool), ["a", "b"])
    assert r["flips"] == 2 and r["metric"] == "f1_micro"
    assert r["original"] == pytest.approx(1.0)
    assert r["perturbed"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))  # tp 3, fp 1, fn 1


def test_regression_reports_how_far_the_values_move():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    before = np.array([1.0, 2.0, 3.0, 4.0])
    after = np.array([1.5, 2.0, 2.0, 4.0])
    changed = np.array([True, False, True, True])
    r = flip_record(REGRESSION, y, before, after, changed, ["score"])
    assert r["flips"] is None and "flip_rate" not in r
    assert r["mean_abs_change"] == pytest.approx(1.5 / 4)
    assert r["mean_abs_change_changed"] == pytest.approx(1.5 / 3)
    assert (r["metric"], r["original"]) == ("rmse", 0.0)
    assert r["perturbed"] == pytest.approx(np.sqrt((0.25 + 1.0) / 4))


def test_expected_flip_counts_flips_and_agreement_with_the_flipped_label():
    y = np.array([0, 0, 1, 1, 0])
    before = _probs([0, 1, 1, 1, 0])
    after = _probs([1, 1, 0, 1, 0])  # rows 0 and 2 flip
    r = expected_flip_record(SINGLE_LABEL, y, before, after, np.ones(5, bool))
    assert (r["flips"], r["flip_rate"]) == (2, pytest.approx(0.4))
    # The flipped gold labels are 1, 1, 0, 0, 1; the perturbed predictions 1, 1, 0, 1, 0.
    assert r["flipped_label_agreement"] == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="needs decisions"):
        expected_flip_record(REGRESSION, y, before[:, 0], after[:, 0], np.ones(5, bool))
