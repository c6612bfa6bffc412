"""Ensembles of tiny trained runs and of fake cross-validation directories (each fold a real
tiny run, the out-of-fold probabilities its model's): built, reloaded, predicted, evaluated and
served; every combination recomputed here from the members, not read from the ensemble."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import accuracy_score, log_loss

import textclass
from tests.conftest import run_cli, tiny_overrides
from textclass.config.load import load_config
from textclass.errors import TextclassError
from textclass.inference.classifier import Classifier
from textclass.inference.ensemble import EnsembleClassifier
from textclass.serving.app import create_app
from textclass.serving.settings import ServeSettings
from textclass.workflows import rundir
from textclass.workflows.ensemble import build_ensemble
from textclass.workflows.train import train

LABELS = ["fresh", "rotten"]
TEXTS = ["a gripping, beautifully shot film", "dull and far too long", "not bad", "<b>meh</b>"]


def _train(files: dict[str, Path], out: Path, tiny_model_dir: Path, *extra: str) -> Path:
    data = [f"data.{name}={path}" for name, path in files.items()]
    overrides = [
        *data,
        *tiny_overrides(tiny_model_dir, out.parent),
        "train.epochs=1",
        "eval.baseline=false",
        *extra,
    ]
    train(load_config(base={"name": out.name}, overrides=overrides), output=out)
    return out


def _cv_dir(path: Path, pooled: pd.DataFrame, test: Path, tiny_model_dir: Path, *extra: str):
    """A cross-validation directory as `textclass cv` writes it: two folds, each a run trained
    on the other fold's rows, and the out-of-fold probabilities of each fold's model."""
    path.mkdir()
    folds = np.arange(len(pooled)) % 2 + 1
    oof = []
    for k in (1, 2):
        held, rest = pooled[folds == k], pooled[folds != k]
        files = {"train": path / f"train_{k}.csv", "validation": path / f"val_{k}.csv"}
        rest.to_csv(files["train"], index=False)
        held.to_csv(files["validation"], index=False)
        run = _train({**files, "test": test}, path / f"fold_{k}", tiny_model_dir, *extra)
        probs = Classifier.load(run / "model").predict_proba(held["text"].tolist())
        frame = pd.DataFrame({"row": np.flatnonzero(folds == k), "fold": k})
        frame["text"], frame["label"] = held["text"].to_numpy(), held["label"].to_numpy()
        for i, label in enumerate(LABELS):
            frame[f"prob_{label}"] = probs[:, i].round(6)
        oof.append(frame)
    pd.concat(oof).sort_values("row").to_csv(path / "oof_predictions.csv", index=False)
    cv = {"kind": "cross_validation", "folds": 2, "task": "single_label", "labels": LABELS}
    (path / "cv.json").write_text(json.dumps({**cv, "done": [1, 2]}))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_dir, rotten) -> dict[str, Path]:
    """Two runs on the same rows (a tiny transformer, a linear model) and two cross-validation
    directories over the same pooled rows (linear folds, tiny-transformer folds)."""
    base = tmp_path_factory.mktemp("ensemble-runs")
    sample = rotten.groupby("label", group_keys=False).sample(n=60, random_state=0)
    sample = sample.sample(frac=1, random_state=1).reset_index(drop=True)[["text", "label"]]
    files = {"train": base / "train.csv", "validation": base / "val.csv", "test": base / "test.csv"}
    for name, part in zip(files, (sample[:60], sample[60:90], sample[90:]), strict=True):
        part.to_csv(files[name], index=False)
    pooled = sample[:90].reset_index(drop=True)
    return {
        "transformer": _train(files, base / "transformer", tiny_model_dir),
        "linear": _train(files, base / "linear", tiny_model_dir, "model.architecture=linear"),
        "cv_linear": _cv_dir(
            base / "cv_linear", pooled, files["test"], tiny_model_dir, "model.architecture=linear"
        ),
        "cv_transformer": _cv_dir(base / "cv_transformer", pooled, files["test"], tiny_model_dir),
        "test": files["test"],
    }


def _members(*dirs: Path) -> list[Classifier]:
    return [Classifier.load(d / rundir.MODEL if (d / rundir.MODEL).is_dir() else d) for d in dirs]


def _cv_models(cv: Path) -> list[Classifier]:
    return _members(cv / "fold_1", cv / "fold_2")


def test_soft_is_the_mean_of_the_members_and_predicts_evaluates_like_a_model(
    runs, tmp_path, monkeypatch, capsys
):
    members = [runs["transformer"], runs["linear"]]
    result = build_ensemble(members, "soft", tmp_path / "soft")
    assert not any(p.name != "ensemble.json" for p in result.path.iterdir())  # members not copied
    stored = json.loads((result.path / "ensemble.json").read_text())["groups"][0]["members"][0]
    assert not Path(stored["path"]).is_absolute()  # relative to the ensemble directory
    assert (result.path / stored["path"]).resolve() == (runs["transformer"] / "model").resolve()

    clf = Classifier.load(result.path)
    assert isinstance(clf, EnsembleClassifier)
    expected = np.mean([m.predict_proba(TEXTS) for m in _members(*members)], axis=0)
    np.testing.assert_allclose(clf.predict_proba(TEXTS), expected, atol=1e-6)
    assert clf.predict(TEXTS) == [LABELS[i] for i in expected.argmax(axis=1)]

    # evaluate: metrics recomputed from its own predictions; and the CLI on the directory
    metrics, preds = textclass.evaluate_model(result.path, runs["test"])
    assert metrics["accuracy"] == pytest.approx(accuracy_score(preds["gold"], preds["predicted"]))
    test = pd.read_csv(runs["test"])
    mean = np.mean([m.predict_proba(test["text"].tolist()) for m in _members(*members)], axis=0)
    np.testing.assert_allclose(preds[["prob_fresh", "prob_rotten"]], mean, atol=1e-5)
    code, out, err = run_cli(
        monkeypatch, capsys, "evaluate", str(result.path), "--data", str(runs["test"])
    )
    assert code == 0, err
    assert f"evaluated {len(test)} of {len(test)} rows" in out

    out_file = tmp_path / "preds.csv"
    assert textclass.predict_file(result.path, runs["test"], out_file, progress=False) == len(test)
    written = pd.read_csv(out_file)
    np.testing.assert_allclose(written[["prob_fresh", "prob_rotten"]], mean, atol=1e-5)


def test_weighted_fits_weights_no_worse_than_soft(runs, tmp_path):
    members = [runs["transformer"], runs["linear"]]
    result = build_ensemble(members, "weighted", tmp_path / "weighted")
    weights = np.array(result.spec["weights"])
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0)

    # the log loss on the validation rows, recomputed from the runs' own predictions files
    frames = [rundir.RunDir(r).read_predictions("validation") for r in members]
    probs = [f[["prob_fresh", "prob_rotten"]].to_numpy() for f in frames]  # 6 decimals
    probs = [p / p.sum(axis=1, keepdims=True) for p in probs]
    gold = frames[0]["gold"]
    fitted = log_loss(gold, weights[0] * probs[0] + weights[1] * probs[1], labels=LABELS)
    soft = log_loss(gold, (probs[0] + probs[1]) / 2, labels=LABELS)
    assert fitted <= soft + 1e-9
    assert result.spec["fit"]["rows"] == len(gold)
    assert result.spec["fit"]["loss"] == pytest.approx(fitted, abs=1e-6)

    # reloaded = the same spec over members loaded apart = the weighted mean of the members
    loaded = Classifier.load(result.path)
    in_memory = EnsembleClassifier([[m] for m in _members(*members)], result.spec)
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), in_memory.predict_proba(TEXTS))
    each = [m.predict_proba(TEXTS) for m in _members(*members)]
    np.testing.assert_allclose(
        loaded.predict_proba(TEXTS), weights[0] * each[0] + weights[1] * each[1], atol=1e-6
    )


def test_weighted_on_cross_validation_groups(runs, tmp_path):
    result = build_ensemble([runs["cv_linear"], runs["cv_transformer"]], "weighted", tmp_path / "w")
    assert result.spec["fit"]["on"] == "out-of-fold predictions"
    assert result.spec["fit"]["rows"] == 90
    w = result.spec["weights"]
    group = [np.mean([m.predict_proba(TEXTS) for m in _cv_models(runs[k])], axis=0) for k in (
        "cv_linear", "cv_transformer")]  # fmt: skip
    got = Classifier.load(result.path).predict_proba(TEXTS)
    np.testing.assert_allclose(got, w[0] * group[0] + w[1] * group[1], atol=1e-6)


def test_stacking_reloads_as_fitted(runs, tmp_path):
    cvs = [runs["cv_linear"], runs["cv_transformer"]]
    result = build_ensemble(cvs, "stacking", tmp_path / "stack", seed=3)
    stacker = result.stacker_
    assert result.spec["stacker"]["C"] in result.spec["stacker"]["Cs"]
    assert result.spec["fit"]["rows"] == 90
    # features recomputed here: each group's fold models averaged, then log-probabilities
    group = [np.mean([m.predict_proba(TEXTS) for m in _cv_models(cv)], axis=0) for cv in cvs]
    features = np.hstack([np.log(np.clip(p, 1e-7, 1 - 1e-7)) for p in group])
    loaded = Classifier.load(result.path)
    np.testing.assert_allclose(
        loaded.predict_proba(TEXTS), stacker.predict_proba(features), atol=1e-6
    )
    assert loaded.predict(TEXTS) == [LABELS[i] for i in stacker.predict(features)]


def test_served_ensemble_answers_as_classifier_load(runs, tmp_path):
    result = build_ensemble([runs["transformer"], runs["cv_linear"]], "soft", tmp_path / "soft")
    expected = Classifier.load(result.path).predict_proba(TEXTS)
    with TestClient(create_app(ServeSettings(model_dir=result.path))) as client:
        info = client.get("/v1/model").json()
        body = client.post("/v1/predict", json={"texts": TEXTS}).json()
    assert info["architecture"] == "ensemble" and info["labels"] == LABELS
    assert info["ensemble"]["method"] == "soft" and info["ensemble"]["members"] == 3
    assert info["ensemble"]["groups"] == 2 and info["ensemble"]["weights"] == pytest.approx(
        [1 / 3, 2 / 3]
    )
    for row, probs in zip(body["predictions"], expected, strict=True):
        np.testing.assert_allclose([row["probabilities"][lab] for lab in LABELS], probs, atol=1e-6)


def test_cli_builds_and_refuses_to_overwrite(runs, tmp_path, monkeypatch, capsys):
    out = tmp_path / "ens"
    args = ["ensemble", str(runs["transformer"]), str(runs["linear"]), "--method", "weighted"]
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "-o", str(out))
    assert code == 0, err
    assert "weights:" in stdout and (out / "ensemble.json").is_file()
    code, _, err = run_cli(monkeypatch, capsys, *args, "-o", str(out))
    assert code == 2 and "--overwrite" in err
    code, _, err = run_cli(monkeypatch, capsys, *args, "-o", str(out), "--overwrite")
    assert code == 0, err
    code, _, err = run_cli(monkeypatch, capsys, "export", str(out))
    assert code == 2 and "ensemble to ONNX is not supported" in err


def test_what_each_method_needs_is_said(runs, tmp_path):
    with pytest.raises(TextclassError, match="one group .*--method soft"):
        build_ensemble([runs["cv_linear"]], "weighted", tmp_path / "a")
    with pytest.raises(TextclassError, match="only cross-validation directories have"):
        build_ensemble([runs["transformer"], runs["linear"]], "stacking", tmp_path / "b")
    with pytest.raises(TextclassError, match="scored on different rows"):
        build_ensemble([runs["transformer"], runs["cv_linear"]], "weighted", tmp_path / "c")
    with pytest.raises(TextclassError, match="--method 'vote'"):
        build_ensemble([runs["transformer"]], "vote", tmp_path / "d")
    with pytest.raises(TextclassError, match="overlaps the member"):
        build_ensemble([runs["transformer"]], "soft", runs["transformer"] / "model", overwrite=True)
    assert (runs["transformer"] / "model" / "model.safetensors").is_file()


def test_rows_labels_and_changed_members_are_checked(runs, tmp_path):
    shuffled = Path(shutil.copytree(runs["linear"], tmp_path / "shuffled"))
    frame = rundir.RunDir(shuffled).read_predictions("validation")
    rundir.RunDir(shuffled).write_predictions("validation", frame.iloc[::-1])
    with pytest.raises(TextclassError, match="not scored on the same rows: row 1"):
        build_ensemble([runs["transformer"], shuffled], "weighted", tmp_path / "a")

    relabelled = Path(shutil.copytree(runs["linear"], tmp_path / "relabelled"))
    meta_file = relabelled / "model" / "textclass.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "labels": LABELS[::-1]}))
    with pytest.raises(TextclassError, match="must share their labels"):
        build_ensemble([runs["transformer"], relabelled], "soft", tmp_path / "b")

    changed = Path(shutil.copytree(runs["linear"], tmp_path / "changed"))
    built = build_ensemble([runs["transformer"], changed], "soft", tmp_path / "c")
    weights = changed / "model" / "linear.safetensors"
    weights.write_bytes(weights.read_bytes() + b" ")
    with pytest.raises(TextclassError, match="has changed since the ensemble was built"):
        Classifier.load(built.path)
    shutil.rmtree(changed)
    with pytest.raises(TextclassError, match="does not exist"):
        Classifier.load(built.path)
