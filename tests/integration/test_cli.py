"""The command line end to end, in-process (same entry point as the console script)."""

import json
import sys

import pandas as pd
import pytest

from tests.conftest import run_cli, tiny_overrides
from textclass import cli


@pytest.fixture
def config_file(write_yaml, rotten_files, tiny_model_dir, tmp_path):
    data = {"data": {name: str(path) for name, path in rotten_files.items()}}
    return write_yaml(data, "tiny.yaml")


def test_train_evaluate_predict_end_to_end(
    monkeypatch, capsys, config_file, tiny_model_dir, tmp_path, rotten_files
):
    run = tmp_path / "run"
    overrides = [*tiny_overrides(tiny_model_dir, tmp_path), "train.epochs=1"]
    code, out, err = run_cli(
        monkeypatch, capsys, "train", str(config_file), *overrides, "--output", str(run)
    )
    assert code == 0, err
    assert "test accuracy" in out and (run / "model" / "textclass.json").exists()

    metrics_path = tmp_path / "m.json"
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "evaluate",
        str(run / "model"),
        "--data",
        str(rotten_files["test"]),
        "-o",
        str(metrics_path),
    )
    assert code == 0, err
    assert "accuracy" in out and "fresh" in out
    saved = json.loads((run / "metrics.json").read_text())["test"]
    assert json.loads(metrics_path.read_text())["accuracy"] == pytest.approx(saved["accuracy"])

    texts = tmp_path / "new.csv"
    pd.DataFrame({"text": ["great film", "awful", "fine"], "id": [1, 2, 3]}).to_csv(
        texts, index=False
    )
    preds = tmp_path / "preds.csv"
    code, out, err = run_cli(
        monkeypatch, capsys, "predict", str(run / "model"), "-i", str(texts), "-o", str(preds)
    )
    assert code == 0, err
    frame = pd.read_csv(preds)
    assert list(frame.columns) == ["text", "id", "predicted", "prob_fresh", "prob_rotten"]
    assert set(frame["predicted"]) <= {"fresh", "rotten"}
    assert (frame["prob_fresh"] + frame["prob_rotten"]).round(4).eq(1).all()

    # The output is never overwritten silently.
    code, _, err = run_cli(
        monkeypatch, capsys, "predict", str(run / "model"), "-i", str(texts), "-o", str(preds)
    )
    assert code == 2 and "--overwrite" in err


def test_predict_streams_in_chunks(tmp_path, tiny_model_dir, tiny_config):
    import textclass

    result = textclass.train(tiny_config("train.max_steps=2"))
    texts = tmp_path / "many.jsonl"
    pd.DataFrame({"text": [f"film number {i}" for i in range(25)]}).to_json(
        texts, orient="records", lines=True
    )
    n = textclass.predict_file(
        result.model_dir, texts, tmp_path / "out.csv", chunk_size=7, progress=False
    )
    assert n == 25
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["text"].tolist() == [f"film number {i}" for i in range(25)]


def test_errors_are_one_paragraph_without_traceback(monkeypatch, capsys, write_yaml):
    path = write_yaml({"data": {"train": "does-not-exist.csv"}, "train": {"lrr": 1}})
    code, _, err = run_cli(monkeypatch, capsys, "train", str(path))
    assert code == 2
    assert "unknown key `train.lrr`" in err and "Traceback" not in err

    path = write_yaml({"data": {"train": "does-not-exist.csv"}}, "ok.yaml")
    code, _, err = run_cli(monkeypatch, capsys, "train", str(path))
    assert code == 2 and "data file not found: does-not-exist.csv" in err and "Traceback" not in err


def test_debug_shows_the_traceback(monkeypatch, capsys, write_yaml):
    path = write_yaml({"data": {"train": "does-not-exist.csv"}})
    monkeypatch.setattr(sys, "argv", ["textclass", "--debug", "train", str(path)])
    from textclass.errors import DataError

    with pytest.raises(DataError):
        cli.main()


def test_datasets_lists_bundled_data(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "datasets")
    assert code == 0
    for name in ("rotten_tomatoes", "trec", "sms_spam", "12808", "5452"):
        assert name in out


@pytest.mark.parametrize("form", ["data file", "override"])
def test_train_needs_no_config_file(monkeypatch, capsys, tmp_path, tiny_model_dir, rotten, form):
    """`textclass train my.csv` and `textclass train data.train=my.csv` run on the defaults:
    validation and test are carved from the file (data.split), as the saved config records."""
    from textclass.config.load import load_config
    from textclass.config.schema import SplitConfig

    data = tmp_path / "my_reviews.csv"
    sample = rotten.groupby("label", group_keys=False).sample(n=40, random_state=0)
    sample[["text", "label"]].to_csv(data, index=False)
    first = str(data) if form == "data file" else f"data.train={data}"
    overrides = [*tiny_overrides(tiny_model_dir, tmp_path / "runs"), "train.max_steps=2"]
    code, out, err = run_cli(monkeypatch, capsys, "train", first, *overrides)
    assert code == 0, err
    run = tmp_path / "runs" / "my_reviews"  # named after the data file
    assert f"run directory: {run}" in out
    saved = load_config(run / "config.yaml")
    assert saved.name == "my_reviews" and saved.data.train == data
    assert saved.data.validation is None and saved.data.test is None
    assert saved.data.split == SplitConfig()  # the default 70 / 15 / 15
    sizes = json.loads((run / "data.json").read_text(encoding="utf-8"))["sizes"]
    assert sum(sizes.values()) == len(sample)
    assert abs(sizes["validation"] - 12) <= 1 and abs(sizes["test"] - 12) <= 1
