"""The `search:` config section (validated at load time, every problem at once), the default
spaces, trial configs, the pruner choice, and the study report rendered from study.json."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import textclass
from textclass.config.load import load_config
from textclass.config.schema import Distribution, leaf_keys
from textclass.errors import ConfigError

DATA = "data.dataset=rotten_tomatoes"


def _load(space: str, *more: str):
    return load_config(overrides=[DATA, f"search.space={space}", *more])


def test_a_valid_space_loads_and_keeps_its_distributions():
    cfg = _load(
        "{train.lr: {type: float, low: 1e-5, high: 1e-4, log: true}, "
        "train.epochs: {type: int, low: 1, high: 4}, "
        "model.dropout: {type: categorical, choices: [0.0, 0.1]}}"
    )
    lr = cfg.search.space["train.lr"]
    assert (lr.type, lr.low, lr.high, lr.log) == ("float", 1e-5, 1e-4, True)
    assert cfg.search.space["train.epochs"].extremes() == [1, 4]
    assert cfg.search.pruner == "median" and cfg.search.keep == "all"


def test_every_problem_of_a_bad_space_is_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        _load(
            "{train.lrr: {type: float, low: 1, high: 2}, "
            "train.lr: {type: float, low: 1e-4, high: 1e-5}, "
            "train.batch_size: {type: int, low: 0, high: 8}, "
            "model.dropout: {type: categorical, choices: []}, "
            "data.max_samples: {type: int, low: 10, high: 20}, "
            "train.warmup_ratio: {type: float, low: 0.0, high: 1.5}, "
            "train.weight_decay: {type: float, low: 0.0, high: 0.1, log: true}, "
            "train.epochs: {type: int, low: 1.5, high: 3}}"
        )
    problems = caught.value.problems
    assert len(problems) == 8, problems
    text = "\n".join(problems)
    assert "unknown key `train.lrr`. Did you mean `train.lr`?" in text
    assert "search.space.train.lr: low (0.0001) must be below high (1e-05)" in text
    assert "search.space.train.batch_size: the value 0 is refused" in text
    assert "categorical needs a non-empty `choices` list" in text
    assert "`data.max_samples` cannot be searched" in text
    assert "search.space.train.warmup_ratio: the value 1.5 is refused" in text
    assert "a log scale needs low > 0" in text
    assert "int needs whole numbers (got 1.5)" in text


def test_a_value_is_checked_against_the_rest_of_the_config():
    # model.num_layers does not apply to a BiLSTM: the config says so for the searched values.
    with pytest.raises(ConfigError, match="model.num_layers does not apply"):
        _load("{model.num_layers: {type: int, low: 1, high: 2}}", "model.architecture=bilstm")


def test_the_settings_of_the_search_are_validated():
    with pytest.raises(ConfigError, match="search.pruner"):
        load_config(overrides=[DATA, "search.pruner=sometimes"])
    with pytest.raises(ConfigError, match="search.keep"):
        load_config(overrides=[DATA, "search.keep=worst"])


def test_default_spaces_fit_their_architecture():
    from textclass.workflows.search import DEFAULT_SPACES, search_space

    for architecture in DEFAULT_SPACES:
        overrides = [DATA, f"model.architecture={architecture}"]
        if architecture == "linear":
            overrides.append("train.early_stopping.patience=null")
        space = search_space(load_config(overrides=overrides))
        assert space and all(isinstance(d, Distribution) for d in space.values())
        assert set(space) <= set(leaf_keys())


def test_a_trial_config_sets_dotted_keys_and_refuses_what_the_config_refuses():
    from textclass.workflows.search import trial_config

    cfg = load_config(overrides=[DATA])
    trial = trial_config(cfg, {"train.lr": 3e-5, "model.bilstm.dropout": 0.2}, "t-0001")
    assert (trial.train.lr, trial.model.bilstm.dropout, trial.name) == (3e-5, 0.2, "t-0001")
    assert cfg.train.lr == 5e-5  # the study's config is left alone
    with pytest.raises(ConfigError, match="warmup_ratio"):
        trial_config(cfg, {"train.warmup_ratio": 1.0}, "t")


def test_pruners_follow_the_settings():
    optuna = pytest.importorskip("optuna")
    from textclass.workflows.search import make_pruner

    def pruner(*overrides, cv=None):
        return make_pruner(load_config(overrides=[DATA, *overrides]).search, cv)

    assert isinstance(pruner(), optuna.pruners.MedianPruner)
    assert isinstance(pruner("search.pruner=hyperband"), optuna.pruners.HyperbandPruner)
    assert isinstance(pruner("search.pruner=none"), optuna.pruners.NopPruner)
    assert isinstance(pruner(cv=3), optuna.pruners.WilcoxonPruner)
    assert isinstance(pruner("search.pruner=none", cv=3), optuna.pruners.NopPruner)


def test_importing_textclass_and_the_search_module_loads_neither_optuna_nor_torch():
    env = {**os.environ, "PYTHONPATH": str(textclass.__file__).rsplit("/textclass/", 1)[0]}
    code = (
        "import sys, textclass, textclass.workflows.search, textclass.reporting.search\n"
        "from textclass.config.load import load_config\n"
        "print([m for m in ('optuna', 'torch') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _summary():
    trial = {"seconds": 1.0, "rss_mb": 500.0, "host": "h", "interrupted": None}
    rows = [
        {**trial, "number": 0, "state": "COMPLETE", "value": 0.70, "params": {"train.lr": 1e-4},
         "steps_run": 10, "steps_planned": 10, "intermediate": {"1": 0.6, "2": 0.7}},
        {**trial, "number": 1, "state": "PRUNED", "value": None, "params": {"train.lr": 1e-5},
         "steps_run": 5, "steps_planned": 10, "intermediate": {"1": 0.4}},
        {**trial, "number": 2, "state": "COMPLETE", "value": 0.80, "params": {"train.lr": 5e-5},
         "steps_run": 10, "steps_planned": 10, "intermediate": {"1": 0.7, "2": 0.8}},
    ]  # fmt: skip
    return {
        "study_name": "s", "metric": "f1_macro", "direction": "maximize", "cv": None,
        "config": {"name": "s"}, "search": {"pruner": "median"}, "trials": rows,
        "space": {"train.lr": {"type": "float", "low": 1e-5, "high": 1e-4, "log": True}},
        "counts": {"COMPLETE": 2, "PRUNED": 1}, "best": rows[2],
        "pruning": {"pruned": 1, "steps_run": 25, "steps_planned": 30, "saved_share": 1 / 6},
        "importances": None, "importance_note": "1 complete trial(s): importances need 2.",
    }  # fmt: skip


def test_the_leaderboard_ranks_complete_trials_by_the_direction_then_pruned_ones():
    from textclass.reporting.search import leaderboard, ranked

    summary = _summary()
    assert [r["number"] for r in ranked(summary)] == [2, 0, 1]
    summary["direction"] = "minimize"
    assert [r["number"] for r in ranked(summary)] == [0, 2, 1]
    text = leaderboard(_summary())
    lines = text.splitlines()
    assert "maximize f1_macro on validation; 3 trials (2 complete, 1 pruned)" in lines[0]
    assert lines[1] == "best: trial 2, f1_macro 0.8000"
    assert lines[3].split()[:4] == ["1", "2", "COMPLETE", "0.8000"]
    assert "(0.4000 at evaluation 1)" in lines[5] and "5/10" in lines[5]


def test_the_study_report_renders_from_study_json(tmp_path):
    from textclass.reporting.search import write_study_report
    from textclass.workflows import rundir

    rundir.write_json(tmp_path / rundir.STUDY_SUMMARY, _summary())
    paths = write_study_report(tmp_path)
    md = paths["md"].read_text()
    assert "16.7% saved" in md and "importances need 2" in md
    assert "![Optimisation history](report_files/history.png)" in md
    assert paths["html"].stat().st_size > 10_000  # the figure is embedded


def test_what_pruning_saved_counts_an_early_stopped_trial_by_its_own_steps():
    from textclass.workflows.search import _pruning

    rows = [
        {"state": "COMPLETE", "steps_run": 7, "steps_planned": 10},  # early stopping at 7
        {"state": "PRUNED", "steps_run": 3, "steps_planned": 10},
        {"state": "FAIL", "steps_run": None, "steps_planned": None},
    ]
    p = _pruning(rows)
    # Unpruned: the complete trial still stops at 7; the pruned one runs (at most) 10.
    assert (p["pruned"], p["steps_run"], p["steps_planned"]) == (1, 10, 17)
    assert p["saved_share"] == 1 - 10 / 17
