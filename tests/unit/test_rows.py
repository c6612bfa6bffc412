"""Nothing the user had is dropped, blanked or replaced without being counted and reported, and
every command reads files through one reader with the same messages (issue #13, items 3, 4, 7b).

The models are the tiny random BERT with a hand-written `textclass.json` (no training)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pandas as pd
import pytest

import textclass
from tests.conftest import hand_written_model, run_cli
from textclass.errors import DataError


def _model(tiny_model_dir: Path, dest: Path, **meta) -> Path:
    return hand_written_model(tiny_model_dir, dest, **meta)


@pytest.fixture(scope="module")
def model(tiny_model_dir, tmp_path_factory) -> Path:
    return _model(tiny_model_dir, tmp_path_factory.mktemp("rows") / "model")


@pytest.fixture(scope="module")
def multi_label_model(tiny_model_dir, tmp_path_factory) -> Path:
    """Thresholds of 0: every text gets both labels."""
    return _model(
        tiny_model_dir,
        tmp_path_factory.mktemp("rows-ml") / "model",
        task="multi_label",
        labels=["a", "b"],
        thresholds={"a": 0.0, "b": 0.0},
    )


# ---------------------------------------------------------------- predict: rows and columns


def test_predict_leaves_rows_without_text_unpredicted_and_says_so(
    monkeypatch, capsys, model, tmp_path
):
    src = tmp_path / "in.jsonl"
    rows = [{"text": "great", "id": 1}, {"text": None, "id": 2}, {"text": "  ", "id": 3}]
    src.write_text("\n".join(json.dumps(r) for r in [*rows, {"text": "bad", "id": 4}]) + "\n")
    out = tmp_path / "out.csv"
    code, _, err = run_cli(
        monkeypatch, capsys, "predict", str(model), "-i", str(src), "-o", str(out)
    )
    assert code == 0, err
    frame = pd.read_csv(out)
    assert frame["id"].tolist() == [1, 2, 3, 4]  # every row kept, in order
    assert frame["predicted"].isna().tolist() == [False, True, True, False]
    assert frame["prob_fresh"].isna().tolist() == [False, True, True, False]
    assert "2 row(s) had no text (data rows 2, 3)" in err and "without a prediction" in err


def test_predict_never_overwrites_input_columns(monkeypatch, capsys, model, tmp_path):
    src = tmp_path / "old_preds.csv"
    given = pd.DataFrame(
        {"text": ["great", "awful"], "predicted": ["X", "Y"], "prob_fresh": [0.25, 0.75]}
    )
    given.to_csv(src, index=False)
    out = tmp_path / "out.csv"
    code, _, err = run_cli(
        monkeypatch, capsys, "predict", str(model), "-i", str(src), "-o", str(out)
    )
    assert code == 0, err
    frame = pd.read_csv(out)
    assert frame[given.columns].equals(given)  # the input's columns, as they were
    assert list(frame.columns[3:]) == ["predicted_1", "prob_fresh_1", "prob_rotten_1"]
    assert set(frame["predicted_1"]) <= {"fresh", "rotten"}
    assert "already has column(s) `predicted`, `prob_fresh`" in err and "predicted_1" in err

    # --overwrite replaces an output, never the input itself.
    args = ["predict", str(model), "-i", str(src), "-o", str(src), "--overwrite"]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and "is the input file" in err
    assert pd.read_csv(src).equals(given)


def test_multi_label_jsonl_predictions_are_lists(multi_label_model, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"text": ["who wrote hamlet", "how far is the moon"]}).to_csv(src, index=False)
    out = tmp_path / "out.jsonl"
    assert textclass.predict_file(multi_label_model, src, out, progress=False) == 2
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["predicted"] for r in records] == [["a", "b"], ["a", "b"]]
    # CSV keeps the `a|b` cell.
    textclass.predict_file(multi_label_model, src, tmp_path / "out.csv", progress=False)
    assert pd.read_csv(tmp_path / "out.csv")["predicted"].tolist() == ["a|b", "a|b"]


def test_predict_refuses_keys_a_csv_header_cannot_hold(model, tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"text": "good"}, {"text": "fine"}, {"text": "bad", "extra": 1}]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError, match=r"in.jsonl, row 3: key\(s\) 'extra' first appear here"):
        textclass.predict_file(model, src, tmp_path / "out.csv", chunk_size=2, progress=False)
    assert not (tmp_path / "out.csv").exists()
    n = textclass.predict_file(model, src, tmp_path / "out.jsonl", chunk_size=2, progress=False)
    assert n == 3


# ---------------------------------------------------------------- predict: one reader


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.csv", b"text,id\ngood,1\nok,2,3\n", r"bad.csv: malformed CSV .*line 3"),
        ("bad.jsonl", b'{"text": "a"}\n\n{oops\n', r"bad.jsonl, line 3: not valid JSON"),
        ("latin.csv", "text\ncaf\xe9\n".encode("latin-1"), r"line 2, column 4 .*--encoding"),
        ("head.csv", b"text,id\n", r"head.csv has a header \(text, id\) but no rows"),
        ("list.jsonl", b'["a"]\n', r"list.jsonl, line 1: expected a JSON object"),
    ],
)
def test_predict_reads_like_training(monkeypatch, capsys, model, tmp_path, name, content, message):
    src = tmp_path / name
    src.write_bytes(content)
    args = ["predict", str(model), "-i", str(src), "-o", str(tmp_path / "out.csv")]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--chunk-size", "1")
    assert code == 2 and "Traceback" not in err
    assert re.search(message, err.replace("\n", " ")), err
    assert not (tmp_path / "out.csv").exists()


def test_group_summary_leaves_out_rows_without_prediction(monkeypatch, capsys, model, tmp_path):
    src = tmp_path / "reviews.csv"
    pd.DataFrame({"text": ["great", "", "awful", "fine"], "movie": ["A", "A", "B", "B"]}).to_csv(
        src, index=False
    )
    out = tmp_path / "preds.csv"
    args = ["predict", str(model), "-i", str(src), "-o", str(out), "--group-by", "movie"]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    groups = pd.read_csv(tmp_path / "preds.groups.csv").set_index("movie")
    assert groups["count"].to_dict() == {"A": 1, "B": 2}
    assert groups["excluded"].to_dict() == {"A": 1, "B": 0}
    preds = pd.read_csv(out)
    assert groups.loc["A", "mean_prob_fresh"] == pytest.approx(preds["prob_fresh"][0], abs=1e-6)
    assert "1 row(s) without a prediction or with unreadable probabilities" in err


# ---------------------------------------------------------------- evaluate


def test_evaluate_counts_the_rows_it_leaves_out(monkeypatch, capsys, model, tmp_path):
    data = tmp_path / "test.csv"
    pd.DataFrame(
        {
            "text": ["great", "", "awful", "fine", "dull", ""],
            "label": ["fresh", "fresh", "", "rotten", "rotten", ""],
        }
    ).to_csv(data, index=False)
    expected = {"read": 6, "evaluated": 3, "dropped": {"empty_text": 2, "missing_label": 1}}
    metrics, rows = textclass.evaluate_model(model, data)
    assert metrics["rows"] == expected and len(rows) == 3

    out = tmp_path / "m.json"
    code, stdout, err = run_cli(
        monkeypatch, capsys, "evaluate", str(model), "-d", str(data), "-o", str(out)
    )
    assert code == 0, err
    assert json.loads(out.read_text())["rows"] == expected
    assert "evaluated 3 of 6 rows; left out 2 with empty" in stdout and "1 with no label" in stdout


def test_evaluate_checks_its_outputs_before_the_work(monkeypatch, capsys, model, tmp_path):
    data = tmp_path / "test.csv"
    pd.DataFrame({"text": ["great", "awful"], "label": ["fresh", "rotten"]}).to_csv(
        data, index=False
    )
    out = tmp_path / "m.json"
    out.write_text("precious")
    missing_model = tmp_path / "no-model"  # the check comes first: the model is never looked at
    args = ["evaluate", str(missing_model), "-d", str(data), "-o", str(out)]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and f"{out} exists" in err and out.read_text() == "precious"
    args = ["evaluate", str(model), "-d", str(data), "-o", str(out), "--predictions", str(out)]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--overwrite")
    assert code == 2 and "must differ" in err and out.read_text() == "precious"
    args = ["evaluate", str(model), "-d", str(data), "-o", str(out), "--overwrite"]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert json.loads(out.read_text())["rows"]["evaluated"] == 2


# ---------------------------------------------------------------- compare


def test_compare_never_overwrites_comparison_json(monkeypatch, capsys, tmp_path):
    from tests.unit.fake_runs import write_regression_run

    runs = [str(write_regression_run(tmp_path / f"r{i}", seed=i)) for i in (0, 1)]
    table, data = tmp_path / "cmp.md", tmp_path / "cmp.json"
    data.write_text("precious")
    code, _, err = run_cli(monkeypatch, capsys, "compare", *runs, "-o", str(table))
    assert code == 2 and f"{data} exists" in err
    assert data.read_text() == "precious" and not table.exists()
    code, _, err = run_cli(monkeypatch, capsys, "compare", *runs, "-o", str(table), "--overwrite")
    assert code == 0, err
    assert json.loads(data.read_text())["runs"] == runs


# ---------------------------------------------------------------- group summaries, the reader


def test_group_summary_counts_unreadable_probability_cells(tmp_path):
    from textclass.workflows.summaries import group_summary

    pd.DataFrame(
        {
            "movie": ["A", "A", "A", "B"],
            "predicted": ["fresh", "fresh", "rotten", "rotten"],
            "prob_fresh": ["0.9", "n/a", "0.3", "0.2"],
            "prob_rotten": ["0.1", "0.5", "0.7", "0.8"],
        }
    ).to_csv(tmp_path / "preds.csv", index=False)
    table = group_summary(tmp_path / "preds.csv", "movie", chunk_size=2).set_index("movie")
    assert table.loc["A", "count"] == 2 and table.loc["A", "excluded"] == 1
    assert table.loc["A", "mean_prob_fresh"] == pytest.approx(0.6)  # (0.9 + 0.3) / 2
    assert table.loc["A", "mean_prob_rotten"] == pytest.approx(0.4)  # not biased by row 2
    assert table.loc["A", "share_fresh"] == pytest.approx(0.5)


def test_one_reader_streams_with_the_whole_file_messages(tmp_path):
    from textclass.data.read import read_chunks, read_columns, read_table

    path = tmp_path / "many.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("".join(json.dumps({"text": f"t{i}", "n": i}) + "\n" for i in range(5)))
    chunks = list(read_chunks(path, chunk_size=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert pd.concat(chunks, ignore_index=True).equals(read_table(path))
    assert read_columns(path) == ["text", "n"]

    bad = tmp_path / "bad.csv"
    bad.write_text("text,id\na,1\nb,2\nc,3\nd,4,5\n")
    for read in (read_table, lambda p: list(read_chunks(p, chunk_size=2))):
        with pytest.raises(DataError, match=r"bad.csv: malformed CSV .*line 5"):
            read(bad)
    with pytest.raises(DataError, match="not found"):
        read_chunks(tmp_path / "nope.csv")  # checked before the first chunk is asked for


def test_evaluate_writes_predictions_only_under_a_csv_name(monkeypatch, capsys, tmp_path):
    """The predictions file is CSV: `--predictions x.jsonl` would hold CSV under a JSONL name."""
    args = ["evaluate", str(tmp_path), "-d", str(tmp_path / "d.csv"), "--predictions"]
    code, _, err = run_cli(monkeypatch, capsys, *args, str(tmp_path / "p.jsonl"))
    assert code == 2 and "name it *.csv" in err
