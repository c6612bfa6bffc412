"""The ensemble's arithmetic on synthetic outputs: weights fitted per task, the saved stacker
against scikit-learn's own `predict_proba`, multi-label stacking per label, regression means."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from textclass.config.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from textclass.inference.ensemble import apply_stacker, combine, stacking_features
from textclass.workflows.ensemble import FitRows, Group, fit_stacker, fit_weights

rng = np.random.default_rng(0)


def _groups(labels: list[str], sizes=(1, 1)) -> list[Group]:
    meta = {"labels": labels}
    return [
        Group(Path(f"g{i}"), "cross_validation", [Path(f"m{k}") for k in range(n)], None, meta)
        for i, n in enumerate(sizes)
    ]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("classes", [2, 3])
def test_the_saved_stacker_is_scikit_learns_predict_proba(classes):
    x = rng.normal(size=(120, 4))
    y = (x[:, 0] + rng.normal(size=120) > 0).astype(int) + (classes == 3) * (x[:, 1] > 1)
    model = LogisticRegression(C=0.7).fit(x, y)
    saved = {"coef": model.coef_.tolist(), "intercept": model.intercept_.tolist()}
    np.testing.assert_allclose(apply_stacker(saved, x, False), model.predict_proba(x), atol=1e-12)


def test_weights_favour_the_better_group_and_never_lose_to_soft():
    y = rng.integers(0, 3, size=200)
    good = _softmax(np.eye(3)[y] * 2 + rng.normal(size=(200, 3)))
    noise = _softmax(rng.normal(size=(200, 3)))
    rows = FitRows("validation predictions", y, [good, noise])
    weights, record = fit_weights(rows, SINGLE_LABEL, _groups(["a", "b", "c"]))
    assert min(weights) >= 0 and sum(weights) == pytest.approx(1.0)
    assert weights[0] > 0.8
    assert record["loss"] <= record["soft_loss"]
    assert record["loss"] == pytest.approx(
        SINGLE_LABEL.loss(y, weights[0] * good + weights[1] * noise)
    )


def test_regression_weights_are_a_weighted_mean_of_values():
    y = rng.normal(size=150)
    close, far = y + rng.normal(scale=0.1, size=150), y + rng.normal(scale=1.0, size=150)
    rows = FitRows("validation predictions", y, [close, far])
    weights, record = fit_weights(rows, REGRESSION, _groups(["score"]))
    assert weights[0] > weights[1] and record["loss"] <= record["soft_loss"]
    got = combine({"method": "weighted", "weights": weights}, [close, far], False)
    np.testing.assert_allclose(got, weights[0] * close + weights[1] * far, rtol=1e-6)


def test_soft_weights_count_every_model_once():
    a, b = np.array([[0.2, 0.8]]), np.array([[0.6, 0.4]])
    got = combine({"method": "soft", "weights": [1 / 3, 2 / 3]}, [a, b], False)  # 1 + 2 models
    np.testing.assert_allclose(got, (a + 2 * b) / 3, rtol=1e-6)


def test_multi_label_stacking_fits_one_regression_per_label():
    labels = ["x", "y", "z"]
    y = (rng.random(size=(160, 3)) < 0.4).astype(np.float32)
    outputs = [np.clip(y * 0.6 + rng.random(size=(160, 3)) * 0.4, 0.01, 0.99) for _ in range(2)]
    rows = FitRows("out-of-fold predictions", y, outputs)
    stacker, record, models = fit_stacker(rows, MULTI_LABEL, _groups(labels, (2, 3)), seed=0)
    assert len(models) == 3 and np.shape(stacker["coef"]) == (3, 2)
    features = stacking_features(outputs, True)  # (n, labels, groups)
    got = apply_stacker(stacker, features, True)
    for k, model in enumerate(models):
        np.testing.assert_allclose(
            got[:, k], model.predict_proba(features[:, k, :])[:, 1], atol=1e-12
        )
    assert record["rows"] == 160 and record["loss"] == pytest.approx(MULTI_LABEL.loss(y, got))
