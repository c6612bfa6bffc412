"""The data audit end to end: `textclass audit` writes audit.json/md/html and the issues CSV;
every training run starts with the cheap checks (data.json `audit`, the report's Data section,
the leakage finding); `data.leakage=error` stops `textclass train` before any training; a
cross-validation run's out-of-fold file replaces the TF-IDF model."""

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli, tiny_overrides
from textclass.workflows import rundir
from textclass.workflows.audit import ISSUE_COLUMNS, audit
from textclass.workflows.train import prepare, train

URL_ONLY = "https://example.com/review/123"
MIXED = "A m\u0430sterpiece of tension."  # Cyrillic а in a Latin word


@pytest.fixture
def leaky_files(tmp_path, rotten) -> dict[str, str]:
    """Real snippets in train/validation/test CSVs; test holds 4 edited copies of training
    texts, train a URL-only and a mixed-script text."""
    pool = rotten.drop_duplicates("text")
    pool = pool[pool["text"].str.split().str.len() >= 8].sample(n=200, random_state=2)
    train, validation, test = pool[:120].copy(), pool[120:160].copy(), pool[160:].copy()
    copies = train.iloc[:4].copy()
    copies["text"] = copies["text"] + " Really."
    test = pd.concat([test, copies])
    odd = pd.DataFrame({"text": [URL_ONLY, MIXED], "label": ["fresh", "fresh"],
                        "movie_name": ["x", "y"]})  # fmt: skip
    train = pd.concat([train, odd])
    paths = {}
    for name, frame in (("train", train), ("validation", validation), ("test", test)):
        paths[name] = str(tmp_path / f"{name}.csv")
        frame.to_csv(paths[name], index=False)
    return paths


def config_args(paths, tiny_model_dir, tmp_path) -> list[str]:
    files = [f"data.{name}={path}" for name, path in paths.items()]
    return [*files, "data.cleaning.urls=false", *tiny_overrides(tiny_model_dir, tmp_path)]


def test_cli_writes_the_audit_and_the_issues(
    monkeypatch, capsys, leaky_files, tiny_model_dir, tmp_path
):
    out, issues = tmp_path / "audit", tmp_path / "issues.csv"
    args = config_args(leaky_files, tiny_model_dir, tmp_path)
    code, stdout, err = run_cli(
        monkeypatch, capsys, "audit", *args, "--output", str(out), "--export-issues", str(issues)
    )
    assert code == 0, err
    for name in rundir.AUDIT.values():
        assert (out / name).is_file()
    report = json.loads((out / rundir.AUDIT["json"]).read_text())
    assert report["duplicates"]["leakage"]["test"]["held_out_texts"] >= 4
    assert report["label_errors"]["rows"] == 206  # every split: 122 + 40 + 44
    assert "Data audit" in (out / rundir.AUDIT["md"]).read_text()
    assert "<table>" in (out / rundir.AUDIT["html"]).read_text()
    assert "leakage: " in stdout and "likely label errors" in stdout
    flagged = pd.read_csv(issues, keep_default_na=False)
    assert list(flagged.columns) == ISSUE_COLUMNS
    leaks = flagged[flagged["issue"] == "leakage"]
    assert set(leaks["split"]) == {"train"} and len(leaks) >= 4  # the training rows
    assert (leaks["other_split"] == "test").sum() >= 4
    assert URL_ONLY in set(flagged.loc[flagged["issue"] == "url_only", "text"])
    assert MIXED in set(flagged.loc[flagged["issue"] == "mixed_script", "text"])
    errors = flagged[flagged["issue"] == "label_error"]
    assert len(errors) == report["label_errors"]["flagged"]
    assert (errors["suggested_label"] != errors["label"]).all()


def test_a_training_run_starts_with_the_cheap_checks(leaky_files, tiny_model_dir, tmp_path):
    args = config_args(leaky_files, tiny_model_dir, tmp_path)
    result = train(None, [*args, "train.epochs=1", "eval.baseline=false"], output=tmp_path / "r")
    data = json.loads((result.run_dir / rundir.DATA).read_text())
    assert data["audit"]["leakage"]["train_rows"] >= 4
    assert data["audit"]["actions"]["dropped"] == {"leakage": 0, "near_duplicates": 0}
    assert "split_overlap" in [f.check for f in result.findings]
    report = (result.run_dir / rundir.REPORT["md"]).read_text()
    assert "### Data audit" in report and "data.leakage=warn" in report


def test_leakage_error_stops_training_before_it_starts(
    monkeypatch, capsys, leaky_files, tiny_model_dir, tmp_path
):
    args = config_args(leaky_files, tiny_model_dir, tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "train", *args, "data.leakage=error")
    assert code == 2
    assert "data.leakage=error" in err and "train row" in err and "test row" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # no run directory was made
        "test.csv",
        "train.csv",
        "validation.csv",
    ]


def test_label_errors_from_a_cross_validation_run(tiny_config, tmp_path):
    cfg = tiny_config()
    data = prepare(cfg, audit=False)
    pool = pd.concat([data.splits["train"], data.splits["validation"]], ignore_index=True)
    probs = np.random.default_rng(0).dirichlet([1, 1], size=len(pool))
    oof = pd.DataFrame({"row": range(len(pool)), "text": pool["text"], "gold": pool["label"]})
    for i, label in enumerate(data.labels):
        oof[f"prob_{label}"] = probs[:, i]
    cv_dir = tmp_path / "cv"
    cv_dir.mkdir()
    oof.to_csv(cv_dir / rundir.OOF_PREDICTIONS, index=False)
    result = audit(tiny_config(), output=tmp_path / "audit", oof=cv_dir)
    errors = result.report["label_errors"]
    assert errors["splits"] == ["train", "validation"] and errors["rows"] == len(pool)
    assert "cross-validation" in errors["source"]


def test_oof_of_a_run_that_dropped_leaking_rows(leaky_files, tiny_model_dir, tmp_path):
    """`textclass cv` with data.leakage=drop pooled fewer training rows: the audit looks for
    them there, and names every row as in the unchanged splits."""
    args = [*config_args(leaky_files, tiny_model_dir, tmp_path), "data.leakage=drop"]
    from textclass.config.load import load_config

    acted = prepare(load_config(None, args))
    pool = pd.concat([acted.splits["train"], acted.splits["validation"]], ignore_index=True)
    oof = pd.DataFrame({"text": pool["text"], "gold": pool["label"]})
    for label in acted.labels:  # every given label improbable: all flagged
        oof[f"prob_{label}"] = (pool["label"] != label).astype(float) / (len(acted.labels) - 1)
    oof.to_csv(tmp_path / "oof.csv", index=False)
    result = audit(load_config(None, args), output=tmp_path / "audit", oof=tmp_path / "oof.csv")
    errors = result.report["label_errors"]
    unchanged = prepare(load_config(None, args), audit=False).splits
    assert errors["rows"] == len(pool) == len(unchanged["train"]) - 4 + len(unchanged["validation"])
    assert errors["issues"], errors
    for issue in errors["issues"]:
        assert unchanged[issue["split"]]["text"].iat[issue["row"]] == issue["text"]
