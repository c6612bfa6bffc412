"""Optimizer, learning-rate schedule and layer-wise training: AdamW with layer-wise decay,
warm-up schedules, ULMFiT-style gradual unfreezing."""

from __future__ import annotations

import math

import torch
from transformers import get_scheduler

from textclass.config.schema import TrainConfig
from textclass.models.build import layer_groups


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
        layers = layer_groups(model)
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


# train.epochs=auto: enough epochs for MIN_STEPS optimizer steps, within AUTO_EPOCHS. A few hundred
# steps is what fine-tuning an encoder usually needs (small data sets gain from training longer:
# Mosbach et al. 2021, Zhang et al. 2021); large ones keep the usual 3 epochs. 600, not 300: with
# the defaults, TREC (118 steps per epoch) stopped at 0.786 macro-F1 after 3 epochs, below the
# TF-IDF baseline, and reached 0.94 on validation by its 4th of 6 epochs
# (benchmarks/results/against_baseline_trec_epochs6.json). diagnosis.rules.MIN_STEPS matches.
MIN_STEPS = 600
AUTO_EPOCHS = (3, 10)


def planned_epochs(epochs: float | str, steps_per_epoch: int) -> float:
    """`train.epochs` as a number: itself, or for `auto` the epochs that give at least
    MIN_STEPS optimizer steps, no fewer than 3 and no more than 10."""
    if epochs != "auto":
        return float(epochs)
    low, high = AUTO_EPOCHS
    return float(min(max(low, math.ceil(MIN_STEPS / max(1, steps_per_epoch))), high))


def total_steps(tcfg: TrainConfig, steps_per_epoch: int) -> int:
    """Optimizer steps of the whole run: `train.max_steps`, else the planned epochs'."""
    epochs = planned_epochs(tcfg.epochs, steps_per_epoch)
    return tcfg.max_steps or max(1, math.ceil(epochs * steps_per_epoch))


def make_scheduler(optimizer: torch.optim.Optimizer, tcfg: TrainConfig, total_steps: int):
    """Linear warm-up, then linear/cosine decay or constant."""
    return get_scheduler(
        "constant_with_warmup" if tcfg.scheduler == "constant" else tcfg.scheduler,
        optimizer=optimizer,
        num_warmup_steps=round(tcfg.warmup_ratio * total_steps),
        num_training_steps=total_steps,
    )


def gradual_unfreezing(
    model: torch.nn.Module, per_epoch: int, epoch: int, fixed: set[int] | frozenset = frozenset()
) -> int:
    """ULMFiT-style: in epoch e (from 0) the head and the top `per_epoch * e` encoder layer
    groups train, the rest are frozen (embeddings are the lowest group, unfrozen last).
    Returns how many encoder groups are trainable. Parameters whose id is in `fixed` (frozen by
    the config, e.g. `bilstm.freeze_embeddings`, so not in the optimizer) stay frozen. Every
    other parameter stays in the optimizer; AdamW skips those without gradients."""
    groups = layer_groups(model)
    encoder, head = groups[:-1], groups[-1]
    open_count = min(len(encoder), per_epoch * epoch)
    for i, group in enumerate(encoder):
        trainable = i >= len(encoder) - open_count
        for _, param in group:
            param.requires_grad_(trainable and id(param) not in fixed)
    for _, param in head:
        param.requires_grad_(id(param) not in fixed)
    return open_count
