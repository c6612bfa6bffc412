"""Starting without a config file: `textclass train my.csv`, overrides alone, and the commented
config `textclass init` writes. Nothing here trains (see tests/integration/test_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from textclass.config.load import load_config, train_arguments
from textclass.config.schema import RunConfig
from textclass.errors import ConfigError


@pytest.fixture
def data_file(tmp_path) -> Path:
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    return path


def _without_name(cfg: RunConfig) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k != "name"}


def test_init_writes_a_commented_config_that_loads_back(tmp_path, data_file, monkeypatch, capsys):
    target = tmp_path / "starter.yaml"
    code, out, err = run_cli(monkeypatch, capsys, "init", str(target), "--data", str(data_file))
    assert code == 0, err
    assert str(target) in out
    cfg = load_config(target)
    # The defaults plus the training file: what `textclass train reviews.csv` runs.
    assert _without_name(cfg) == _without_name(RunConfig(data={"train": data_file}))
    assert _without_name(cfg) == _without_name(load_config(overrides=[f"data.train={data_file}"]))
    assert cfg.name == "starter"  # name: null -> the config file's stem
    assert cfg.data.validation is None and cfg.data.split.validation == 0.15


def test_init_describes_every_key(tmp_path, data_file, monkeypatch, capsys):
    from textclass.config.reference import leaf_fields, one_line, sections

    target = tmp_path / "starter.yaml"
    run_cli(monkeypatch, capsys, "init", str(target), "--data", str(data_file))
    lines = target.read_text(encoding="utf-8").splitlines()
    keys = {}  # dotted key -> the comment block above it, as one line
    path: list[str] = []
    comment: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        if not stripped:
            continue
        depth = (len(line) - len(line.lstrip())) // 2
        key = stripped.split(":", 1)[0]
        path = [*path[:depth], key]
        keys[".".join(path)] = " ".join(comment)
        comment = []
    for prefix, model, _ in sections():
        for name, field in leaf_fields(model):
            assert f"{prefix}{name}" in keys, f"{prefix}{name} missing"
            assert one_line(field.description) in keys[f"{prefix}{name}"], f"{prefix}{name}"
    assert "One of: wordpiece | bpe." in keys["model.tokenizer.kind"]
    assert yaml.safe_load("\n".join(lines))["data"]["train"] == str(data_file)


def test_init_never_overwrites(tmp_path, data_file, monkeypatch, capsys):
    target = tmp_path / "mine.yaml"
    target.write_text("seed: 7\n", encoding="utf-8")
    code, _, err = run_cli(monkeypatch, capsys, "init", str(target), "--data", str(data_file))
    assert code == 2 and "exists" in err and "Traceback" not in err
    assert target.read_text(encoding="utf-8") == "seed: 7\n"


def test_init_defaults_and_errors(tmp_path, data_file, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "init", "--data", data_file.name)
    assert code == 0, err
    assert (tmp_path / "reviews.yaml").is_file()  # named after the data file
    assert load_config(tmp_path / "reviews.yaml").data.train == Path("reviews.csv")

    code, _, err = run_cli(monkeypatch, capsys, "init")
    assert code == 0, err
    written = (tmp_path / "config.yaml").read_text(encoding="utf-8")
    assert "No training data yet: set data.train" in written
    with pytest.raises(ConfigError, match="no training data"):
        load_config(tmp_path / "config.yaml")

    for args, message in (
        (["other.yaml", "--data", "missing.csv"], "no such file"),
        (["other.yaml", "--data", "notes.txt"], "cannot tell the format"),
        (["other.txt", "--data", "reviews.csv"], "ends in .yaml or .yml"),
    ):
        code, _, err = run_cli(monkeypatch, capsys, "init", *args)
        assert code == 2 and message in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "other.yaml").exists()


@pytest.mark.parametrize(
    ("first", "overrides", "config", "expected"),
    [
        ("my.csv", ["train.lr=1"], None, ['data.train="my.csv"', "train.lr=1"]),
        ("data/my.jsonl.gz", [], None, ['data.train="data/my.jsonl.gz"']),
        ("my.parquet", [], None, ['data.train="my.parquet"']),
        ("run.yaml", ["seed=1"], "run.yaml", ["seed=1"]),
        ("run.yml", [], "run.yml", []),
        ("settings", [], "settings", []),  # no data extension: a config, as before
        ("data.train=my.csv", ["seed=1"], None, ["data.train=my.csv", "seed=1"]),
    ],
)
def test_train_arguments_tell_data_from_config_by_extension(first, overrides, config, expected):
    got_config, got_overrides = train_arguments(Path(first), overrides)
    assert got_config == (Path(config) if config else None)
    assert got_overrides == expected


def test_a_data_file_and_data_train_together_is_an_error():
    with pytest.raises(ConfigError, match="remove `data.train=b.csv`"):
        train_arguments(Path("a.csv"), ["data.train=b.csv"])


def test_odd_file_names_stay_one_path():
    _, overrides = train_arguments(Path("[draft] #1: reviews.csv"), [])
    assert load_config(overrides=overrides).data.train == Path("[draft] #1: reviews.csv")


def test_name_defaults_without_a_config_file(write_yaml):
    assert load_config(overrides=["data.train=dir/my_reviews.csv.gz"]).name == "my_reviews"
    assert load_config(overrides=["data.dataset=sms_spam"]).name == "sms_spam"
    assert load_config(overrides=["data.dataset=sms_spam", "name=x"]).name == "x"
    path = write_yaml({"name": None, "data": {"dataset": "sms_spam"}}, "explicit_null.yaml")
    assert load_config(path).name == "explicit_null"


def test_train_with_nothing_says_how_to_start(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "train")
    assert code == 2 and "Traceback" not in err
    assert "textclass train my.csv" in err and "textclass init" in err


def test_overrides_without_data_name_the_missing_key(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "train", "train.epochs=1")
    assert code == 2
    assert "no training data: set data.dataset" in err and "Field required" not in err


def test_bad_data_leaves_no_empty_run_directory(tmp_path, monkeypatch):
    """The run directory is created once the data has been read: a failed start leaves
    nothing behind (and --overwrite removes nothing before the new run can start)."""
    import textclass
    from textclass.errors import DataError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.csv").write_text("text,label\nonly one class,a\nstill one,a\n", "utf-8")
    keep = tmp_path / "old_run"
    keep.mkdir()
    (keep / "metrics.json").write_text("{}", encoding="utf-8")
    for output in (None, keep):
        with pytest.raises(DataError):
            textclass.train(None, ["data.train=bad.csv"], output=output, overwrite=True)
    assert not (tmp_path / "runs").exists()
    assert (keep / "metrics.json").is_file()
