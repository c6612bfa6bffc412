"""The evidence the diagnosis needs, recorded during training by a callback.

`TrainingMonitor` records what the loop actually did: which parameters were trainable and in
the optimizer, the label mix of the batches it saw, per-step loss, learning rate and gradient
norm, non-finite losses. The record goes to diagnostics.json; `rules.diagnose` reads it.
This module needs torch (through the training loop); the rules do not.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from textclass.training.callbacks import Callback

log = logging.getLogger(__name__)

MAX_STEPS_KEPT = 5000  # per-step series are thinned beyond this, to keep the file small
EARLY_CHECK_STEP = 20  # when the batch label stream is first checked during training


class TrainingMonitor(Callback):
    """Records what the loop really did; the result is `record` (JSON-serialisable)."""

    def __init__(self, dataset_label_counts: dict[str, int] | None = None) -> None:
        # The prepared dataset's label counts, taken before any later stage could alter them.
        self.dataset_label_counts = dataset_label_counts
        self.record: dict[str, Any] = {
            "parameters": {},
            "batch_label_counts": {},
            "dataset_label_counts": {},
            "steps": {"step": [], "loss": [], "lr": [], "grad_norm": []},
            "nonfinite_losses": 0,
            "labels_out_of_range": 0,
        }
        self._labels: list[str] = []
        self._counts: np.ndarray | None = None
        self._classes = True  # False for a numeric target: no label mix to count

    def on_train_begin(self, state, **kw: Any) -> None:
        targets = kw["train_data"].labels
        self._classes = _has_classes(targets)
        self._labels = list(kw["labels"]) if self._classes else []
        if self.dataset_label_counts is None and self._classes:
            counts = _label_counts(targets, len(self._labels)).tolist()
            self.dataset_label_counts = dict(zip(self._labels, counts, strict=True))
        if "monitor" in state.extras:  # resumed: continue the interrupted run's record
            self.record = state.extras["monitor"]
            self.record["resumed_at_step"] = state.global_step
        unwrapped = kw["accelerator"].unwrap_model(kw["model"])
        self.record["parameters"] = _parameter_counts(unwrapped, kw["optimizer"])
        self.record["dataset_label_counts"] = self.dataset_label_counts or {}
        seen = self.record.get("batch_label_counts") or {}
        self._counts = np.array([seen.get(k, 0) for k in self._labels], dtype=np.int64)
        state.extras["monitor"] = self.record

    def on_step_end(self, state, **kw: Any) -> None:
        if self._classes:
            self._count_labels(state, kw["batch"]["labels"].detach().cpu().numpy())
        loss = kw["loss"]
        if not math.isfinite(loss):
            self.record["nonfinite_losses"] += 1
            if self.record["nonfinite_losses"] == 1:
                log.warning(
                    "step %d: the loss is %s (learning rate too high?)", state.global_step, loss
                )
        steps = self.record["steps"]
        if len(steps["step"]) < MAX_STEPS_KEPT or state.global_step % 10 == 0:
            steps["step"].append(state.global_step)
            steps["loss"].append(loss if math.isfinite(loss) else None)
            steps["lr"].append(kw["lr"])
            g = kw["grad_norm"]
            steps["grad_norm"].append(g if math.isfinite(g) else None)

    def _count_labels(self, state, labels: np.ndarray) -> None:
        """Add a batch's labels to the counts; warn early if every batch had one label."""
        if labels.ndim == 1:  # class ids; multi-label batches are 0/1 matrices
            valid = (labels >= 0) & (labels < len(self._labels))
            self.record["labels_out_of_range"] += int((~valid).sum())
            labels = labels[valid]
        self._counts += _label_counts(labels, len(self._labels))
        self.record["batch_label_counts"] = dict(
            zip(self._labels, self._counts.tolist(), strict=True)
        )
        if state.global_step == EARLY_CHECK_STEP and (self._counts > 0).sum() == 1:
            present = self._labels[int(self._counts.argmax())]
            log.warning(
                "the first %d steps saw only label `%s`, though the dataset has %d labels: "
                "labels may be overwritten in the pipeline",
                state.global_step,
                present,
                sum(1 for v in self.dataset_label_counts.values() if v),
            )


def _parameter_counts(model, optimizer) -> dict[str, int]:
    """Parameters in total, trainable, in the head, and trainable but not in the optimizer."""
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    prefix = f"{getattr(model, 'base_model_prefix', '')}."
    params = {"total": 0, "trainable": 0, "encoder_trainable": 0, "head_total": 0}
    params |= {"head_trainable": 0, "head_in_optimizer": 0, "trainable_not_in_optimizer": 0}
    for name, p in model.named_parameters():
        n = p.numel()
        head = not name.startswith(prefix)
        params["total"] += n
        params["head_total"] += n if head else 0
        if p.requires_grad:
            params["trainable"] += n
            params["head_trainable" if head else "encoder_trainable"] += n
            if id(p) not in in_optimizer:
                params["trainable_not_in_optimizer"] += n
        if head and id(p) in in_optimizer:
            params["head_in_optimizer"] += n
    return params


def _has_classes(targets: np.ndarray) -> bool:
    """Class ids or a multi-label 0/1 matrix; False for numeric (regression) targets."""
    targets = np.asarray(targets)
    return targets.ndim == 2 or np.issubdtype(targets.dtype, np.integer)


def _label_counts(labels: np.ndarray, k: int) -> np.ndarray:
    """Texts per class: a bincount of class ids, or column sums of a multi-label 0/1 matrix."""
    if labels.ndim == 2:
        return labels.sum(axis=0).round().astype(np.int64)
    return np.bincount(labels.astype(np.int64), minlength=k)
