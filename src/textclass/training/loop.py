"""The training loop: small steps and callbacks, on Hugging Face Accelerate.

`fit` runs optimizer steps, evaluates on a schedule and decides which evaluation is best (the
selection); everything else is a callback (`callbacks.py`, `checkpoints.py`): early stopping,
the best weights (in memory, and on disk when a run directory asks), weight averaging
(`averaging.py`), resumable checkpoints, progress, the training monitor, and any user or
search callback. Everything that must survive an interruption lives in `TrainState` and in
Accelerate's state (model, optimizer, scheduler, RNGs, averaged snapshots), so a resumed run
continues with exactly the batches and random numbers it would have had.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

from textclass.config.schema import RunConfig
from textclass.config.tasks import SINGLE_LABEL, Task, get_task
from textclass.data.encode import Collator, EncodedTexts, LengthGroupedBatches, SiameseBatches
from textclass.errors import TextclassError, TrainingInterrupted
from textclass.inference.forward import predict_logits
from textclass.models.attention import fast_attention
from textclass.runtime import autocast_dtype
from textclass.training.averaging import WeightAveraging, make_averaging
from textclass.training.callbacks import Callback, CallbackList, EarlyStopping, Progress
from textclass.training.checkpoints import (
    BEST,
    LAST,
    BestWeights,
    LastCheckpoint,
    load_checkpoint,
)
from textclass.training.losses import Loss, SiameseLoss, build_loss
from textclass.training.optim import (
    gradual_unfreezing,
    make_optimizer,
    make_scheduler,
    planned_epochs,
    total_steps,
)
from textclass.training.state import TrainState

log = logging.getLogger(__name__)

__all__ = ["Callback", "FitContext", "FitResult", "TrainState", "evaluate", "fit"]


def train_loader(
    dataset: EncodedTexts, cfg: RunConfig, pad_id: int
) -> tuple[DataLoader, LengthGroupedBatches | SiameseBatches]:
    """Shuffled, length-grouped batches; with `train.siamese`, each followed by its sampled
    partners (`SiameseBatches`)."""
    batches: LengthGroupedBatches | SiameseBatches = LengthGroupedBatches(
        dataset.lengths,
        cfg.train.batch_size,
        seed=cfg.seed,
        group_by_length=cfg.train.group_by_length,
    )
    if cfg.train.siamese.enabled:
        row_labels = dataset.labels if dataset.owner is None else dataset.labels[dataset.owner]
        batches = SiameseBatches(batches, row_labels, cfg.train.siamese.pairs_per_example)
    loader = DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=Collator(pad_id),
        num_workers=cfg.train.num_workers,
        # Its own generator: creating an iterator draws a seed, which would otherwise shift the
        # global RNG (dropout) and make a resumed run differ from an uninterrupted one.
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    return loader, batches


def train_step(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    accelerator: Accelerator,
    scale: float,
    loss_fn: Loss | SiameseLoss,
) -> float:
    """Forward and backward on one batch; returns the (unscaled) loss."""
    loss = loss_fn.batch_loss(model, batch)
    if loss.requires_grad:  # False only when every parameter is frozen: the diagnosis says so
        accelerator.backward(loss * scale)
    return float(loss.detach())


def evaluate(
    model: torch.nn.Module,
    dataset: EncodedTexts,
    labels: list[str],
    batch_size: int,
    pad_id: int,
    device: torch.device,
    precision: str,
    task: Task | str = SINGLE_LABEL,
    thresholds: np.ndarray | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics and outputs (probabilities or values) on a labelled dataset. `loss` is the
    model's own unweighted loss (cross-entropy, mean binary cross-entropy, or MSE)."""
    task = get_task(task)
    logits = predict_logits(model, dataset, batch_size, pad_id, device, autocast_dtype(precision))
    outputs = task.outputs(logits)
    return task.metrics(dataset.labels, outputs, labels, thresholds), outputs


@contextmanager
def stop_on_signals(state: TrainState) -> Iterator[None]:
    """First Ctrl-C or SIGTERM asks the loop to checkpoint and stop after the current step;
    a second Ctrl-C stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum: int, frame: Any) -> None:
        if state.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        state.stop_requested = True  # LastCheckpoint saves; then fit raises
        log.warning(
            "stop requested: finishing this step and writing a checkpoint (Ctrl-C again to abort)"
        )

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class FitContext:
    """What `fit` works with: the model, its encoded data, and where (if anywhere) to write.

    `checkpoint_dir` None: nothing is written; the best weights are kept in memory only (and
    `resume` is impossible). `accelerator` is the entry point's (`textclass.runtime`)."""

    cfg: RunConfig
    model: torch.nn.Module
    train_data: EncodedTexts
    val_data: EncodedTexts
    labels: list[str]
    pad_id: int
    accelerator: Accelerator
    precision: str
    task: Task
    checkpoint_dir: Path | None = None
    callbacks: list[Callback] = field(default_factory=list)


@dataclass
class FitResult:
    """The trained model (selected weights loaded, unwrapped), its state and the loss it used."""

    model: torch.nn.Module
    state: TrainState
    loss: dict[str, Any]  # the objective as built (`Loss.describe()`)
    # The best evaluation's weights as snapshotted when selected, or the averaged weights
    # (CPU copies): what `model` must hold; the integrity check compares the evaluated
    # weights with these.
    selected: dict[str, torch.Tensor] | None = None


def _timed(batches: Any, state: TrainState) -> Iterator[dict[str, torch.Tensor]]:
    """The loader's batches, with the time spent waiting for each added to `data_seconds`."""
    iterator = iter(batches)
    while True:
        asked = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            return
        state.data_seconds += time.perf_counter() - asked
        yield batch


def speed_up(model: torch.nn.Module, cfg: RunConfig) -> dict[str, Any]:
    """Model-level speed and memory options (fast attention, gradient checkpointing, compile);
    returns what was applied (logged, and kept in the trainer state's `extras["speed"]`).
    Process-wide settings (threads, allocator) are the entry point's: see `textclass.runtime`."""
    tcfg = cfg.train
    applied = {
        "threads": torch.get_num_threads(),
        "fast_attention": fast_attention(model),
        "gradient_checkpointing": False,
        "compiled": False,
    }
    if tcfg.gradient_checkpointing:
        if not getattr(model, "supports_gradient_checkpointing", False):
            raise TextclassError(
                f"train.gradient_checkpointing: {type(model).__name__} does not support it; "
                "remove the option."
            )
        # transformers >= 5 names it activation checkpointing; the old name is deprecated.
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable({"use_reentrant": False})
        applied["gradient_checkpointing"] = True
    if tcfg.compile:
        # In place, so parameter names (checkpoints, saved weights) are unchanged; dynamic
        # shapes, since length-grouped batches vary in length.
        model.compile(dynamic=True)
        applied["compiled"] = True
    log.info("speed settings: %s", applied)
    return applied


def _improved(value: float, best: float | None, lower_is_better: bool, min_delta: float) -> bool:
    if best is None:
        return True
    return value < best - min_delta if lower_is_better else value > best + min_delta


class _Run:
    """One call of `fit`: the prepared objects and the step/evaluation logic around them."""

    def __init__(self, ctx: FitContext, resume: bool):
        self.ctx, self.cfg, self.tcfg = ctx, ctx.cfg, ctx.cfg.train
        self.task = get_task(ctx.task)
        acc = self.accelerator = ctx.accelerator
        self.speed = speed_up(ctx.model, self.cfg)
        loader, self.batches = train_loader(ctx.train_data, self.cfg, ctx.pad_id)
        self.fixed = {id(p) for p in ctx.model.parameters() if not p.requires_grad}  # by config
        tcfg = self.tcfg
        optimizer = make_optimizer(ctx.model, tcfg.lr, tcfg.weight_decay, tcfg.layer_lr_decay)
        self.model, self.optimizer, self.loader = acc.prepare(ctx.model, optimizer, loader)
        self.steps_per_epoch = max(1, math.ceil(len(self.loader) / tcfg.grad_accum_steps))
        total = total_steps(tcfg, self.steps_per_epoch)
        if tcfg.epochs == "auto" and not tcfg.max_steps:
            log.info(
                "train.epochs auto: %g epochs of %d steps (at least a few hundred steps, 3-10 "
                "epochs)", planned_epochs("auto", self.steps_per_epoch), self.steps_per_epoch,
            )  # fmt: skip
        self.scheduler = make_scheduler(self.optimizer, tcfg, total)
        acc.register_for_checkpointing(self.scheduler)
        self.loss_fn: Loss | SiameseLoss = build_loss(
            tcfg, self.task, ctx.labels, ctx.train_data.labels, acc.device
        )
        self.best = BestWeights(ctx.checkpoint_dir / BEST if ctx.checkpoint_dir else None)
        builtin: list[Callback] = [self.best, EarlyStopping(tcfg.early_stopping.patience)]
        # Registers its checkpoint hooks before a resume loads the state.
        self.averaging = make_averaging(tcfg, self.model, acc, self.task, total)
        if self.averaging is not None:
            builtin.append(self.averaging)
        if ctx.checkpoint_dir is not None:
            last = LastCheckpoint(ctx.checkpoint_dir / LAST, tcfg.checkpoint_steps)
            builtin.append(last)
        builtin.append(Progress(tcfg.metric, enabled=acc.is_local_main_process))
        self.callbacks = CallbackList([*builtin, *ctx.callbacks])
        self.state = self._initial_state(resume, total)

    def _initial_state(self, resume: bool, total_steps: int) -> TrainState:
        if not resume:
            state = TrainState(total_steps=total_steps, steps_per_epoch=self.steps_per_epoch)
        elif self.ctx.checkpoint_dir is None:
            raise TextclassError("resume needs a checkpoint directory")
        else:
            state = load_checkpoint(self.accelerator, self.ctx.checkpoint_dir / LAST)
            log.info(
                "resumed at step %d/%d (epoch %d)",
                state.global_step,
                state.total_steps,
                state.epoch + 1,
            )
        state.extras["loss"] = self.loss_fn.describe()  # for diagnostics.json and the diagnosis
        state.extras["speed"] = self.speed
        state.should_stop = state.stopped_early  # a resumed run that had stopped stays stopped
        return state

    def validate(self) -> dict[str, Any]:
        """Validation metrics of the model's current weights."""
        ctx = self.ctx
        thresholds = None
        if self.task.tuned_thresholds:
            # Multi-label checkpoints are chosen at the default cut; thresholds are tuned after.
            thresholds = np.full(len(ctx.labels), self.cfg.eval.thresholds.default)
        metrics, _ = evaluate(
            self.accelerator.unwrap_model(self.model),
            ctx.val_data,
            ctx.labels,
            self.cfg.eval.batch_size,
            ctx.pad_id,
            self.accelerator.device,
            ctx.precision,
            self.task,
            thresholds,
        )
        return metrics

    def evaluate(self) -> None:
        """Evaluate on validation, decide whether it is the best so far, tell the callbacks."""
        state, tcfg = self.state, self.tcfg
        metrics = self.validate()
        record = self._record(metrics)
        value = metrics[tcfg.metric]
        lower = self.task.lower_is_better(tcfg.metric)
        record["is_best"] = _improved(
            value, state.best_metric, lower, tcfg.early_stopping.min_delta
        )
        if record["is_best"]:
            state.best_metric, state.best_step = value, state.global_step
            state.evals_without_improvement = 0
        else:
            state.evals_without_improvement += 1
        state.history.append(record)
        self.callbacks.on_evaluate(state, record, value=value, metrics=metrics, model=self.model)

    def _record(self, metrics: dict[str, Any]) -> dict[str, Any]:
        state = self.state
        train_loss = state.loss_sum / max(state.loss_count, 1)
        state.loss_sum, state.loss_count = 0.0, 0
        seconds = max(state.train_seconds, 1e-9)
        return {
            "epoch": round(state.global_step / self.steps_per_epoch, 3),
            "step": state.global_step,
            "train_loss": train_loss,
            "val_loss": metrics["loss"],
            **{f"val_{k}": metrics[k] for k in self.task.history_metrics if k in metrics},
            "lr": max(self.scheduler.get_last_lr()),  # the head's, with layer-wise rates
            "train_seconds": round(state.train_seconds, 2),
            "samples_per_second": round(state.samples_seen / seconds, 2),
            "data_wait_fraction": round(state.data_seconds / seconds, 4),
        }

    def optimizer_step(self, loss: float, batch: dict[str, torch.Tensor]) -> None:
        state, tcfg = self.state, self.tcfg
        state.loss_count += 1
        grad_norm = self.accelerator.clip_grad_norm_(
            self.model.parameters(), tcfg.max_grad_norm or float("inf")
        )
        lr = max(self.scheduler.get_last_lr())
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        state.global_step += 1
        state.step_in_epoch += 1
        self.callbacks.on_step_end(
            state,
            loss=loss,
            batch=batch,
            grad_norm=float(grad_norm),
            lr=lr,
            model=self.model,
            optimizer=self.optimizer,
        )

    def after_step(self) -> bool:
        """Evaluate when due, advance the epoch, let callbacks checkpoint; True: leave the
        epoch."""
        state, tcfg = self.state, self.tcfg
        end_of_epoch = state.step_in_epoch >= self.steps_per_epoch
        finished = state.global_step >= state.total_steps
        last_evaluated = state.history and state.history[-1]["step"] == state.global_step
        evaluated = bool(
            (tcfg.eval_steps and state.global_step % tcfg.eval_steps == 0)
            or (not tcfg.eval_steps and end_of_epoch)
            or (finished and not last_evaluated)
        )
        if evaluated:
            self.evaluate()
            self.model.train()
        if end_of_epoch:
            state.epoch, state.step_in_epoch = state.epoch + 1, 0
        self.callbacks.on_step_finish(state, evaluated=evaluated)
        if state.stop_requested:
            checkpoint = self.ctx.checkpoint_dir
            raise TrainingInterrupted(
                f"training stopped at step {state.global_step}/{state.total_steps}"
                + (
                    f"; a resumable checkpoint is in {checkpoint / LAST}. Continue with: "
                    f"textclass train --resume {checkpoint.parent}"
                    if checkpoint
                    else " (no run directory: nothing to resume)"
                )
            )
        return finished or state.should_stop or end_of_epoch

    def start_epoch(self) -> None:
        """What depends on the epoch, set before its batches are drawn: the batch order, and
        (`train.augment`) this epoch's perturbed training texts, counted in the state."""
        state = self.state
        self.batches.epoch = state.epoch
        set_epoch = getattr(self.ctx.train_data, "set_epoch", None)
        if set_epoch is not None:  # `AugmentedTexts`: their lengths order the batches
            record = state.extras.setdefault("augment", self.ctx.train_data.describe())
            record["epochs"][str(state.epoch)] = set_epoch(state.epoch)

    def run_epoch(self) -> None:
        state, accum = self.state, self.tcfg.grad_accum_steps
        self.start_epoch()
        if self.tcfg.unfreeze_layers_per_epoch:
            model = self.accelerator.unwrap_model(self.model)
            opened = gradual_unfreezing(
                model, self.tcfg.unfreeze_layers_per_epoch, state.epoch, self.fixed
            )
            log.info("epoch %d: head and top %d layer group(s) train", state.epoch + 1, opened)
        skip = state.step_in_epoch * accum
        loader = self.accelerator.skip_first_batches(self.loader, skip) if skip else self.loader
        started, micro = time.perf_counter(), 0
        for batch in _timed(loader, state):
            micro += 1
            step_now = micro % accum == 0 or skip + micro == len(self.loader)
            sync = nullcontext() if step_now else self.accelerator.no_sync(self.model)
            with sync:
                loss = train_step(self.model, batch, self.accelerator, 1.0 / accum, self.loss_fn)
            state.loss_sum += loss / accum
            state.samples_seen += len(batch["labels"])
            if not step_now:
                continue
            now = time.perf_counter()
            state.train_seconds += now - started
            self.optimizer_step(loss, batch)
            if self.after_step():
                return
            started = time.perf_counter()  # evaluation and checkpoints are not training time
        if state.step_in_epoch >= self.steps_per_epoch:  # ended without a step's bookkeeping
            state.epoch, state.step_in_epoch = state.epoch + 1, 0


def fit(ctx: FitContext, resume: bool = False) -> FitResult:
    """Train `ctx.model`; returns it with the selected weights loaded: the best evaluation's,
    or the average of several evaluations' weights (`train.average`)."""
    run = _Run(ctx, resume)
    state = run.state
    run.callbacks.on_train_begin(
        state,
        model=run.model,
        optimizer=run.optimizer,
        scheduler=run.scheduler,
        accelerator=run.accelerator,
        train_data=ctx.train_data,
        labels=ctx.labels,
        loss=run.loss_fn,
        task=run.task,
    )
    run.model.train()
    with stop_on_signals(state):
        while state.global_step < state.total_steps and not state.should_stop:
            run.run_epoch()
    run.callbacks.on_train_end(state, validate=run.validate)  # weight averaging evaluates
    model = run.accelerator.unwrap_model(run.model)
    run.accelerator.free_memory()  # the optimizer and loaders go; the model is returned
    selected = _select(run.best, run.averaging, model)
    model.eval()
    return FitResult(model=model, state=state, loss=state.extras["loss"], selected=selected)


def _select(
    best: BestWeights, averaging: WeightAveraging | None, model: torch.nn.Module
) -> dict[str, torch.Tensor] | None:
    """Load the selected weights into `model`: the average when `train.average` made one,
    else the best evaluation's; returns them."""
    if averaging is not None and averaging.state_dict is not None:
        model.load_state_dict(averaging.state_dict)
        return averaging.state_dict
    best.restore(model)
    return best.state_dict
