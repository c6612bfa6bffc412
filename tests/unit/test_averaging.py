"""Weight averaging (`train.average`) on a toy model: the callback's snapshots and averages,
its resumable state, the config checks, the diagnosis and the report line."""

import pytest
import torch

from textclass.config.load import load_config
from textclass.config.tasks import SINGLE_LABEL
from textclass.diagnosis.rules import check_weight_average
from textclass.errors import ConfigError
from textclass.reporting.sections.training import _average
from textclass.runtime import accelerator_for
from textclass.training.averaging import AVERAGE, WeightAveraging
from textclass.training.state import TrainState


class Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.register_buffer("counter", torch.tensor(0, dtype=torch.long))  # not averaged


def _weights_at(step: int) -> dict[str, torch.Tensor]:
    """Distinct, irregular weights per step (a hand mean that a wrong average would miss)."""
    g = torch.Generator().manual_seed(step)
    return {
        "linear.weight": torch.randn(2, 3, generator=g),
        "linear.bias": torch.randn(2, generator=g),
        "counter": torch.tensor(step),
    }


def _averaging(method: str, model: Toy, **kw) -> WeightAveraging:
    accelerator = accelerator_for("cpu", "fp32")
    return WeightAveraging(method, model, accelerator, SINGLE_LABEL, "loss", **kw)


def _train(callback: WeightAveraging, model: Toy, steps, state: TrainState | None = None):
    """Evaluations at `steps`, the model holding `_weights_at(step)` at each."""
    state = state or TrainState(total_steps=max(steps))
    callback.on_train_begin(state)
    for step in steps:
        model.load_state_dict(_weights_at(step))
        state.global_step = step
        callback.on_evaluate(state, {"step": step})
    return state


def _hand_mean(steps) -> dict[str, torch.Tensor]:
    snaps = [_weights_at(s) for s in steps]
    return {k: sum(s[k] for s in snaps) / len(snaps) for k in ("linear.weight", "linear.bias")}


def test_swa_averages_every_evaluation_from_its_start_step():
    model = Toy()
    swa = _averaging("swa", model, start_step=3)
    state = _train(swa, model, [1, 2, 3, 4, 5])
    assert state.extras[AVERAGE] == {"method": "swa", "start_step": 3, "steps": [3, 4, 5]}
    averaged, expected = swa.averaged(), _hand_mean([3, 4, 5])
    for name, tensor in expected.items():
        torch.testing.assert_close(averaged[name], tensor)
    assert int(averaged["counter"]) == 5  # buffers follow the model, not averaged


def test_last_k_keeps_exactly_k_and_averages_them():
    model = Toy()
    last = _averaging("last_k", model, k=2)
    state = _train(last, model, [1, 2, 3, 4, 5])
    assert len(last.snapshots) == 2
    assert state.extras[AVERAGE]["steps"] == [4, 5]
    averaged = last.averaged()
    for name, tensor in _hand_mean([4, 5]).items():
        torch.testing.assert_close(averaged[name], tensor)
    assert averaged["counter"].dtype == torch.long and int(averaged["counter"]) == 5


@pytest.mark.parametrize("method", ["swa", "last_k"])
def test_the_saved_snapshots_continue_as_if_never_interrupted(method):
    """What a checkpoint holds (`tensors`), loaded into a fresh callback, continues exactly."""
    model = Toy()
    whole = _averaging(method, model, k=3)
    _train(whole, model, [1, 2, 3, 4])
    saved = whole.tensors()
    assert all(t.is_contiguous() for t in saved.values())

    again_model = Toy()
    again = _averaging(method, again_model, k=3)
    again.load_tensors(saved)
    state = TrainState(extras={AVERAGE: {"method": method, "steps": [2, 3, 4]}})
    _train(again, again_model, [5], state)
    _train(whole, model, [5], TrainState(extras={AVERAGE: {"method": method, "steps": []}}))
    a, b = whole.averaged(), again.averaged()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_average_is_evaluated_and_loaded_at_the_end():
    model = Toy()
    last = _averaging("last_k", model, k=3)
    state = _train(last, model, [1, 2, 3])
    state.best_metric, state.best_step = 10.0, 2

    def validate():  # a "loss" the weights determine: the model must hold the average here
        return {"loss": float(model.linear.weight.detach().sum()), "accuracy": 0.5}

    last.on_train_end(state, validate=validate)
    expected = _hand_mean([1, 2, 3])
    torch.testing.assert_close(model.linear.weight.detach(), expected["linear.weight"])
    assert last.state_dict is not None and torch.equal(
        last.state_dict["linear.weight"], model.linear.weight.detach()
    )
    info = state.extras[AVERAGE]
    assert info["selected"] and info["snapshots"] == 3 and info["step"] == 3
    assert info["value"] == pytest.approx(float(expected["linear.weight"].sum()))
    assert info["val_accuracy"] == 0.5 and info["best_single"] == {"step": 2, "value": 10.0}
    assert info["better_than_best"] == (info["value"] < 10.0)


def test_fewer_than_two_snapshots_keep_the_best_checkpoint(caplog):
    model = Toy()
    swa = _averaging("swa", model, start_step=5)
    state = _train(swa, model, [2, 4, 5])  # e.g. early stopping near the start
    before = {k: v.clone() for k, v in model.state_dict().items()}
    swa.on_train_end(state, validate=lambda: pytest.fail("nothing to evaluate"))
    assert swa.state_dict is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    info = state.extras[AVERAGE]
    assert not info["selected"] and info["snapshots"] == 1
    assert "train.eval_steps" in info["skipped"] and "train.average_start" in info["skipped"]
    assert "best single checkpoint was kept" in caplog.text


def test_config_checks_the_averaging_keys_together():
    base = {"data": {"dataset": "trec"}}
    cfg = load_config(base=base, overrides=["train.average=swa"])
    assert (cfg.train.average, cfg.train.average_start, cfg.train.average_k) == ("swa", 0.75, 3)
    with pytest.raises(ConfigError) as info:
        load_config(
            base=base,
            overrides=["train.average=mean", "train.average_start=1", "train.average_k=1"],
        )
    text = str(info.value)
    assert len(info.value.problems) == 3
    assert "train.average`" in text and "train.average_start" in text and "train.average_k" in text
    with pytest.raises(ConfigError, match=r"train.average \(one fit, no checkpoints: set none\)"):
        load_config(base=base, overrides=["model.architecture=linear", "train.average=last_k"])


def _record(value: float, best: float, selected: bool = True) -> dict:
    return {
        "method": "swa", "start_step": 16, "steps": [16, 18, 20], "snapshots": 3,
        "selected": selected, "step": 20, "metric": "f1_macro", "value": value,
        "best_single": {"step": 12, "value": best}, "skipped": "1 evaluation(s) to average",
    }  # fmt: skip


def test_diagnosis_says_when_the_average_is_worse_than_the_best_checkpoint():
    assert check_weight_average({}, SINGLE_LABEL) == []
    assert check_weight_average({"average": _record(0.81, 0.80)}, SINGLE_LABEL) == []
    (worse,) = check_weight_average({"average": _record(0.78, 0.80)}, SINGLE_LABEL)
    assert worse.check == "weight_average_worse" and worse.severity == "warn"
    assert "0.7800" in worse.evidence and "step 12" in worse.evidence
    assert "train.average=none" in worse.recommendation
    (skipped,) = check_weight_average({"average": _record(0, 0, False)}, SINGLE_LABEL)
    assert skipped.check == "weight_average_skipped" and "train.eval_steps" in (
        skipped.recommendation
    )


def test_the_report_line_sets_the_average_beside_the_best_checkpoint():
    line = _average(_record(0.8123, 0.8001))
    assert line.startswith("Weights averaged: swa from step 16 over 3 snapshots (steps 16, 18")
    assert "average 0.8123 vs best single checkpoint 0.8001 (step 12)" in line
    assert "not applied" in _average(_record(0, 0, False))
