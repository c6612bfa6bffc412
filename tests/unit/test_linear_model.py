"""The linear model family (textclass.models.linear): its outputs against scikit-learn's, the
save/load round trip (safetensors + JSON, outputs identical), pairs, regression, multi-label,
a tiny set learnt by heart, and the errors of loading, exporting and configuring it."""

import json

import numpy as np
import pandas as pd
import pytest

from textclass.config.load import load_config
from textclass.config.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, get_task
from textclass.data.prepare import PreparedData, prepare_data
from textclass.errors import ConfigError, TextclassError
from textclass.inference.classifier import Classifier, LinearClassifier
from textclass.models.linear import (
    SETTINGS,
    WEIGHTS,
    Features,
    LinearModel,
    fit_linear,
    join_pairs,
    texts,
)


def _data(dataset: str, rows: int) -> PreparedData:
    cfg = load_config(base={"name": "t", "data": {"dataset": dataset, "max_samples": rows}})
    return prepare_data(cfg.data, cfg.seed)


def _frames(rows: list[tuple[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["text", "label"])


def _by_hand(train, labels, task=SINGLE_LABEL, validation=None, test=None) -> PreparedData:
    splits = {"train": train, "validation": validation or train, "test": test or train}
    return PreparedData(splits=splits, labels=labels, columns=None, task=get_task(task).name)


@pytest.fixture(scope="module")
def trec():
    data = _data("trec", 400)
    return data, fit_linear(data, "f1_macro", seed=0)


def _reloaded(model: LinearModel, tmp_path) -> LinearModel:
    model.save(tmp_path)
    return LinearModel.load(tmp_path)


def test_outputs_are_scikit_learns_and_survive_a_round_trip(trec, tmp_path):
    data, fitted = trec
    model = fitted.model
    test_texts = texts(data.splits["test"])
    probs = model.outputs(test_texts)
    assert probs.shape == (len(test_texts), len(data.labels)) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # The same penalty refitted by scikit-learn on the same features predicts the same.
    x = model.features.transform(texts(data.splits["train"]))
    sk = SINGLE_LABEL.linear_model(fitted.value, 0, x.shape[0]).fit(x, data.targets("train"))
    np.testing.assert_allclose(
        probs, sk.predict_proba(model.features.transform(test_texts)), atol=1e-5
    )
    # The penalty chosen is the best on validation, whose outputs the fit kept.
    assert fitted.scores[fitted.value] == max(fitted.scores.values())
    np.testing.assert_array_equal(
        fitted.validation, model.outputs(texts(data.splits["validation"]))
    )

    loaded = _reloaded(model, tmp_path)
    np.testing.assert_array_equal(loaded.outputs(test_texts), probs)  # identical, not close
    assert loaded.labels == data.labels and loaded.task is SINGLE_LABEL
    assert loaded.estimator == {
        "name": "logistic regression",
        "penalty": "C",
        "value": fitted.value,
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == [SETTINGS, WEIGHTS]  # no pickle
    assert loaded.outputs([]).shape == (0, len(data.labels))


def test_binary_logistic_regression_is_two_softmax_outputs(tmp_path):
    train = _frames([("good fine great", "pos"), ("bad awful poor", "neg")] * 6)
    fitted = fit_linear(_by_hand(train, ["neg", "pos"]), "accuracy")
    x = fitted.model.features.transform(texts(train))
    assert fitted.model.weights.shape == (2, x.shape[1])
    assert not fitted.model.weights[0].any()  # class 0's row: the softmax reference
    sk = SINGLE_LABEL.linear_model(fitted.value, 0, 12).fit(x, np.array([1, 0] * 6))
    np.testing.assert_allclose(fitted.model.outputs_of(x), sk.predict_proba(x), atol=1e-6)


def test_a_tiny_set_is_learnt_by_heart_and_predicted_through_the_classifier(tmp_path):
    rows = [
        ("the striker scored a late goal", "sport"),
        ("a hat trick for the home side", "sport"),
        ("the keeper saved a penalty kick", "sport"),
        ("parliament passed the budget bill", "politics"),
        ("the minister resigned after the vote", "politics"),
        ("senators debated the new tax law", "politics"),
        ("the band released a new album", "music"),
        ("a sold out concert with a guitar solo", "music"),
        ("the singer toured with her orchestra", "music"),
    ]
    train = _frames(rows)
    labels = ["music", "politics", "sport"]
    fitted = fit_linear(_by_hand(train, labels), "accuracy")
    decided = SINGLE_LABEL.decide(fitted.model.outputs(texts(train)), labels)
    assert decided == train["label"].tolist()  # every training text right

    fitted.model.save(tmp_path)
    meta = {"architecture": "linear", "task": "single_label", "labels": labels}
    (tmp_path / "textclass.json").write_text(json.dumps(meta))
    clf = Classifier.load(tmp_path)
    assert isinstance(clf, LinearClassifier) and clf.backend == "numpy"
    assert clf.predict(train["text"].tolist()) == decided
    np.testing.assert_array_equal(
        clf.predict_proba(train["text"].tolist()), fitted.model.outputs(texts(train))
    )
    with pytest.raises(TextclassError, match="classifier: use predict_proba"):
        clf.predict_values(["x"])
    with pytest.raises(TextclassError, match="no ONNX form"):
        Classifier.load(tmp_path, backend="onnx")


def test_pairs_are_joined_as_one_text_alike_in_training_and_prediction(tmp_path):
    frame = pd.DataFrame(
        {
            "text": ["is it raining", "is it sunny", "what time is it", "who won"] * 3,
            "text_pair": ["yes, pouring", "no, cloudy", "noon", "nobody"] * 3,
            "label": ["yes", "no", "yes", "no"] * 3,
        }
    )
    assert texts(frame) == join_pairs(frame["text"].tolist(), frame["text_pair"].tolist())
    assert texts(frame)[0] == "is it raining | yes, pouring"
    fitted = fit_linear(_by_hand(frame, ["no", "yes"]), "accuracy")
    fitted.model.save(tmp_path)
    meta = {"architecture": "linear", "columns": {"text": "q", "text_pair": "a", "label": "y"}}
    (tmp_path / "textclass.json").write_text(json.dumps(meta))
    clf = Classifier.load(tmp_path)
    got = clf.predict_proba(frame["text"].tolist(), frame["text_pair"].tolist())
    np.testing.assert_array_equal(got, fitted.model.outputs(texts(frame)))
    with pytest.raises(TextclassError, match="must match"):
        clf.predict_proba(["a", "b"], ["only one"])


def test_regression_is_ridge_and_round_trips(tmp_path):
    data = _data("vader", 300)
    fitted = fit_linear(data, "rmse")
    assert fitted.penalty == "alpha" and fitted.scores[fitted.value] == min(fitted.scores.values())
    test = texts(data.splits["test"])
    values = fitted.model.outputs(test)
    y = data.targets("test")
    assert values.shape == y.shape and np.sqrt(np.mean((values - y) ** 2)) < y.std()
    x = fitted.model.features.transform(texts(data.splits["train"]))
    sk = REGRESSION.linear_model(fitted.value, 0, x.shape[0]).fit(x, data.targets("train"))
    np.testing.assert_allclose(values, sk.predict(fitted.model.features.transform(test)), atol=1e-4)
    np.testing.assert_array_equal(_reloaded(fitted.model, tmp_path).outputs(test), values)
    assert fitted.model.outputs([]).shape == (0,)


def test_multilabel_is_one_sigmoid_per_label_and_a_label_on_every_text_is_certain(tmp_path):
    data = _data("trec_multilabel", 200)
    fitted = fit_linear(data, "f1_micro")
    test = texts(data.splits["test"])
    probs = fitted.model.outputs(test)
    assert probs.shape == (len(test), len(data.labels))
    np.testing.assert_array_equal(_reloaded(fitted.model, tmp_path / "a").outputs(test), probs)

    train = _frames(
        [("red apple", ["fruit", "red"]), ("green apple", ["fruit"]), ("ripe pear", ["fruit"])] * 3
    )
    fitted = fit_linear(_by_hand(train, ["fruit", "red"], MULTI_LABEL), "f1_micro")
    probs = fitted.model.outputs(["a banana", "red car"])
    np.testing.assert_array_equal(probs[:, 0], 1.0)  # on every training text: always
    assert probs[1, 1] > probs[0, 1]
    again = _reloaded(fitted.model, tmp_path / "b")
    np.testing.assert_array_equal(again.outputs(["a banana", "red car"]), probs)


def test_features_keep_buckets_seen_min_df_times():
    features = Features(min_df=2)
    with pytest.raises(TextclassError, match="fit"):
        features.transform(["x"])
    x = features.fit_transform(["alpha beta", "alpha gamma", "alpha delta"])
    assert x.shape[1] == features.width and features.width > 0
    np.testing.assert_allclose(np.sqrt(x.multiply(x).sum(axis=1)), 2**0.5, rtol=1e-6)  # 2 blocks
    assert features.transform(["beta only"]).shape == (1, features.width)


def test_loading_refuses_missing_damaged_or_foreign_files(trec, tmp_path):
    with pytest.raises(TextclassError, match="not a linear model directory"):
        LinearModel.load(tmp_path)
    _, fitted = trec
    fitted.model.save(tmp_path)
    settings = json.loads((tmp_path / SETTINGS).read_text())

    def write(**changes) -> None:
        (tmp_path / SETTINGS).write_text(json.dumps({**settings, **changes}))

    write(format_version=99)
    with pytest.raises(TextclassError, match="format_version 99"):
        LinearModel.load(tmp_path)
    write(features={**settings["features"], "blocks": {"word": {}}})
    with pytest.raises(TextclassError, match="n-gram blocks"):
        LinearModel.load(tmp_path)
    write()
    from safetensors.numpy import load_file, save_file

    arrays = load_file(str(tmp_path / WEIGHTS))
    arrays["weights"] = arrays["weights"][:, :10].copy()
    save_file(arrays, str(tmp_path / WEIGHTS))
    with pytest.raises(TextclassError, match="do not fit"):
        LinearModel.load(tmp_path)


def test_settings_linear_cannot_honour_are_config_errors_all_at_once():
    base = {"name": "t", "data": {"dataset": "trec"}}
    with pytest.raises(ConfigError) as caught:
        load_config(
            base=base,
            overrides=[
                "model.architecture=linear",
                "model.window.enabled=true",
                "model.truncation=windows",
                "model.freeze=encoder",
                "train.siamese.enabled=true",
                "train.loss.name=focal",
                "train.gradient_checkpointing=true",
                "train.early_stopping.patience=2",
            ],
        )
    message = str(caught.value)
    for key in (
        "model.window.enabled",
        "model.truncation (it reads whole texts: set auto)",
        "model.freeze",
        "train.siamese.enabled",
        "train.loss.name (the objective is logistic (ridge) regression's: set auto)",
        "train.gradient_checkpointing",
        "train.early_stopping.patience",
    ):
        assert key in message
    # The optimizer's settings are simply not used; the task's own loss names are fine.
    cfg = load_config(
        base=base, overrides=["model.architecture=linear", "train.lr=1e-3", "train.loss.name=mse"]
    )
    assert cfg.model.architecture == "linear"


def test_doctor_refuses_a_linear_config():
    from textclass.diagnosis.doctor import doctor

    cfg = load_config(
        base={"name": "t", "data": {"dataset": "trec"}, "model": {"architecture": "linear"}}
    )
    with pytest.raises(TextclassError, match="nothing to tune"):
        doctor(cfg)
