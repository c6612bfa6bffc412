"""The task objects (textclass.config.tasks): outputs, the decision rule, targets, the
prediction table and the metrics of each task, checked against independent computations."""

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, log_loss

from textclass.config.tasks import (
    LABEL_SEPARATOR,
    MULTI_LABEL,
    REGRESSION,
    SINGLE_LABEL,
    TASK_NAMES,
    Task,
    get_task,
)
from textclass.evaluation import metrics as metrics_module

LABELS = ["a", "b", "c"]

pending_classification = pytest.mark.xfail(
    not hasattr(metrics_module, "classification_metrics"),
    reason="classification_metrics pending (renamed from compute_metrics)",
    strict=False,
)
pending_regression = pytest.mark.xfail(
    not hasattr(metrics_module, "regression_metrics"),
    reason="regression_metrics pending",
    strict=False,
)


def _logits(n: int = 50, k: int = 3, seed: int = 0, scale: float = 3.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, scale, (n, k)).astype(np.float32)


# ---------------------------------------------------------------- names and lookup


def test_get_task_by_name_object_or_nothing():
    assert TASK_NAMES == ("single_label", "multi_label", "regression")
    for name in TASK_NAMES:
        task = get_task(name)
        assert isinstance(task, Task) and task.name == name and str(task) == name
        assert get_task(task) is task
        assert task == name and name == task  # equal to its name, as saved in JSON
        assert hash(task) == hash(name)
    assert get_task(None) is SINGLE_LABEL  # model directories from before tasks were recorded
    assert SINGLE_LABEL != MULTI_LABEL and SINGLE_LABEL != "multi_label"
    with pytest.raises(ValueError, match="unknown task 'ranking'; use one of single_label"):
        get_task("ranking")


def test_outputs_per_task_and_metric_direction():
    assert SINGLE_LABEL.num_outputs(LABELS) == MULTI_LABEL.num_outputs(LABELS) == 3
    assert REGRESSION.num_outputs(["score"]) == 1
    for task in (SINGLE_LABEL, MULTI_LABEL, REGRESSION):
        assert task.default_loss in task.losses
        assert task.default_metric in task.selection_metrics
        assert task.lower_is_better("loss")
        assert set(task.history_metrics) <= set(task.selection_metrics) | {"log_loss"}
    assert not SINGLE_LABEL.lower_is_better("f1_macro") and SINGLE_LABEL.lower_is_better("log_loss")
    assert REGRESSION.lower_is_better("rmse") and REGRESSION.lower_is_better("mae")
    assert not REGRESSION.lower_is_better("r2") and not REGRESSION.lower_is_better("spearman")
    assert not REGRESSION.has_labels and not REGRESSION.has_probabilities
    assert SINGLE_LABEL.has_labels and MULTI_LABEL.has_probabilities


# ---------------------------------------------------------------- targets


def test_targets_per_task():
    single = SINGLE_LABEL.targets(pd.Series(["c", "a", "b", "a"]), LABELS)
    assert single.dtype == np.int64 and single.tolist() == [2, 0, 1, 0]
    multi = MULTI_LABEL.targets(pd.Series([("a", "c"), (), ("b",)]), LABELS)
    assert multi.dtype == np.float32
    assert multi.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    numeric = REGRESSION.targets(pd.Series([1.5, -2, 0.25]), ["score"])
    assert numeric.dtype == np.float32 and numeric.tolist() == [1.5, -2.0, 0.25]


# ---------------------------------------------------------------- outputs


def test_single_label_outputs_are_a_softmax():
    logits = _logits()
    probs = SINGLE_LABEL.outputs(logits)
    assert probs.shape == logits.shape and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(probs, special.softmax(logits.astype(np.float64), axis=1), atol=1e-6)
    assert (probs.argmax(axis=1) == logits.argmax(axis=1)).all()
    # Large logits neither overflow nor lose the ranking.
    huge = SINGLE_LABEL.outputs(np.array([[1000.0, 999.0, -1000.0]], dtype=np.float32))
    assert np.isfinite(huge).all() and huge.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(huge[0], special.softmax([1000.0, 999.0, -1000.0]), atol=1e-6)


def test_multi_label_outputs_are_independent_sigmoids():
    logits = _logits()
    probs = MULTI_LABEL.outputs(logits)
    assert probs.shape == logits.shape and probs.dtype == np.float32
    assert ((probs > 0) & (probs < 1)).all()
    np.testing.assert_allclose(probs, special.expit(logits.astype(np.float64)), atol=1e-6)
    # Rows need not sum to 1: each label is its own yes/no.
    assert not np.allclose(probs.sum(axis=1), 1.0)
    assert MULTI_LABEL.outputs(np.zeros((1, 3), dtype=np.float32)).tolist() == [[0.5] * 3]


def test_regression_outputs_are_the_raw_values():
    logits = _logits(k=1)
    values = REGRESSION.outputs(logits)
    assert values.shape == (len(logits),) and values.dtype == np.float32
    assert values.tolist() == logits[:, 0].tolist()  # identity: no squashing
    assert REGRESSION.outputs(logits[:, 0]).tolist() == values.tolist()  # (n,) as well


# ---------------------------------------------------------------- the decision rule


def test_single_label_decides_the_most_probable_class():
    probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [0.1, 0.2, 0.7]])
    assert SINGLE_LABEL.decide(probs, LABELS) == ["b", "a", "c"]
    # Thresholds do not apply to a softmax: the argmax wins whatever they say.
    assert SINGLE_LABEL.decide(probs, LABELS, np.array([0.9, 0.9, 0.9])) == ["b", "a", "c"]
    probs = SINGLE_LABEL.outputs(_logits())
    assert SINGLE_LABEL.decide(probs, LABELS) == [LABELS[i] for i in probs.argmax(axis=1)]


def test_multi_label_decides_each_label_at_its_threshold():
    probs = np.array([[0.7, 0.5, 0.49], [0.1, 0.2, 0.3], [0.9, 0.95, 0.6]])
    # Default cut 0.5, inclusive; a row may get no label at all.
    assert MULTI_LABEL.decide(probs, LABELS) == [["a", "b"], [], ["a", "b", "c"]]
    cuts = np.array([0.8, 0.1, 0.65])
    assert MULTI_LABEL.decide(probs, LABELS, cuts) == [["b"], ["b"], ["a", "b"]]
    assert MULTI_LABEL.cut(LABELS, None).tolist() == [0.5, 0.5, 0.5]
    assert MULTI_LABEL.cut(LABELS, cuts).tolist() == cuts.tolist()
    assert MULTI_LABEL.format_prediction(["a", "c"]) == f"a{LABEL_SEPARATOR}c"
    assert MULTI_LABEL.format_prediction([]) == ""


def test_regression_decides_the_values_as_floats():
    values = np.array([1.25, -0.5, 3.0], dtype=np.float32)
    decided = REGRESSION.decide(values)
    assert decided == [1.25, -0.5, 3.0] and all(type(v) is float for v in decided)
    assert REGRESSION.decide(values.reshape(-1, 1), ["score"]) == decided
    assert REGRESSION.format_prediction(np.float32(1 / 3)) == pytest.approx(0.333333, abs=1e-9)


# ---------------------------------------------------------------- the prediction table


def test_single_label_predictions_frame():
    probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], dtype=np.float32)
    frame = pd.DataFrame({"text": ["x", "y"], "label": ["b", "c"]})
    out = SINGLE_LABEL.predictions_frame(frame, probs, LABELS)
    assert list(out.columns) == ["text", "gold", "predicted", "prob_a", "prob_b", "prob_c"]
    assert out["gold"].tolist() == ["b", "c"] and out["predicted"].tolist() == ["b", "a"]
    np.testing.assert_allclose(out[["prob_a", "prob_b", "prob_c"]], probs, atol=1e-6)
    pair = frame.drop(columns="label").assign(text_pair=["p", "q"])
    out = SINGLE_LABEL.predictions_frame(pair, probs, LABELS)
    assert list(out.columns) == ["text", "text_pair", "predicted", "prob_a", "prob_b", "prob_c"]
    assert out["text_pair"].tolist() == ["p", "q"]


def test_multi_label_predictions_frame():
    probs = np.array([[0.7, 0.5, 0.2], [0.1, 0.2, 0.3]], dtype=np.float32)
    frame = pd.DataFrame({"text": ["x", "y"], "label": [("a", "c"), ()]})
    out = MULTI_LABEL.predictions_frame(frame, probs, LABELS, np.array([0.5, 0.6, 0.25]))
    assert list(out.columns) == ["text", "gold", "predicted", "prob_a", "prob_b", "prob_c"]
    assert out["gold"].tolist() == ["a|c", ""]
    assert out["predicted"].tolist() == ["a", "c"]
    assert MULTI_LABEL.predictions_frame(frame, probs, LABELS)["predicted"].tolist() == ["a|b", ""]


def test_regression_predictions_frame():
    values = np.array([1.5, -0.25, 2.0], dtype=np.float32)
    frame = pd.DataFrame({"text": ["x", "y", "z"], "label": [1.0, 0.25, 2.0]})
    out = REGRESSION.predictions_frame(frame, values, ["score"])
    assert list(out.columns) == ["text", "gold", "predicted", "residual"]
    assert out["predicted"].tolist() == [1.5, -0.25, 2.0]
    assert out["residual"].tolist() == pytest.approx([0.5, -0.5, 0.0])
    unlabelled = REGRESSION.predictions_frame(frame.drop(columns="label"), values, ["score"])
    assert list(unlabelled.columns) == ["text", "predicted"]


# ---------------------------------------------------------------- metrics and loss


def test_losses_are_the_models_own_likelihoods():
    rng = np.random.default_rng(0)
    probs = SINGLE_LABEL.outputs(_logits())
    y = rng.integers(0, 3, len(probs))
    assert SINGLE_LABEL.loss(y, probs) == pytest.approx(log_loss(y, probs, labels=[0, 1, 2]))
    sig = MULTI_LABEL.outputs(_logits())
    ym = (rng.random(sig.shape) < 0.4).astype(np.float32)
    bce = np.mean([log_loss(ym[:, k], sig[:, k], labels=[0, 1]) for k in range(3)])
    assert MULTI_LABEL.loss(ym, sig) == pytest.approx(bce, rel=1e-5)
    values, gold = rng.normal(size=20), rng.normal(size=20)
    assert REGRESSION.loss(gold, values) == pytest.approx(np.mean((gold - values) ** 2))


@pending_classification
def test_single_label_metrics_against_sklearn():
    rng = np.random.default_rng(1)
    probs = SINGLE_LABEL.outputs(_logits(n=200, scale=1.0))
    y = np.where(rng.random(200) < 0.6, probs.argmax(axis=1), rng.integers(0, 3, 200))
    metrics = SINGLE_LABEL.metrics(y, probs, LABELS)
    pred = probs.argmax(axis=1)
    assert metrics["n"] == 200
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert metrics["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert metrics["f1_weighted"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert metrics["loss"] == pytest.approx(log_loss(y, probs, labels=[0, 1, 2]), rel=1e-5)
    assert "accuracy" in SINGLE_LABEL.summary_line(metrics)


def test_multi_label_metrics_against_sklearn_at_the_given_thresholds():
    rng = np.random.default_rng(2)
    y = (rng.random((200, 3)) < [0.5, 0.3, 0.1]).astype(np.float32)
    probs = np.clip(0.35 * y + rng.random(y.shape) * 0.6, 0, 1).astype(np.float32)
    cuts = np.array([0.5, 0.45, 0.3])
    metrics = MULTI_LABEL.metrics(y, probs, LABELS, cuts)
    pred = (probs >= cuts).astype(int)
    yi = y.astype(int)
    assert metrics["n"] == 200
    assert metrics["f1_micro"] == pytest.approx(f1_score(yi, pred, average="micro"))
    assert metrics["f1_macro"] == pytest.approx(f1_score(yi, pred, average="macro"))
    assert metrics["subset_accuracy"] == pytest.approx(accuracy_score(yi, pred))
    assert metrics["hamming_loss"] == pytest.approx(hamming_loss(yi, pred))
    assert metrics["loss"] == pytest.approx(MULTI_LABEL.loss(y, probs), rel=1e-6)
    at_half = MULTI_LABEL.metrics(y, probs, LABELS)
    plain = (probs >= 0.5).astype(int)
    assert at_half["f1_macro"] == pytest.approx(f1_score(yi, plain, average="macro"))
    assert at_half["f1_macro"] != metrics["f1_macro"]
    assert "micro-F1" in MULTI_LABEL.summary_line(metrics)


@pending_regression
def test_regression_metrics_against_numpy_and_scipy():
    rng = np.random.default_rng(3)
    gold = rng.normal(5, 2, 300)
    predicted = (gold + rng.normal(0, 1, 300)) * 0.8 + 0.7  # correlated, biased, shrunk
    metrics = REGRESSION.metrics(gold, predicted.astype(np.float32).reshape(-1, 1))
    residual = gold - predicted
    mse = np.mean(residual**2)
    assert metrics["n"] == 300
    assert metrics["mse"] == pytest.approx(mse, rel=1e-5)
    assert metrics["rmse"] == pytest.approx(np.sqrt(mse), rel=1e-5)
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(residual)), rel=1e-5)
    r2 = 1 - np.sum(residual**2) / np.sum((gold - gold.mean()) ** 2)
    assert metrics["r2"] == pytest.approx(r2, rel=1e-5)
    assert metrics["pearson"] == pytest.approx(stats.pearsonr(gold, predicted)[0], rel=1e-5)
    assert metrics["spearman"] == pytest.approx(stats.spearmanr(gold, predicted)[0], rel=1e-5)
    assert metrics["loss"] == pytest.approx(mse, rel=1e-5)
    # A constant offset leaves the correlations at 1 and shows up in the errors only.
    shifted = REGRESSION.metrics(gold, gold + 1.0)
    assert shifted["pearson"] == pytest.approx(1.0) and shifted["spearman"] == pytest.approx(1.0)
    assert shifted["mae"] == pytest.approx(1.0) and shifted["rmse"] == pytest.approx(1.0)
    assert shifted["r2"] == pytest.approx(1 - 1 / gold.var(), rel=1e-6)
    line = REGRESSION.summary_line(metrics)
    assert "RMSE" in line and "Spearman" in line and "(n=300)" in line
