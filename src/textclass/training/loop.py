"""The training loop: small steps, a state object, and callbacks, on Hugging Face Accelerate.

`fit` runs epochs of `train_step`s, evaluates on a schedule, keeps the best weights, stops early,
and writes resumable checkpoints. Everything that must survive an interruption lives in
`TrainState` (saved as JSON) and in Accelerate's state (model, optimizer, scheduler, RNGs), so a
resumed run continues with exactly the batches, random numbers and counters it would have had.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator, PartialState
from accelerate.state import AcceleratorState
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from textclass.config.schema import RunConfig
from textclass.config.tasks import MULTI_LABEL, SINGLE_LABEL, get_task
from textclass.data.encode import Collator, EncodedTexts, LengthGroupedBatches, SiameseBatches
from textclass.errors import TextclassError, TrainingInterrupted
from textclass.inference.forward import predict_logits
from textclass.models import build as models
from textclass.models.attention import fast_attention
from textclass.models.build import quiet_transformers
from textclass.runtime import autocast_dtype, set_threads, tune_allocator
from textclass.training.losses import Loss, SiameseLoss, build_loss

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"


@dataclass
class TrainState:
    """Counters and history; with Accelerate's checkpoint, everything needed to resume."""

    total_steps: int = 0
    steps_per_epoch: int = 0
    epoch: int = 0
    global_step: int = 0  # optimizer steps done
    step_in_epoch: int = 0  # optimizer steps done in the current epoch
    samples_seen: int = 0
    train_seconds: float = 0.0  # wall time of the steps, waiting for data included
    data_seconds: float = 0.0  # of which waiting for the next batch (loading, collating)
    loss_sum: float = 0.0  # training loss since the last evaluation
    loss_count: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # callbacks' JSON state, checkpointed
    stop_requested: bool = field(default=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("stop_requested")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainState:
        return cls(**data)


class Callback:
    """Hooks called by `fit`. Override what you need; each receives the state and keywords."""

    def on_train_begin(self, state: TrainState, **kwargs: Any) -> None: ...

    def on_step_end(self, state: TrainState, **kwargs: Any) -> None: ...

    def on_evaluate(self, state: TrainState, record: dict[str, Any], **kwargs: Any) -> None: ...

    def on_train_end(self, state: TrainState, **kwargs: Any) -> None: ...


# ---------------------------------------------------------------- set-up


def _no_decay(name: str, param: torch.nn.Parameter) -> bool:
    return param.ndim < 2 or "norm" in name.lower()


def make_optimizer(
    model: torch.nn.Module,
    lr: float,
    weight_decay: float,
    layer_lr_decay: float | None = None,
) -> torch.optim.Optimizer:
    """AdamW, no weight decay on biases and normalisation weights; fused where supported.

    With `layer_lr_decay` (ULMFiT/ELECTRA-style layer-wise decay), the head trains at `lr`,
    the top encoder layer at lr * decay, the next at lr * decay², ..., embeddings lowest.
    Each parameter group carries its own `lr`; the scheduler scales all of them alike.
    """
    if layer_lr_decay is None:
        layers = [list(model.named_parameters())]
        scales = [1.0]
    else:
        layers = models.layer_groups(model)
        scales = [layer_lr_decay ** (len(layers) - 1 - i) for i in range(len(layers))]
    groups = []
    for named, scale in zip(layers, scales, strict=True):
        trainable = [(n, p) for n, p in named if p.requires_grad]
        decay = [p for n, p in trainable if not _no_decay(n, p)]
        no_decay = [p for n, p in trainable if _no_decay(n, p)]
        groups += [
            {"params": decay, "weight_decay": weight_decay, "lr": lr * scale},
            {"params": no_decay, "weight_decay": 0.0, "lr": lr * scale},
        ]
    # Empty groups dropped; one kept when nothing trains (model.freeze=all, diagnosed later).
    groups = [g for g in groups if g["params"]] or groups[:1]
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # fused kernels absent for this device/dtype
        return torch.optim.AdamW(groups, lr=lr)


def make_accelerator(device: str, precision: str) -> Accelerator:
    mixed = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]
    if PartialState().num_processes == 1:
        # Accelerate keeps one process-wide state and refuses a second Accelerator with another
        # precision; a single process (tests, searches, notebooks) may train several runs.
        AcceleratorState._reset_state()
    return Accelerator(mixed_precision=mixed, cpu=device == "cpu")


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


# ---------------------------------------------------------------- layers


def gradual_unfreezing(
    model: torch.nn.Module, per_epoch: int, epoch: int, fixed: set[int] | frozenset = frozenset()
) -> int:
    """ULMFiT-style: in epoch e (from 0) the head and the top `per_epoch * e` encoder layer
    groups train, the rest are frozen (embeddings are the lowest group, unfrozen last).
    Returns how many encoder groups are trainable. Parameters whose id is in `fixed` (frozen by
    the config, e.g. `bilstm.freeze_embeddings`, so not in the optimizer) stay frozen. Every
    other parameter stays in the optimizer; AdamW skips those without gradients."""
    groups = models.layer_groups(model)
    encoder, head = groups[:-1], groups[-1]
    open_count = min(len(encoder), per_epoch * epoch)
    for i, group in enumerate(encoder):
        trainable = i >= len(encoder) - open_count
        for _, param in group:
            param.requires_grad_(trainable and id(param) not in fixed)
    for _, param in head:
        param.requires_grad_(id(param) not in fixed)
    return open_count


# ---------------------------------------------------------------- steps


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
    task: str = SINGLE_LABEL.name,
    thresholds: np.ndarray | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics and outputs (probabilities or values) on a labelled dataset. `loss` is the
    model's own unweighted loss (cross-entropy, mean binary cross-entropy, or MSE)."""
    task = get_task(task)
    logits = predict_logits(model, dataset, batch_size, pad_id, device, autocast_dtype(precision))
    outputs = task.outputs(logits)
    return task.metrics(dataset.labels, outputs, labels, thresholds), outputs


# ---------------------------------------------------------------- checkpoints


def _atomic_dir(target: Path, write: Callable[[Path], None]) -> None:
    """Write a directory next to `target`, then swap it in, so a crash never leaves half a one."""
    tmp = target.with_name(target.name + ".tmp")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    write(tmp)
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(accelerator: Accelerator, state: TrainState, directory: Path) -> None:
    """Model, optimizer, scheduler, RNG states (Accelerate) plus `trainer_state.json`."""

    def write(tmp: Path) -> None:
        accelerator.save_state(str(tmp), safe_serialization=True)
        (tmp / STATE_FILE).write_text(json.dumps(state.to_json(), indent=1))

    if accelerator.is_main_process:
        _atomic_dir(directory, write)
    accelerator.wait_for_everyone()


def save_best(accelerator: Accelerator, model: torch.nn.Module, directory: Path) -> None:
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        with quiet_transformers():
            _atomic_dir(
                directory, lambda tmp: unwrapped.save_pretrained(tmp, safe_serialization=True)
            )
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator: Accelerator, directory: Path) -> TrainState:
    accelerator.load_state(str(directory))
    return TrainState.from_json(json.loads((directory / STATE_FILE).read_text()))


# ---------------------------------------------------------------- interruption


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
        state.stop_requested = True
        log.warning(
            "stop requested: finishing this step and writing a checkpoint (Ctrl-C again to abort)"
        )

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------- the loop


def _improved(value: float, best: float | None, metric: str, min_delta: float) -> bool:
    if best is None:
        return True
    if metric in ("loss", "log_loss", "rmse", "mae", "mse"):
        return value < best - min_delta
    return value > best + min_delta


@dataclass
class FitContext:
    """What `fit` works with; built by `textclass.run`, kept apart so tests can build it too."""

    cfg: RunConfig
    model: torch.nn.Module
    train_data: EncodedTexts
    val_data: EncodedTexts
    labels: list[str]
    pad_id: int
    device: str
    precision: str
    checkpoint_dir: Path
    callbacks: list[Callback] = field(default_factory=list)
    task: str = SINGLE_LABEL.name


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
    """Apply `textclass.performance` measures and the speed/memory options of `train`;
    returns what was applied (logged, and kept in the trainer state's `extras["speed"]`)."""
    tcfg = cfg.train
    applied = {
        "allocator_tuned": tune_allocator(),
        "threads": set_threads(tcfg.num_threads),
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


def fit(ctx: FitContext, resume: bool = False) -> TrainState:
    """Train `ctx.model` in place; the best weights are saved to `checkpoint_dir/best`."""
    cfg, tcfg = ctx.cfg, ctx.cfg.train
    accelerator = make_accelerator(ctx.device, ctx.precision)
    settings = speed_up(ctx.model, cfg)
    loader, batches = train_loader(ctx.train_data, cfg, ctx.pad_id)
    unfreeze = tcfg.unfreeze_layers_per_epoch
    fixed = {id(p) for p in ctx.model.parameters() if not p.requires_grad}  # frozen by config
    optimizer = make_optimizer(ctx.model, tcfg.lr, tcfg.weight_decay, tcfg.layer_lr_decay)
    model, optimizer, loader = accelerator.prepare(ctx.model, optimizer, loader)

    steps_per_epoch = max(1, math.ceil(len(loader) / tcfg.grad_accum_steps))
    total_steps = tcfg.max_steps or max(1, math.ceil(tcfg.epochs * steps_per_epoch))
    scheduler = get_scheduler(
        "constant_with_warmup" if tcfg.scheduler == "constant" else tcfg.scheduler,
        optimizer=optimizer,
        num_warmup_steps=round(tcfg.warmup_ratio * total_steps),
        num_training_steps=total_steps,
    )
    accelerator.register_for_checkpointing(scheduler)

    loss_fn = build_loss(tcfg, ctx.task, ctx.labels, ctx.train_data.labels, accelerator.device)
    last_dir, best_dir = ctx.checkpoint_dir / "last", ctx.checkpoint_dir / "best"
    if resume:
        state = load_checkpoint(accelerator, last_dir)
        log.info(
            "resumed at step %d/%d (epoch %d)",
            state.global_step,
            state.total_steps,
            state.epoch + 1,
        )
    else:
        state = TrainState(total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    state.extras["loss"] = loss_fn.describe()  # for diagnostics.json and the diagnosis
    state.extras["speed"] = settings
    for cb in ctx.callbacks:
        cb.on_train_begin(
            state,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            accelerator=accelerator,
            train_data=ctx.train_data,
            labels=ctx.labels,
            loss=loss_fn,
        )

    def run_evaluation() -> None:
        metrics, _ = evaluate(
            accelerator.unwrap_model(model),
            ctx.val_data,
            ctx.labels,
            cfg.eval.batch_size,
            ctx.pad_id,
            accelerator.device,
            ctx.precision,
            ctx.task,
            # Multi-label checkpoints are chosen at the default cut; thresholds are tuned after.
            np.full(len(ctx.labels), cfg.eval.thresholds.default)
            if ctx.task == MULTI_LABEL
            else None,
        )
        record = {
            "epoch": round(state.global_step / steps_per_epoch, 3),
            "step": state.global_step,
            "train_loss": state.loss_sum / max(state.loss_count, 1),
            "val_loss": metrics["loss"],
            **{
                f"val_{k}": metrics[k]
                for k in (
                    "accuracy",
                    "f1_macro",
                    "f1_weighted",
                    "f1_micro",
                    "f1_samples",
                    "roc_auc",
                    "log_loss",
                )
                if k in metrics
            },
            "lr": max(scheduler.get_last_lr()),  # the head's, with layer-wise rates
            "train_seconds": round(state.train_seconds, 2),
            "samples_per_second": round(state.samples_seen / max(state.train_seconds, 1e-9), 2),
            "data_wait_fraction": round(state.data_seconds / max(state.train_seconds, 1e-9), 4),
        }
        state.loss_sum, state.loss_count = 0.0, 0
        value = metrics[tcfg.metric] if tcfg.metric in metrics else record[f"val_{tcfg.metric}"]
        record["is_best"] = _improved(
            value, state.best_metric, tcfg.metric, tcfg.early_stopping.min_delta
        )
        if record["is_best"]:
            state.best_metric, state.best_step = value, state.global_step
            state.evals_without_improvement = 0
            save_best(accelerator, model, best_dir)
        else:
            state.evals_without_improvement += 1
        state.history.append(record)
        for cb in ctx.callbacks:
            cb.on_evaluate(state, record)
        tqdm.write(
            f"step {state.global_step}/{total_steps}  train loss {record['train_loss']:.4f}  "
            f"val loss {record['val_loss']:.4f}  val {tcfg.metric} {value:.4f}"
            + ("  (best)" if record["is_best"] else "")
        )
        patience = tcfg.early_stopping.patience
        if patience is not None and state.evals_without_improvement >= patience:
            state.stopped_early = True

    model.train()
    progress = tqdm(
        total=total_steps,
        initial=state.global_step,
        desc="training",
        unit="step",
        disable=not accelerator.is_local_main_process,
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 30,  # logs get a line every 30 s
    )
    accum = tcfg.grad_accum_steps
    with stop_on_signals(state), progress:
        while state.global_step < total_steps and not state.stopped_early:
            batches.epoch = state.epoch
            if unfreeze:
                opened = gradual_unfreezing(
                    accelerator.unwrap_model(model), unfreeze, state.epoch, fixed
                )
                log.info("epoch %d: head and top %d layer group(s) train", state.epoch + 1, opened)
            skip = state.step_in_epoch * accum
            epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
            started = time.perf_counter()
            micro = 0
            for batch in _timed(epoch_loader, state):
                micro += 1
                step_now = micro % accum == 0 or skip + micro == len(loader)
                size = len(batch["labels"])
                ctx_sync = nullcontext() if step_now else accelerator.no_sync(model)
                with ctx_sync:
                    loss = train_step(model, batch, accelerator, 1.0 / accum, loss_fn)
                state.loss_sum += loss / accum
                state.samples_seen += size
                if not step_now:
                    continue
                state.loss_count += 1
                grad_norm = accelerator.clip_grad_norm_(
                    model.parameters(), tcfg.max_grad_norm or float("inf")
                )
                lr = max(scheduler.get_last_lr())
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.global_step += 1
                state.step_in_epoch += 1
                now = time.perf_counter()
                state.train_seconds += now - started
                started = now
                progress.update(1)
                progress.set_postfix(
                    loss=f"{loss:.4f}",
                    samples_s=f"{state.samples_seen / max(state.train_seconds, 1e-9):.1f}",
                    refresh=False,
                )
                for cb in ctx.callbacks:
                    cb.on_step_end(
                        state,
                        loss=loss,
                        batch=batch,
                        grad_norm=float(grad_norm),
                        lr=lr,
                        model=model,
                        optimizer=optimizer,
                    )
                end_of_epoch = state.step_in_epoch >= steps_per_epoch
                finished = state.global_step >= total_steps
                if (
                    (tcfg.eval_steps and state.global_step % tcfg.eval_steps == 0)
                    or (not tcfg.eval_steps and end_of_epoch)
                    or (
                        finished
                        and (not state.history or state.history[-1]["step"] != state.global_step)
                    )
                ):
                    run_evaluation()
                    model.train()
                    if end_of_epoch:
                        state.epoch, state.step_in_epoch = state.epoch + 1, 0
                    save_checkpoint(accelerator, state, last_dir)
                elif tcfg.checkpoint_steps and state.global_step % tcfg.checkpoint_steps == 0:
                    save_checkpoint(accelerator, state, last_dir)
                if state.stop_requested:
                    if end_of_epoch and state.step_in_epoch:
                        state.epoch, state.step_in_epoch = state.epoch + 1, 0
                    save_checkpoint(accelerator, state, last_dir)
                    raise TrainingInterrupted(
                        f"training stopped at step {state.global_step}/{total_steps}; a resumable "
                        f"checkpoint is in {last_dir}. Continue with: textclass train --resume "
                        f"{ctx.checkpoint_dir.parent}"
                    )
                if finished or state.stopped_early or end_of_epoch:
                    break
                started = time.perf_counter()  # evaluation and checkpoints are not training time
            if state.step_in_epoch >= steps_per_epoch:  # epoch ended without an evaluation
                state.epoch, state.step_in_epoch = state.epoch + 1, 0
    for cb in ctx.callbacks:
        cb.on_train_end(state)
    return state
