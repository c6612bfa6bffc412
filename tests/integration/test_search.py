"""Hyper-parameter search end to end on the tiny model and small real data: the objective's
direction, real pruning, two worker processes on one journal, resuming, the best model kept
(reloaded and measured again), flat memory, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from sklearn.metrics import f1_score

import textclass
from tests.conftest import run_cli
from textclass.config.load import load_config
from textclass.errors import TrainingInterrupted
from textclass.inference.classifier import Classifier
from textclass.training.callbacks import Callback
from textclass.workflows import rundir
from textclass.workflows.search import tune
from textclass.workflows.train import prepare

LINEAR = ("model.architecture=linear", "train.early_stopping.patience=null", "eval.baseline=false")
WEIGHTS = "search.space={train.class_weights: {type: categorical, choices: [none, balanced]}}"
LR = (
    "search.space={train.lr: {type: float, low: 1e-4, high: 3e-3, log: true}, "
    "train.batch_size: {type: categorical, choices: [8, 16]}}"
)


def _study(path: Path, name: str) -> optuna.Study:
    storage = optuna.storages.journal.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(path / rundir.STUDY_JOURNAL))
    )
    return optuna.load_study(study_name=name, storage=storage)


def test_a_minimised_metric_gives_the_lowest_value_as_best(tmp_path, tiny_config):
    cfg = tiny_config(*LINEAR, "train.metric=log_loss", WEIGHTS)
    result = tune(cfg, trials=3, output=tmp_path / "s", report=False)
    study = _study(result.study_dir, "tiny")
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    values = [t.value for t in study.trials if t.state.name == "COMPLETE"]
    assert len(values) == 3 and result.best_value == min(values)
    assert result.summary["direction"] == "minimize"
    # best/ is that trial's run directory; its metrics.json holds the same number.
    best = result.best_run_dir
    assert best.name == f"{result.best['number']:04d}"
    assert rundir.RunDir(best).read(rundir.METRICS)["validation"]["log_loss"] == min(values)


def test_the_random_sampler_draws_the_same_points_whatever_the_results(tmp_path, tiny_config):
    # What a pruner comparison rests on: two studies from one seed try the same parameters,
    # even when their results differ (TPE, modelling from trial 2 here, would follow them).
    space = "search.space={train.lr: {type: float, low: 1e-4, high: 3e-3, log: true}}"
    base = ("train.epochs=1", "eval.baseline=false", "search.pruner=none", space)
    params = []
    for metric in ("f1_macro", "log_loss"):
        cfg = tiny_config(
            *base, f"train.metric={metric}", "search.sampler=random", "search.n_startup_trials=1"
        )
        result = tune(cfg, trials=4, output=tmp_path / metric, report=False)
        params.append([t.params for t in _study(result.study_dir, "tiny").trials])
    assert params[0] == params[1] and len({p["train.lr"] for p in params[0]}) == 4


def test_pruning_stops_trials_the_pruner_rejects(tmp_path, tiny_config):
    cfg = tiny_config("train.epochs=2", "eval.baseline=false", LR)
    always = optuna.pruners.ThresholdPruner(lower=2.0)  # F1 is never above 2: prune at once
    result = tune(cfg, trials=2, output=tmp_path / "s", pruner=always, report=True)
    study = _study(result.study_dir, "tiny")
    assert [t.state.name for t in study.trials] == ["PRUNED", "PRUNED"]
    for t in study.trials:
        assert list(t.intermediate_values) == [1]  # reported at the first evaluation, then out
        assert t.user_attrs["steps_run"] < t.user_attrs["steps_planned"]
        assert not (result.study_dir / rundir.STUDY_TRIAL.format(n=t.number)).exists()
    pruning = result.summary["pruning"]
    assert pruning["pruned"] == 2 and 0.4 < pruning["saved_share"] < 0.6  # 1 of 2 epochs
    assert result.best is None and result.best_run_dir is None
    assert "2 trial(s) pruned" in (result.study_dir / rundir.STUDY_REPORT["md"]).read_text()


def test_the_best_model_is_kept_and_memory_stays_flat(tmp_path, tiny_config, monkeypatch, capsys):
    cfg = tiny_config("train.epochs=1", "eval.baseline=false", "search.pruner=none", LR)
    result = tune(cfg, trials=6, output=tmp_path / "s", report=False)
    study = _study(result.study_dir, "tiny")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 6
    best = max(study.trials, key=lambda t: t.value)
    assert result.best_run_dir == (result.study_dir / f"trials/{best.number:04d}").resolve()
    # The kept model, reloaded, measured again on the validation split.
    best_cfg = load_config(result.best_config)
    assert {k: _get(best_cfg, k) for k in best.params} == best.params
    data = prepare(best_cfg)
    validation = data.splits["validation"]
    predicted = Classifier.load(result.best_run_dir / rundir.MODEL).predict(validation["text"])
    measured = f1_score(validation["label"], predicted, average="macro")
    assert measured == pytest.approx(best.value, abs=1e-9)
    # Memory: RSS after the last trial within noise of RSS after the second one.
    rss = [t.user_attrs["rss_mb"] for t in study.trials]
    assert rss[-1] - rss[1] < 150, rss
    code, out, _ = run_cli(monkeypatch, capsys, "tune", "--show", str(result.study_dir))
    assert code == 0
    assert f"best: trial {best.number}, f1_macro {best.value:.4f}" in out
    assert len([line for line in out.splitlines() if "COMPLETE" in line]) == 6


def _get(cfg, key):
    node = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def test_two_workers_on_one_journal_run_exactly_n_distinct_trials(tmp_path, tiny_config):
    cfg = tiny_config(*LINEAR, WEIGHTS)
    config = tmp_path / "tiny.yaml"
    config.write_text(cfg.to_yaml())
    out = tmp_path / "s"
    env = {**os.environ, "PYTHONPATH": str(Path(textclass.__file__).parents[1])}
    command = [
        sys.executable, "-c", "from textclass.cli import main; main()", "-q", "tune",
        str(config), "--trials", "6", "--output", str(out),
    ]  # fmt: skip
    workers = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE) for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=600) == 0, worker.stderr.read().decode()[-2000:]
    study = _study(out, "tiny")
    assert [t.number for t in study.trials] == list(range(6))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 6
    assert len({t.user_attrs["worker"]["pid"] for t in study.trials}) in (1, 2)
    assert sorted(p.name for p in (out / "trials").iterdir()) == [f"{n:04d}" for n in range(6)]


class StopInTrial(Callback):
    """Asks training to stop (as Ctrl-C does) at step 2 of the n-th trial."""

    def __init__(self, n: int):
        self.n, self.started = n, 0

    def on_train_begin(self, state, **kwargs):
        self.started += 1

    def on_step_end(self, state, **kwargs):
        if self.started == self.n and state.global_step == 2:
            state.stop_requested = True


def test_an_interrupted_study_resumes_and_retries_the_interrupted_trial(tmp_path, tiny_config):
    cfg = tiny_config("train.epochs=1", "eval.baseline=false", "search.pruner=none", LR)
    out = tmp_path / "s"
    with pytest.raises(TrainingInterrupted, match="Run the same command"):
        tune(cfg, trials=3, output=out, callbacks=[StopInTrial(2)], report=False)
    first = _study(out, "tiny").trials
    assert [t.state.name for t in first] == ["COMPLETE", "FAIL", "WAITING"]
    assert "interrupted" in first[1].user_attrs
    result = tune(tiny_config("train.epochs=1", "eval.baseline=false", "search.pruner=none", LR),
                  trials=3, output=out, report=False)  # fmt: skip
    trials = _study(out, "tiny").trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[2].params == trials[1].params and trials[2].user_attrs["retry_of"] == 1
    assert result.summary["counts"] == {"COMPLETE": 3, "FAIL": 1}
    # The resumed study tried the points an uninterrupted one tries, in the same order.
    fresh = tune(tiny_config("train.epochs=1", "eval.baseline=false", "search.pruner=none", LR),
                 trials=3, output=tmp_path / "fresh", report=False)  # fmt: skip
    counted = [t.params for t in trials if t.state.name == "COMPLETE"]
    assert counted == [t.params for t in _study(fresh.study_dir, "tiny").trials]


def test_a_dead_workers_running_trial_is_failed_and_retried(tmp_path, tiny_config):
    cfg = tiny_config(*LINEAR, WEIGHTS)
    out = tmp_path / "s"
    tune(cfg, trials=1, output=out, report=False)
    study = _study(out, "tiny")
    orphan = study.ask({"train.class_weights": optuna.distributions.CategoricalDistribution(
        ["none", "balanced"])})  # fmt: skip
    orphan.suggest_categorical("train.class_weights", ["none", "balanced"])
    import socket

    orphan.set_user_attr("worker", {"host": socket.gethostname(), "pid": 2**22 + 7, "started": 0})
    tune(tiny_config(*LINEAR, WEIGHTS), trials=3, output=out, report=False)
    trials = _study(out, "tiny").trials
    assert trials[1].state.name == "FAIL" and "is gone" in trials[1].user_attrs["interrupted"]
    assert [t.state.name for t in trials].count("COMPLETE") == 3
    assert any(t.user_attrs.get("retry_of") == 1 for t in trials)


def test_keep_best_removes_beaten_trials_and_an_rdb_storage_works(tmp_path, tiny_config):
    cfg = tiny_config(*LINEAR, WEIGHTS, "search.keep=best")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    result = tune(cfg, trials=3, output=tmp_path / "s", storage=url, study="rdb", report=False)
    study = optuna.load_study(study_name="rdb", storage=url)
    assert len(study.trials) == 3
    kept = sorted(p.name for p in (result.study_dir / "trials").iterdir())
    assert kept == [f"{study.best_trial.number:04d}"]
    assert result.best_run_dir.name == kept[0]


def test_cross_validated_objective_is_the_mean_of_the_folds(tmp_path, tiny_config):
    cfg = tiny_config(*LINEAR, WEIGHTS, "search.pruner=none")
    result = tune(cfg, trials=2, output=tmp_path / "s", cv=3, report=False)
    for t in _study(result.study_dir, "tiny").trials:
        folds = t.user_attrs["fold_values"]
        assert len(folds) == 3 and t.value == pytest.approx(sum(folds) / 3)
        trial_dir = result.study_dir / rundir.STUDY_TRIAL.format(n=t.number)
        for k, value in enumerate(folds, start=1):
            fold = rundir.RunDir(trial_dir / rundir.CV_FOLD.format(k=k))
            assert fold.read(rundir.METRICS)["test"]["f1_macro"] == pytest.approx(value)


def test_the_cli_rejects_a_bad_search_space(monkeypatch, capsys, tmp_path, tiny_config):
    config = tmp_path / "c.yaml"
    config.write_text(tiny_config(*LINEAR).to_yaml())
    bad = "search.space={train.lrr: {type: float, low: 2, high: 1}}"
    code, _, err = run_cli(monkeypatch, capsys, "tune", str(config), bad, "--trials", "2")
    assert code == 2 and "unknown key `train.lrr`. Did you mean `train.lr`?" in err
