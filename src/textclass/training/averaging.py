"""Weight averaging (`train.average`): the model is a uniform average of the weights at several
evaluations instead of the single best checkpoint.

- `swa`: stochastic weight averaging, a running mean (`torch.optim.swa_utils.AveragedModel`,
  kept on the CPU) of the weights at every evaluation from `train.average_start` of the planned
  optimizer steps on.
- `last_k`: the mean of the last `train.average_k` evaluated checkpoints (CPU copies).

Snapshots are taken at evaluations, not at every step: they are then checkpoints the history
records, both methods average the same kind of thing, and with the default schedule (one
evaluation per epoch) SWA averages once per epoch as in the SWA paper; `train.eval_steps`
takes more snapshots. The learning-rate schedule is left as it is (no `SWALR`): one schedule
to reason about, and a linear or cosine decay already ends with small steps around the
optimum (`train.scheduler=constant` gives the constant-rate SWA of the paper). There is no
`update_bn`: the models are LayerNorm transformers and LSTMs, with no BatchNorm statistics to
recompute.

At the end of training the average is evaluated on validation by the loop's own evaluation
and, as the user asked for it, becomes the model even when it is worse (the diagnosis says
so). Its record, with the best single checkpoint's value beside it, is `state.extras["average"]`
(in history.json): the history itself keeps one record per evaluation during training.
Early stopping is left alone: the average takes the snapshots collected until training
stopped, which may include evaluations after the best one (the patience). Fewer than two
snapshots (SWA stopped early before its start, too few evaluations) average nothing: the best
checkpoint stays the model, with a warning.

Snapshots survive an interruption: they are written as `average.safetensors` into each
resumable checkpoint (Accelerate's save/load hooks) and their steps are in the trainer state,
so a resumed run averages exactly what an uninterrupted one would.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file
from torch.optim.swa_utils import AveragedModel

from textclass.config.schema import TrainConfig
from textclass.config.tasks import Task
from textclass.training.callbacks import Callback
from textclass.training.state import TrainState
from textclass.workflows import rundir

log = logging.getLogger(__name__)

AVERAGE = "average"  # the key in `TrainState.extras`


def _cpu_copy(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in weights.items()}


def mean_weights(snapshots: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of state dicts; integer tensors (step counters, position ids)
    are taken from the last one."""
    last = snapshots[-1]
    return {
        name: torch.stack([s[name] for s in snapshots]).mean(0) if t.is_floating_point() else t
        for name, t in last.items()
    }


class WeightAveraging(Callback):
    """Collects snapshots at evaluations and, at the end, evaluates their average.

    `state_dict` holds the averaged weights (CPU) once they are evaluated: what the model must
    hold. `model` is the model being trained (possibly wrapped by Accelerate)."""

    def __init__(
        self,
        method: str,
        model: torch.nn.Module,
        accelerator: Accelerator,
        task: Task,
        metric: str,
        start_step: int = 0,
        k: int = 3,
    ):
        if method not in ("swa", "last_k"):
            raise ValueError(f"train.average: {method!r} is not swa or last_k")
        self.method, self.model, self.accelerator = method, model, accelerator
        self.task, self.metric = task, metric
        self.start_step = start_step if method == "swa" else 0
        self.k = k
        self.swa: AveragedModel | None = None
        self.snapshots: deque[dict[str, torch.Tensor]] = deque(maxlen=k)
        self.state_dict: dict[str, torch.Tensor] | None = None
        accelerator.register_save_state_pre_hook(self._save)
        accelerator.register_load_state_pre_hook(self._load)

    @property
    def unwrapped(self) -> torch.nn.Module:
        return self.accelerator.unwrap_model(self.model)

    def describe(self) -> dict[str, Any]:
        settings = {"start_step": self.start_step} if self.method == "swa" else {"k": self.k}
        return {"method": self.method, **settings, "steps": []}

    def on_train_begin(self, state: TrainState, **kwargs: Any) -> None:
        state.extras.setdefault(AVERAGE, self.describe())  # a resumed run has its steps

    def on_evaluate(self, state: TrainState, record: dict[str, Any], **kwargs: Any) -> None:
        if state.global_step < self.start_step:
            return
        if self.method == "swa":
            if self.swa is None:
                self.swa = AveragedModel(self.unwrapped, device="cpu")
            self.swa.update_parameters(self.unwrapped)
        else:
            self.snapshots.append(_cpu_copy(self.unwrapped.state_dict()))
        steps = state.extras[AVERAGE]["steps"]
        steps.append(state.global_step)
        if self.method == "last_k":
            del steps[: -self.k]

    def averaged(self) -> dict[str, torch.Tensor] | None:
        """The average of the snapshots so far (CPU), None before the first."""
        if self.method == "swa":
            return None if self.swa is None else _cpu_copy(self.swa.module.state_dict())
        return mean_weights(list(self.snapshots)) if self.snapshots else None

    def on_train_end(
        self,
        state: TrainState,
        validate: Callable[[], dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        """Evaluate the average on validation (`validate`: the loop's evaluation of the model's
        current weights) and record it; fewer than two snapshots: keep the best checkpoint."""
        info = state.extras[AVERAGE]
        n = len(info["steps"])
        info.update(snapshots=n, selected=False)
        if n < 2 or validate is None:
            info["skipped"] = too_few_snapshots(info)
            log.warning("train.average=%s: %s", self.method, info["skipped"])
            return
        if self.method == "last_k" and n < self.k:
            log.warning(
                "train.average_k=%d but training evaluated %d times: the average is over %d "
                "checkpoints", self.k, n, n,
            )  # fmt: skip
        weights = self.averaged()
        self.unwrapped.load_state_dict(weights)
        metrics = validate()
        value = metrics[self.metric]
        better = value < state.best_metric if self.task.lower_is_better(self.metric) else (
            value > state.best_metric
        )  # fmt: skip
        info.update(
            selected=True,
            step=state.global_step,
            metric=self.metric,
            value=value,
            val_loss=metrics["loss"],
            **{f"val_{k}": metrics[k] for k in self.task.history_metrics if k in metrics},
            best_single={"step": state.best_step, "value": state.best_metric},
            better_than_best=bool(better),
        )
        log.info(
            "averaged weights (%s, %d snapshots): validation %s %.4f; best single checkpoint "
            "%.4f (step %s)",
            self.method, n, self.metric, value, state.best_metric, state.best_step,
        )  # fmt: skip
        self.state_dict = weights

    # -- resumable state: Accelerate calls these inside save_state / load_state

    def tensors(self) -> dict[str, torch.Tensor]:
        """The snapshots as named tensors (no shared storage, as safetensors asks)."""
        if self.method == "swa":
            held = {} if self.swa is None else self.swa.state_dict()
        else:
            held = {f"{i}/{k}": v for i, s in enumerate(self.snapshots) for k, v in s.items()}
        return {k: v.detach().to("cpu").clone().contiguous() for k, v in held.items()}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.method == "swa":
            self.swa = AveragedModel(self.unwrapped, device="cpu")
            self.swa.load_state_dict(tensors)
            return
        snapshots: dict[int, dict[str, torch.Tensor]] = {}
        for key, tensor in tensors.items():
            i, name = key.split("/", 1)
            snapshots.setdefault(int(i), {})[name] = tensor
        self.snapshots.clear()
        self.snapshots.extend(snapshots[i] for i in sorted(snapshots))

    def _save(self, models: Any, weights: Any, output_dir: str) -> None:
        tensors = self.tensors()
        if tensors:
            save_file(tensors, Path(output_dir) / rundir.AVERAGE_STATE)

    def _load(self, models: Any, input_dir: str) -> None:
        path = Path(input_dir) / rundir.AVERAGE_STATE
        if path.is_file():
            self.load_tensors(load_file(path))


def too_few_snapshots(info: dict[str, Any]) -> str:
    """Why nothing was averaged, and the fix (the log and the diagnosis say it alike)."""
    swa = info["method"] == "swa"
    where = f" from step {info['start_step']}" if swa else ""
    return (
        f"{len(info['steps'])} evaluation(s){where} to average, at least 2 needed; the best "
        "single checkpoint was kept. Evaluate more often (train.eval_steps)"
        + (", start earlier (train.average_start)" if swa else "")
        + " or train longer; early stopping may have ended training first"
    )


def make_averaging(
    tcfg: TrainConfig, model: torch.nn.Module, accelerator: Accelerator, task: Task, total: int
) -> WeightAveraging | None:
    """The averaging callback `train.average` asks for (None for none); SWA starts at
    `ceil(average_start * total)` of the `total` planned optimizer steps."""
    if tcfg.average == "none":
        return None
    start = max(1, math.ceil(tcfg.average_start * total))
    return WeightAveraging(
        tcfg.average, model, accelerator, task, tcfg.metric, start, tcfg.average_k
    )
