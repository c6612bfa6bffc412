"""Labels that look like numbers stay strings from the data file to the report, the model
directory, `Classifier.predict` and the HTTP API: `0`/`1` (binary), `1`..`5` (star-like
classes), and integer labels in a JSONL file."""

import json

import pandas as pd
from fastapi.testclient import TestClient

import textclass
from tests.conftest import tiny_overrides
from textclass.config.load import load_config
from textclass.data import datasets

TEXTS = ["a tender, funny film", "dull and far too long", "What city is the Eiffel Tower in ?"]


def _train(tmp_path, tiny_model_dir, train_file, *overrides):
    cfg = load_config(
        base={"name": "digits"},
        overrides=[
            f"data.train={train_file}",
            *tiny_overrides(tiny_model_dir, tmp_path / "runs"),
            "train.epochs=1",
            *overrides,
        ],
    )
    return textclass.train(cfg)


def _check_run(result, labels: list[str]) -> None:
    """Every file of a finished run keeps the labels as the strings they were."""
    run = result.run_dir
    for name in ("report.md", "report.html", "report.json"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert list(metrics[split]["per_class"]) == labels
    report = json.loads((run / "report.json").read_text())
    assert list(report["results"]["test"]["per_class"]) == labels
    assert list(report["results"]["test"]["intervals"]["per_class"]) == labels
    meta = json.loads((run / "model" / "textclass.json").read_text())
    assert meta["labels"] == labels
    hf = json.loads((run / "model" / "config.json").read_text())
    assert list(hf["id2label"].values()) == labels

    # predictions.csv round-trips: what pandas reads as text is what was written.
    written = pd.read_csv(run / "predictions.csv", dtype=str, keep_default_na=False)
    assert set(written["gold"]) <= set(labels) and set(written["predicted"]) <= set(labels)
    assert [f"prob_{label}" for label in labels] == [c for c in written if c.startswith("prob_")]
    test = report["results"]["test"]
    assert sum(map(sum, test["confusion_matrix"])) == test["n"] == len(written)

    clf = textclass.Classifier.load(result.model_dir, device="cpu", precision="fp32")
    assert clf.labels == labels
    predicted = clf.predict(TEXTS)
    assert all(type(p) is str and p in labels for p in predicted), predicted


def test_binary_labels_0_and_1(tmp_path, tiny_model_dir, rotten):
    """Rotten Tomatoes with its classes written as 0 and 1: the run finishes, with its report,
    and every output says `0`/`1` (strings), the API included."""
    sample = rotten.groupby("label", group_keys=False).sample(n=80, random_state=0)
    sample = sample.assign(label=sample["label"].map({"fresh": "0", "rotten": "1"}))
    path = tmp_path / "binary.csv"
    sample[["text", "label"]].to_csv(path, index=False)
    result = _train(tmp_path, tiny_model_dir, path)
    _check_run(result, ["0", "1"])

    from textclass.serving.app import create_app
    from textclass.serving.settings import ServeSettings

    clf = textclass.Classifier.load(result.model_dir, device="cpu", precision="fp32")
    app = create_app(ServeSettings(model_dir=result.model_dir), classifier=clf)
    with TestClient(app) as client:
        body = client.post("/v1/predict", json={"texts": TEXTS, "top_k": 2}).json()
        model = client.get("/v1/model").json()
    assert model["labels"] == ["0", "1"]
    for item in body["predictions"]:
        assert item["label"] in ("0", "1")
        assert set(item["probabilities"]) == {"0", "1"}
        assert {k["label"] for k in item["top_k"]} == {"0", "1"}


def test_star_like_classes_1_to_5(tmp_path, tiny_model_dir):
    """Five TREC question classes written as the digits 1..5 (a multi-class task whose labels
    read like star ratings)."""
    trec = datasets.load("trec")
    digits = {"DESC": "1", "ENTY": "2", "HUM": "3", "LOC": "4", "NUM": "5"}
    sample = trec[trec["coarse"].isin(digits)].groupby("coarse", group_keys=False)
    sample = sample.sample(n=36, random_state=0)
    sample = sample.assign(label=sample["coarse"].map(digits))
    path = tmp_path / "stars.csv"
    sample[["text", "label"]].to_csv(path, index=False)
    result = _train(tmp_path, tiny_model_dir, path)
    _check_run(result, ["1", "2", "3", "4", "5"])


def test_jsonl_with_integer_labels(tmp_path, tiny_model_dir, rotten):
    """JSON numbers as labels, one row without one (pandas then holds the column as floats):
    the labels are `0` and `1`, not `0.0` and `1.0`; the unlabelled row is dropped and counted."""
    sample = rotten.groupby("label", group_keys=False).sample(n=80, random_state=1)
    rows = [
        {"text": text, "label": int(label == "rotten")}
        for text, label in zip(sample["text"], sample["label"], strict=True)
    ]
    rows.append({"text": "a review that nobody labelled"})
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows))
    result = _train(tmp_path, tiny_model_dir, path)
    _check_run(result, ["0", "1"])
    data = json.loads((result.run_dir / "data.json").read_text())
    assert data["cleaning"]["train"]["missing_labels"] == 1
    assert set(data["class_counts"]["train"]) == {"0", "1"}

    # A saved model evaluated on a file with integer labels: metrics keyed "0"/"1".
    metrics, predictions = textclass.evaluate_model(result.model_dir, path)
    assert list(metrics["per_class"]) == ["0", "1"]
    assert set(predictions["gold"]) == {"0", "1"} and set(predictions["predicted"]) <= {"0", "1"}
