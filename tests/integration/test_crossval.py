"""Cross-validation end to end on small slices of real data: the out-of-fold invariant, the
summary recomputed from the files, continuing an interrupted cross-validation, the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from tests.conftest import run_cli
from textclass.errors import TextclassError, TrainingInterrupted
from textclass.inference.classifier import Classifier
from textclass.training.callbacks import Callback
from textclass.workflows import rundir
from textclass.workflows.crossval import cross_validate

LINEAR = ("model.architecture=linear", "train.early_stopping.patience=null")


def test_linear_cross_validation_out_of_fold_invariant_and_summary(tmp_path, tiny_config):
    cfg = tiny_config(*LINEAR, "data.group_column=movie_name")
    result = cross_validate(cfg, folds=3, output=tmp_path / "cv")
    summary, oof = result.summary, result.oof
    # Every pooled row (train + validation files) exactly once, from the fold that held it out.
    pool = pd.concat([pd.read_csv(cfg.data.train), pd.read_csv(cfg.data.validation)])
    assert len(oof) == len(pool) == summary["rows"]
    assert oof["row"].tolist() == list(range(len(pool)))
    assert sorted(oof["text"]) == sorted(" ".join(t.split()) for t in pool["text"])  # cleaned
    assert set(oof["fold"]) == {1, 2, 3}
    # Training rows carry their film; no film is in two folds.
    films = oof[~oof["group"].str.startswith("\x00row")]
    assert films.groupby("group")["fold"].nunique().max() == 1
    for k, model_dir in enumerate(result.model_dirs, start=1):
        fold_run = model_dir.parent
        fold = oof[oof["fold"] == k]
        trained_on = set(rundir.read_predictions_file(fold_run / "predictions_validation.csv").text)
        assert not trained_on & set(fold["text"])  # the inner validation is never fold k
        # The out-of-fold probabilities are what the saved fold model predicts for those rows.
        probs = Classifier.load(model_dir).predict_proba(fold["text"].tolist(), clean=False)
        np.testing.assert_allclose(probs, fold[["prob_fresh", "prob_rotten"]], atol=1e-6)
    # The summary, recomputed from the files.
    pooled = f1_score(oof["gold"], oof["predicted"], average="macro")
    assert summary["pooled"]["f1_macro"] == pytest.approx(pooled)
    low, high = summary["pooled"]["intervals"]["f1_macro"]
    assert low < pooled < high
    per_fold = [
        f1_score(g["gold"], g["predicted"], average="macro") for _, g in oof.groupby("fold")
    ]
    assert summary["mean"]["f1_macro"] == pytest.approx(np.mean(per_fold))
    assert summary["std"]["f1_macro"] == pytest.approx(np.std(per_fold, ddof=1))
    saved = json.loads((result.cv_dir / "cv.json").read_text())
    assert saved["done"] == [1, 2, 3] and saved["pooled"]["f1_macro"] == pytest.approx(pooled)
    test = pd.read_csv(cfg.data.test)
    for f, model_dir in zip(summary["per_fold"], result.model_dirs, strict=True):
        predicted = Classifier.load(model_dir).predict(test["text"].tolist())
        assert f["test_set"]["f1_macro"] == pytest.approx(
            f1_score(test["label"], predicted, average="macro")
        )
    report = (result.cv_dir / "cv_report.md").read_text()
    assert "Pooled out-of-fold predictions" in report and "| 3 |" in report


class StopInFold(Callback):
    """Asks training to stop (as Ctrl-C does) at step 2 of the n-th fold trained."""

    def __init__(self, fold: int):
        self.fold, self.started = fold, 0

    def on_train_begin(self, state, **kwargs):
        self.started += 1

    def on_step_end(self, state, **kwargs):
        if self.started == self.fold and state.global_step == 2:
            state.stop_requested = True


def test_an_interrupted_cross_validation_continues_with_the_folds_not_done(tmp_path, tiny_config):
    cfg = tiny_config("train.epochs=1", "eval.baseline=false")
    out = tmp_path / "cv"
    with pytest.raises(TrainingInterrupted, match="continue with the folds not yet done"):
        cross_validate(cfg, folds=2, output=out, callbacks=[StopInFold(1)], report=False)
    assert json.loads((out / "cv.json").read_text())["done"] == []  # stopped in the first fold
    with pytest.raises(TrainingInterrupted, match="continue with the folds not yet done"):
        cross_validate(cfg, folds=2, output=out, callbacks=[StopInFold(2)], report=False)
    assert (out / "fold_1" / "metrics.json").is_file()
    assert not (out / "fold_2" / "metrics.json").is_file()
    assert (out / "fold_2" / "checkpoints" / "last").is_dir()
    fold_1_weights = (out / "fold_1" / "model" / "model.safetensors").stat().st_mtime_ns
    started = StopInFold(0)
    result = cross_validate(cfg, folds=2, output=out, callbacks=[started], report=False)
    assert started.started == 1  # only fold 2 trained, resumed from its checkpoint
    assert (out / "fold_1" / "model" / "model.safetensors").stat().st_mtime_ns == fold_1_weights
    history = json.loads((out / "fold_2" / "history.json").read_text())
    assert history["global_step"] == history["total_steps"] > 2
    assert result.summary["done"] == [1, 2] and len(result.oof) == result.summary["rows"]
    # Another config into the same directory is refused, naming what differs.
    other = tiny_config("train.epochs=2", "eval.baseline=false")
    with pytest.raises(TextclassError, match="train.epochs"):
        cross_validate(other, folds=2, output=out, report=False)


def test_the_cv_command(monkeypatch, capsys, tmp_path, tiny_config):
    config = tmp_path / "linear.yaml"
    config.write_text(tiny_config(*LINEAR).to_yaml())
    out = tmp_path / "cv"
    code, stdout, err = run_cli(
        monkeypatch, capsys, "cv", str(config), "--folds", "2", "-o", str(out)
    )
    assert code == 0, err
    assert "over 2 folds" in stdout and "pooled out-of-fold" in stdout
    assert (out / "oof_predictions.csv").is_file() and (out / "cv_report.html").is_file()


def test_a_real_cross_validation_makes_soft_and_stacking_ensembles(tmp_path, tiny_config):
    from textclass.workflows.ensemble import build_ensemble

    cfg = tiny_config(*LINEAR)
    result = cross_validate(cfg, folds=3, output=tmp_path / "cv", report=False)
    test = pd.read_csv(cfg.data.test)["text"].tolist()
    members = [Classifier.load(m).predict_proba(test) for m in result.model_dirs]
    build_ensemble([result.cv_dir], method="soft", output=tmp_path / "soft")
    soft = Classifier.load(tmp_path / "soft").predict_proba(test)
    np.testing.assert_allclose(soft, np.mean(members, axis=0), atol=1e-6)
    build_ensemble([result.cv_dir], method="stacking", output=tmp_path / "stack")
    stacked = Classifier.load(tmp_path / "stack").predict_proba(test)
    assert stacked.shape == soft.shape
    np.testing.assert_allclose(stacked.sum(axis=1), 1, atol=1e-6)
