"""Real-world files beyond the common odd ones (issue #13): files whose bytes are not what their
name says, Excel's `sep=` line, label lists written as text, invisible characters in labels,
texts that are lists or bytes, and output paths that would hide a mistake. Each either works or
ends in one message naming the problem and the fix."""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import hand_written_model, run_cli
from textclass.config.load import load_config
from textclass.errors import DataError

FRAME = pd.DataFrame(
    {"text": [f"text number {i}" for i in range(40)], "label": ["pos", "neg"] * 20}
)
CSV = FRAME.to_csv(index=False)


def _prepare(tmp_path: Path, frame: pd.DataFrame, *overrides: str, name="train.csv"):
    from textclass.data.prepare import prepare_data

    path = tmp_path / name
    frame.to_csv(path, index=False)
    cfg = load_config(None, [f"data.train={path}", "data.dataset=null", *overrides])
    return prepare_data(cfg.data, seed=0)


# ---------------------------------------------------------------- what the bytes are


def _zip(name: str, data: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            lambda: gzip.compress(CSV.encode()),
            "is gzip-compressed, not CSV text; name it data.csv.gz",
        ),
        (lambda: _zip("[Content_Types].xml", "x"), "is an Excel workbook"),
        (lambda: FRAME.to_json(orient="records").encode(), "holds JSON, not CSV; name it .json"),
        (lambda: _parquet_bytes(), "is a Parquet file, not CSV text; name it data.parquet"),
    ],
)
def test_a_csv_whose_bytes_are_another_format_says_which(tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_bytes(content())
    from textclass.data.read import read_chunks, read_table

    for read in (read_table, read_chunks):
        with pytest.raises(DataError, match=message.replace(".", r"\.")):
            read(path)


def _parquet_bytes() -> bytes:
    buf = io.BytesIO()
    FRAME.to_parquet(buf)
    return buf.getvalue()


def test_excels_sep_line_names_the_separator(tmp_path):
    from textclass.data.read import read_columns, read_table

    path = tmp_path / "excel.csv"
    path.write_text("sep=;\n" + FRAME.to_csv(index=False, sep=";"), encoding="utf-8")
    assert read_table(path).to_dict("records") == FRAME.to_dict("records")
    assert read_columns(path) == ["text", "label"]


def test_a_broken_link_is_named_as_such(tmp_path):
    from textclass.data.read import read_table

    link = tmp_path / "data.csv"
    os.symlink(tmp_path / "gone.csv", link)
    with pytest.raises(DataError, match="is a link to .*gone.csv, which does not exist"):
        read_table(link)


def test_a_json_array_named_jsonl_is_told_to_be_named_json(tmp_path):
    from textclass.data.read import read_table

    path = tmp_path / "data.jsonl"
    path.write_text(FRAME.to_json(orient="records"), encoding="utf-8")
    with pytest.raises(DataError, match="one JSON array of objects, name it .json"):
        read_table(path)


# ---------------------------------------------------------------- cells


def test_label_lists_written_as_text_are_multi_label(tmp_path):
    """A DataFrame of label lists saved as CSV writes `['a', 'b']`; json.dumps writes `["a"]`."""
    lists = [["sci fi", "drama"], [], ["comedy"], ["drama"]] * 10
    frame = FRAME.assign(label=[str(v) if i % 2 else json.dumps(v) for i, v in enumerate(lists)])
    data = _prepare(tmp_path, frame)
    assert data.task == "multi_label"
    assert data.labels == ["comedy", "drama", "sci fi"]


def test_invisible_characters_around_labels_are_removed_and_counted(tmp_path, caplog):
    frame = FRAME.assign(label=[lab + "\u200b" * (i % 4 == 0) for i, lab in enumerate(FRAME.label)])
    with caplog.at_level("WARNING"):
        data = _prepare(tmp_path, frame)
    assert data.labels == ["neg", "pos"]
    assert "invisible characters) around 10 label(s)" in caplog.text


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (["a", "b"], "holds a list"),
        ({"t": "x"}, "holds a JSON object"),
        (b"\xff\xfe", "holds bytes that are not UTF-8"),
    ],
)
def test_a_text_cell_that_is_no_text_is_an_error_naming_its_row(tmp_path, cell, message):
    from textclass.config.schema import CleaningConfig
    from textclass.data.prepare import Columns, standardise

    frame = FRAME.astype(object)
    frame.at[2, "text"] = cell
    with pytest.raises(DataError, match=f"file.jsonl, row 3: column `text` {message}"):
        standardise(frame, Columns(), "file.jsonl", CleaningConfig())


def test_bytes_texts_are_decoded_and_object_labels_refused():
    from textclass.config.schema import CleaningConfig
    from textclass.data.prepare import Columns, standardise

    frame = FRAME.assign(text=FRAME.text.str.encode("utf-8"))
    out, _ = standardise(frame, Columns(), "file.parquet", CleaningConfig())
    assert out["text"].tolist() == FRAME["text"].tolist()
    frame = FRAME.astype(object)
    frame.at[1, "label"] = {"name": "pos"}
    with pytest.raises(DataError, match="row 2: column `label` holds a JSON object"):
        standardise(frame, Columns(), "file.jsonl", CleaningConfig())


@pytest.mark.parametrize(
    ("cell", "hint"), [("3,5", "decimals with a point"), ("35%", "without the % sign")]
)
def test_a_regression_target_says_what_makes_it_unreadable(tmp_path, cell, hint):
    frame = FRAME.assign(label=["1.5"] * 39 + [cell])
    with pytest.raises(DataError, match=hint):
        _prepare(tmp_path, frame, "data.task=regression")


def test_a_test_file_with_other_column_names_is_told_to_rename_them(tmp_path):
    other = tmp_path / "test.csv"
    FRAME.rename(columns={"text": "review", "label": "sentiment"}).to_csv(other, index=False)
    with pytest.raises(DataError, match="test.csv: no column.*rename its columns"):
        _prepare(tmp_path, FRAME, f"data.test={other}")


# ---------------------------------------------------------------- output paths


@pytest.fixture(scope="module")
def model(tiny_model_dir, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("real-world") / "model"
    return hand_written_model(tiny_model_dir, dest, labels=["neg", "pos"])


@pytest.mark.parametrize("name", ["out.parquet", "out.csv.gz", "folder"])
def test_predict_refuses_an_output_its_name_would_misdescribe(
    monkeypatch, capsys, model, tmp_path, name
):
    src = tmp_path / "in.csv"
    FRAME.to_csv(src, index=False)
    (tmp_path / "folder").mkdir()
    args = ["predict", str(model), "-i", str(src), "-o", str(tmp_path / name), "--overwrite"]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and "Traceback" not in err
    assert "name the output out.csv or out.jsonl" in err or "folder.csv" in err
    assert not (tmp_path / name).is_file()


def test_evaluate_never_writes_over_its_data_file(monkeypatch, capsys, model, tmp_path):
    src = tmp_path / "data.csv"
    FRAME.to_csv(src, index=False)
    args = ["evaluate", str(model), "-d", str(src), "--predictions", str(src), "--overwrite"]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and "is the data file" in err
    assert src.read_text() == CSV
