"""Callbacks: everything around the training steps (stopping, progress, monitoring, saving).

`fit` calls, in order: `on_train_begin` once; per optimizer step `on_step_end` (right after the
step), `on_evaluate` (after an evaluation, with its record), `on_step_finish` (after the step's
bookkeeping: where checkpoints are written); `on_train_end` once. Every hook takes `**kwargs`,
so new keywords never break a callback. Any callback stops training cleanly with
`state.request_stop(reason)` (early stopping, search pruning).

Torch-free: the callbacks that need torch (checkpoints) live in `checkpoints.py`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from textclass.training.state import TrainState

log = logging.getLogger(__name__)


class Callback:
    """Override what you need; each hook receives the state and keywords."""

    def on_train_begin(self, state: TrainState, **kwargs: Any) -> None: ...

    def on_step_end(self, state: TrainState, **kwargs: Any) -> None: ...

    def on_evaluate(self, state: TrainState, record: dict[str, Any], **kwargs: Any) -> None: ...

    def on_step_finish(self, state: TrainState, **kwargs: Any) -> None: ...

    def on_train_end(self, state: TrainState, **kwargs: Any) -> None: ...


class CallbackList(Callback):
    """Calls each hook on every callback, in order."""

    def __init__(self, callbacks: list[Callback]):
        self.callbacks = list(callbacks)

    def _call(self, hook: str, *args: Any, **kwargs: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args, **kwargs)

    def on_train_begin(self, state, **kwargs):
        self._call("on_train_begin", state, **kwargs)

    def on_step_end(self, state, **kwargs):
        self._call("on_step_end", state, **kwargs)

    def on_evaluate(self, state, record, **kwargs):
        self._call("on_evaluate", state, record, **kwargs)

    def on_step_finish(self, state, **kwargs):
        self._call("on_step_finish", state, **kwargs)

    def on_train_end(self, state, **kwargs):
        self._call("on_train_end", state, **kwargs)


class EarlyStopping(Callback):
    """Stops after `patience` evaluations without improvement of the selection metric."""

    def __init__(self, patience: int | None):
        self.patience = patience

    def on_evaluate(self, state, record, **kwargs):
        if self.patience is not None and state.evals_without_improvement >= self.patience:
            state.stopped_early = True
            state.request_stop(f"no improvement in {self.patience} evaluations")


class Progress(Callback):
    """A tqdm bar of optimizer steps and one line per evaluation."""

    def __init__(self, metric: str, enabled: bool = True):
        self.metric, self.enabled, self.bar = metric, enabled, None

    def on_train_begin(self, state, **kwargs):
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=state.total_steps,
            initial=state.global_step,
            desc="training",
            unit="step",
            disable=not self.enabled,
            dynamic_ncols=True,
            mininterval=0.5 if sys.stderr.isatty() else 30,  # logs get a line every 30 s
        )

    def on_step_end(self, state, loss: float = 0.0, **kwargs):
        self.bar.update(1)
        speed = state.samples_seen / max(state.train_seconds, 1e-9)
        self.bar.set_postfix(loss=f"{loss:.4f}", samples_s=f"{speed:.1f}", refresh=False)

    def on_evaluate(self, state, record, value: float = float("nan"), **kwargs):
        self.bar.write(
            f"step {state.global_step}/{state.total_steps}  train loss "
            f"{record['train_loss']:.4f}  val loss {record['val_loss']:.4f}  val {self.metric} "
            f"{value:.4f}" + ("  (best)" if record["is_best"] else "")
        )

    def on_train_end(self, state, **kwargs):
        if self.bar is not None:
            self.bar.close()


class SearchPruning(Callback):
    """Hyper-parameter search: reports the validation metric to an Optuna trial at every
    evaluation (step = the evaluation's number, 1, 2, ...: comparable across trials whatever
    their batch size when evaluating once per epoch) and ends the trial when the pruner
    rejects it, by raising `optuna.TrialPruned` (nothing after it is worth computing). The
    optimizer steps run and planned go to the trial's user attributes first."""

    def __init__(self, trial: Any):
        self.trial, self.evaluations = trial, 0

    def on_evaluate(self, state, record, value: float = float("nan"), **kwargs):
        self.evaluations += 1
        self.trial.report(float(value), self.evaluations)
        if self.trial.should_prune():
            import optuna

            self.trial.set_user_attr("steps_run", state.global_step)
            self.trial.set_user_attr("steps_planned", state.total_steps)
            self.trial.set_user_attr("evaluations", self.evaluations)
            raise optuna.TrialPruned(
                f"pruned at evaluation {self.evaluations} (step {state.global_step}/"
                f"{state.total_steps}): {value:.4f}"
            )
