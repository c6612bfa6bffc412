"""Diagnosis rules on recorded numbers (textclass.diagnosis.rules), no run needed."""

import pytest

from textclass.config.load import load_config
from textclass.diagnosis.rules import check_data_wait, check_still_improving
from textclass.errors import ConfigError
from textclass.training.optim import planned_epochs, total_steps


def test_diagnosis_flags_a_starved_data_path():
    assert check_data_wait([{"data_wait_fraction": 0.01}]) == []
    assert check_data_wait([{"step": 1}]) == []  # runs from before the measure
    (finding,) = check_data_wait([{"data_wait_fraction": 0.45}])
    assert finding.severity == "warn" and "45%" in finding.evidence
    assert "num_workers" in finding.recommendation


def _history(values: list[float]) -> list[dict]:
    best, out = None, []
    for i, v in enumerate(values):
        is_best = best is None or v > best
        best = v if is_best else best
        out.append({"epoch": i + 1.0, "step": 10 * (i + 1), "val_f1_macro": v, "is_best": is_best})
    return out


def test_a_run_that_ends_while_still_improving_says_so_and_suggests_more_epochs():
    config = {"train": {"metric": "f1_macro", "epochs": "auto"}}
    (finding,) = check_still_improving(_history([0.6, 0.7, 0.75]), config=config)
    assert finding.severity == "warn"
    assert "0.7500" in finding.evidence and "epoch 3" in finding.evidence
    assert "train.epochs=6" in finding.recommendation
    # The best earlier, a single evaluation, no history: nothing to say.
    assert check_still_improving(_history([0.6, 0.8, 0.75]), config=config) == []
    assert check_still_improving(_history([0.6]), config=config) == []
    assert check_still_improving([], config=config) == []


def test_auto_epochs_fit_the_data_size():
    # Large data: the usual 3 epochs; small data: enough epochs for ~600 steps, at most 10.
    assert planned_epochs("auto", 285) == 3
    assert planned_epochs("auto", 118) == 6
    assert planned_epochs("auto", 60) == 10
    assert planned_epochs("auto", 5) == 10
    assert planned_epochs(2.5, 5) == 2.5
    tcfg = load_config(base={"data": {"train": "x"}}).train
    assert tcfg.epochs == "auto" and total_steps(tcfg, 100) == 600
    tcfg = load_config(base={"data": {"train": "x"}}, overrides=["train.max_steps=7"]).train
    assert total_steps(tcfg, 60) == 7


def test_a_union_key_gets_one_message():
    with pytest.raises(ConfigError) as err:
        load_config(base={"data": {"train": "x"}}, overrides=["train.epochs=0", "model.nmae=x"])
    text = str(err.value)
    assert "2 problem(s)" in text, text
    assert "`train.epochs`: Input should be greater than 0 or input should be 'auto'" in text
    assert "unknown key `model.nmae`" in text
