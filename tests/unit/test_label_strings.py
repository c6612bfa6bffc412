"""Labels are strings end to end, whatever they look like: `0`/`1`, `007`, `1.0`, `True`,
`NA`. The report's read path (a run directory written by hand, no training) and the data
path (typed JSON, Parquet and DataFrame cells)."""

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli
from tests.unit.fake_runs import write_classification_run

# Label sets that pandas would turn into numbers, booleans or missing values if let guess.
LOOKALIKES = {
    "leading_zeros": ["007", "010", "7"],
    "binary_digits": ["0", "1"],
    "stars": ["1", "2", "3", "4", "5"],
    "decimals": ["1.0", "2.0"],
    "booleans": ["False", "True"],
    "missing_words": ["NA", "None", "null"],
}


@pytest.mark.parametrize("labels", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_report_reads_numeric_looking_labels_as_strings(tmp_path, monkeypatch, capsys, labels):
    run = write_classification_run(tmp_path / "run", labels)
    code, _, err = run_cli(monkeypatch, capsys, "report", str(run))
    assert code == 0, err
    report = json.loads((run / "report.json").read_text())
    predictions = pd.read_csv(run / "predictions.csv", dtype=str, keep_default_na=False)
    test = report["results"]["test"]
    assert list(test["per_class"]) == labels
    assert list(test["intervals"]["per_class"]) == labels
    assert list(test["predicted_share"]) == labels
    assert sum(map(sum, test["confusion_matrix"])) == test["n"] == len(predictions)
    # The confusion matrix recounted from the file, its labels as written.
    index = {label: i for i, label in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), dtype=int)
    for gold, predicted in zip(predictions["gold"], predictions["predicted"], strict=True):
        cm[index[gold], index[predicted]] += 1
    assert cm.tolist() == test["confusion_matrix"]
    shown = {p["gold"] for p in report["errors"]["test"]["confused_pairs"]}
    assert shown <= set(labels)
    md = (run / "report.md").read_text()
    assert f"| gold \\ predicted | {' | '.join(labels)} |" in md


@pytest.mark.parametrize("labels", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_run_directory_reads_predictions_as_written(tmp_path, labels):
    from textclass.reporting.build import read_run
    from textclass.workflows.rundir import RunDir

    run = write_classification_run(tmp_path / "run", labels)
    written = pd.read_csv(run / "predictions.csv", dtype=str, keep_default_na=False)
    for frame in (RunDir(run).read_predictions("test"), read_run(run).predictions()["test"]):
        assert frame["gold"].tolist() == written["gold"].tolist()
        assert frame["predicted"].tolist() == written["predicted"].tolist()
        assert set(frame["gold"]) == set(labels)
        for label in labels:
            assert np.issubdtype(frame[f"prob_{label}"].dtype, np.floating), label


def test_a_gold_label_the_model_lacks_is_a_clear_error(tmp_path):
    from textclass.errors import TextclassError
    from textclass.reporting.build import build_report

    run = write_classification_run(tmp_path / "run", ["0", "1"])
    frame = pd.read_csv(run / "predictions.csv", dtype=str, keep_default_na=False)
    frame.loc[3, "gold"] = "2"
    frame.to_csv(run / "predictions.csv", index=False)
    with pytest.raises(TextclassError, match=r"predictions.csv: gold label\(s\) '2' are not"):
        build_report(run)


# ---------------------------------------------------------------- the data path


def _prepared_labels(path, **config) -> list[str]:
    from textclass.config.schema import DataConfig
    from textclass.data.prepare import prepare_data

    data = prepare_data(DataConfig(train=str(path), **config), seed=0)
    return data.labels


def _rows(labels: list) -> list[dict]:
    return [
        {"text": f"text number {i} about {label}", "label": label}
        for i, label in enumerate(labels * 10)
    ]


def test_json_numbers_and_booleans_become_their_json_text(tmp_path):
    path = tmp_path / "typed.jsonl"
    rows = _rows([0, 1, 2.0, True, False, 0.5, "007"])
    rows.append({"text": "a row without a label"})  # makes pandas hold the numbers as floats
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert _prepared_labels(path) == sorted(["0", "1", "2", "true", "false", "0.5", "007"])


def test_parquet_float_labels_with_gaps_become_integers(tmp_path):
    path = tmp_path / "stars.parquet"
    frame = pd.DataFrame(_rows([1, 2, 3]))
    frame.loc[len(frame)] = {"text": "no stars given", "label": None}
    assert frame["label"].dtype == np.float64
    frame.to_parquet(path)
    assert _prepared_labels(path) == ["1", "2", "3"]


def test_csv_labels_are_kept_exactly_as_written(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame(_rows(["007", "7", "1.0", "NA", "True"])).to_csv(path, index=False)
    assert _prepared_labels(path) == sorted(["007", "7", "1.0", "NA", "True"])


def test_multi_label_lists_of_numbers(tmp_path):
    path = tmp_path / "tags.json"
    rows = [{"text": f"text {i}", "label": [i % 3, 1.0 * (i % 2)]} for i in range(30)]
    path.write_text(json.dumps(rows))
    assert _prepared_labels(path) == ["0", "1", "2"]
