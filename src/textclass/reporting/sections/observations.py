"""Observations: statements derived by rules from the numbers, each with its numbers:
convergence, the generalisation gap, stability, then the task sections' own."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from textclass.evaluation.analysis import loss_spikes
from textclass.reporting import sections
from textclass.reporting.format import Block

if TYPE_CHECKING:
    from textclass.reporting.build import Run


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    out = _convergence(run.history, run.config["train"], run.task.lower_is_better)
    out += _stability(run.monitor, run.config["train"].get("max_grad_norm"))
    for observe in sections.provided(run.task, "observations"):
        out += observe(report)
    return {"observations": out}


def _convergence(history: list[dict], train: dict[str, Any], lower_is_better) -> list[str]:
    if not history:
        return []
    metric = train["metric"]
    key = f"val_{metric}" if f"val_{metric}" in history[0] else "val_loss"
    values = [h[key] for h in history]
    best_i = int(np.argmin(values) if lower_is_better(metric) else np.argmax(values))
    best = history[best_i]
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    out = [
        f"Convergence: training loss went from {first:.4f} (first evaluation) to "
        f"{last:.4f} (last); validation {metric} was best at epoch "
        f"{best['epoch']:g} (step {best['step']}): {values[best_i]:.4f}."
    ]
    if len(values) >= 3:
        recent = abs(values[-1] - values[-2])
        if best_i == len(values) - 1 and recent > 0.01:
            out.append(
                f"Still improving at the end (validation {metric} +{recent:.3f} in the last "
                f"evaluation): more epochs may help (train.epochs={math.ceil(2 * history[-1]['epoch'])})."
            )
        elif best_i < len(values) - 1:
            out.append(
                f"Plateau: no better validation {metric} after epoch {best['epoch']:g} "
                f"({len(values) - 1 - best_i} later evaluation(s))."
            )
    gap = history[-1]["val_loss"] - history[-1]["train_loss"]
    out.append(
        f"Generalisation gap at the end: validation loss {history[-1]['val_loss']:.4f} vs "
        f"training loss {history[-1]['train_loss']:.4f} (gap {gap:+.4f})."
    )
    return out


def _stability(monitor: dict[str, Any], clip: float | None) -> list[str]:
    steps = monitor.get("steps", {})
    losses = np.array([v for v in steps.get("loss", []) if v is not None], dtype=float)
    grads = np.array([v for v in steps.get("grad_norm", []) if v is not None], dtype=float)
    if len(losses) < 10:
        return []
    spikes = loss_spikes(losses)
    if not len(grads):
        return [f"Stability: {spikes} loss spike(s)."]
    clipped = f"; {np.mean(grads > clip):.0%} of steps clipped at {clip}" if clip else ""
    return [
        f"Stability: {spikes} loss spike(s) (a step above 2.5x the running median), "
        f"{monitor.get('nonfinite_losses', 0)} non-finite loss(es); gradient norm median "
        f"{np.median(grads):.3g}, max {grads.max():.3g}{clipped}."
    ]


def blocks(report: dict[str, Any]) -> list[Block]:
    return [("h2", "Observations"), ("list", report["observations"])]
