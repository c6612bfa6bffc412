"""Weight averaging in real (tiny) runs: the saved model is the average of the evaluated
snapshots, it is what was evaluated, and an interrupted run averages like an uninterrupted one."""

import json

import pytest
import torch
from safetensors.torch import load_file

import textclass
from tests.integration.test_training import _SigintAt
from textclass.errors import TrainingInterrupted
from textclass.training.callbacks import Callback

# 7 steps per epoch, 21 in all; an evaluation every 2 steps (and at the last).
AVERAGED = ("train.eval_steps=2", "train.metric=loss")


class _Snapshots(Callback):
    """A CPU copy of the weights at every evaluation, taken independently of the averaging."""

    def __init__(self):
        self.weights = {}

    def on_evaluate(self, state, record, model=None, **kwargs):
        unwrapped = getattr(model, "module", model)
        self.weights[state.global_step] = {
            k: v.detach().to("cpu", copy=True) for k, v in unwrapped.state_dict().items()
        }


def _check_saved_average(result, snapshots: _Snapshots, steps: list[int]) -> dict:
    """The model directory holds the mean of the snapshots at `steps`; the run recorded the
    average, evaluated those very weights, and says so in the report."""
    saved = load_file(result.model_dir / "model.safetensors")
    for name, tensor in saved.items():
        if tensor.is_floating_point():
            mean = torch.stack([snapshots.weights[s][name] for s in steps]).mean(0)
            torch.testing.assert_close(tensor, mean, rtol=0, atol=1e-6)
    assert not all(torch.equal(saved[k], snapshots.weights[steps[-1]][k]) for k in saved)
    run = result.run_dir
    average = json.loads((run / "history.json").read_text())["extras"]["average"]
    assert average["selected"] and average["steps"] == steps and average["snapshots"] == len(steps)
    assert average["step"] == result.history[-1]["step"]
    # The selected weights are what was evaluated: validation equals the average's evaluation.
    assert result.metrics["validation"]["loss"] == pytest.approx(average["value"], rel=1e-5)
    best = [h for h in result.history if h["is_best"]][-1]
    assert average["best_single"] == {"step": best["step"], "value": best["val_loss"]}
    integrity = json.loads((run / "diagnostics.json").read_text())["integrity"]
    assert integrity["selected_sha256"] == integrity["evaluated_sha256"]
    assert integrity["average"] == average
    meta = json.loads((result.model_dir / "textclass.json").read_text())
    assert meta["averaged"] == {"method": average["method"], "steps": steps}
    assert "Weights averaged:" in (run / "report.md").read_text()
    return average


def test_swa_saves_and_evaluates_the_average_of_the_last_quarter(tiny_config):
    snapshots = _Snapshots()
    result = textclass.train(tiny_config(*AVERAGED, "train.average=swa"), callbacks=[snapshots])
    # From ceil(0.75 * 21) = 16 on: the evaluations of steps 16, 18, 20 and 21.
    average = _check_saved_average(result, snapshots, [16, 18, 20, 21])
    assert average["method"] == "swa" and average["start_step"] == 16
    assert [h["step"] for h in result.history][-4:] == [16, 18, 20, 21]  # history unchanged


def test_last_k_saves_the_mean_of_the_last_k_checkpoints(tiny_config):
    snapshots = _Snapshots()
    result = textclass.train(
        tiny_config(*AVERAGED, "train.average=last_k", "train.average_k=3"),
        callbacks=[snapshots],
    )
    _check_saved_average(result, snapshots, [18, 20, 21])


def test_early_stopping_before_the_swa_start_keeps_the_best_checkpoint(tiny_config):
    """With lr 0 nothing improves: early stopping ends training long before 75% of 30 epochs,
    so nothing was averaged; the best checkpoint is the model and the diagnosis says why."""
    stop = ("train.epochs=30", "train.lr=0", "train.early_stopping.patience=2")
    result = textclass.train(tiny_config(*stop, "train.metric=loss", "train.average=swa"))
    assert len(result.history) == 3
    average = json.loads((result.run_dir / "history.json").read_text())["extras"]["average"]
    assert not average["selected"] and average["steps"] == []
    best = load_file(result.run_dir / "checkpoints/best/model.safetensors")
    final = load_file(result.model_dir / "model.safetensors")
    assert all(torch.equal(best[k], final[k]) for k in best)
    assert "weight_average_skipped" in {f.check for f in result.findings}
    assert "averaged" not in json.loads((result.model_dir / "textclass.json").read_text())


@pytest.mark.parametrize("method", ["swa", "last_k"])
def test_interrupted_then_resumed_averages_like_uninterrupted(tiny_config, tmp_path, method):
    """Cut at step 4 of 14, evaluations every 2 steps: swa (from step 3) and last_k (k=6) have
    snapshots from before the cut."""
    overrides = (
        "train.epochs=2", "train.grad_accum_steps=2", "train.batch_size=8", "train.eval_steps=2",
        f"train.average={method}", "train.average_start=0.2", "train.average_k=6",
    )  # fmt: skip
    full = textclass.train(tiny_config(*overrides), output=tmp_path / "full", report=False)

    cut = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted):
        textclass.train(tiny_config(*overrides), output=cut, callbacks=[_SigintAt(4)])
    assert (cut / "checkpoints/last/average.safetensors").is_file()
    resumed = textclass.train(resume=cut, report=False)

    def average(result):
        return json.loads((result.run_dir / "history.json").read_text())["extras"]["average"]

    a, b = average(full), average(resumed)
    assert a["selected"] and a["steps"] == b["steps"] and len(a["steps"]) >= 3
    assert a["value"] == pytest.approx(b["value"], rel=1e-5)
    x = load_file(full.model_dir / "model.safetensors")
    y = load_file(resumed.model_dir / "model.safetensors")
    assert all(torch.allclose(x[k], y[k], atol=1e-6) for k in x)
