"""Training objectives: cross-entropy, focal and binary cross-entropy, with imbalance handling.

`build_loss` turns `train.loss` and `train.class_weights` into one callable
`loss(logits, targets) -> scalar` for the run's task:

- single-label (targets: class ids): cross-entropy with class weights and label smoothing
  (torch's own), or focal loss;
- multi-label (targets: 0/1 matrix): binary cross-entropy with per-label `pos_weight` (torch's
  own), or sigmoid focal loss;
- regression (targets: floats): mean squared error or Huber loss on the single output.

Each loss is a builder in `LOSSES`, looked up by `train.loss.name`; the task says which fit.

Focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection") is written here because
torch has none; the sigmoid form follows torchvision.ops.sigmoid_focal_loss, which we do not
depend on for one function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from textclass.config.schema import SiameseConfig, TrainConfig
from textclass.config.tasks import MULTI_LABEL, SINGLE_LABEL, Task, get_task
from textclass.errors import ConfigError
from textclass.models.build import text_embedding

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def resolve_name(name: str, task: Task) -> str:
    """`auto` → the task's default; a loss that cannot serve the task is an error."""
    if name == "auto":
        return task.default_loss
    if name not in task.losses:
        raise ConfigError(
            [
                f"train.loss.name: {name} does not apply to {task.name} data; use "
                f"{' or '.join(task.losses)} (or auto)"
            ]
        )
    return name


def class_weights(
    cfg_weights: str | dict[str, float], labels: list[str], y: np.ndarray
) -> np.ndarray | None:
    """Per-class weights for single-label losses: None, `balanced` (n / (k * count), as
    scikit-learn's compute_class_weight) or given per label (missing labels weigh 1)."""
    if cfg_weights == "none":
        return None
    if cfg_weights == "balanced":
        counts = np.bincount(y, minlength=len(labels)).astype(np.float64)
        return len(y) / (len(labels) * np.maximum(counts, 1))
    return np.array([float(cfg_weights.get(label, 1.0)) for label in labels])


def pos_weights(
    cfg_weights: str | dict[str, float], labels: list[str], y: np.ndarray
) -> np.ndarray | None:
    """Per-label weights of positives for multi-label BCE: `balanced` = negatives/positives
    (capped at 100 so a label seen once cannot dominate), or given per label."""
    if cfg_weights == "none":
        return None
    if cfg_weights == "balanced":
        positives = y.sum(axis=0).astype(np.float64)
        return np.clip((len(y) - positives) / np.maximum(positives, 1), 1.0, 100.0)
    return np.array([float(cfg_weights.get(label, 1.0)) for label in labels])


def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma: float,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """Softmax focal loss: mean over examples of -alpha_y (1 - p_y)^gamma log p_y."""
    log_p = F.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
    # clamp: d/dp (1 - p)^gamma is infinite at p = 1 for gamma < 1 (NaN gradients otherwise)
    loss = -((1 - log_p.exp()).clamp_min(1e-6) ** gamma) * log_p
    if alpha is not None:
        loss = loss * alpha[targets]
    return loss.mean()


def sigmoid_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, gamma: float, alpha: float | None = None
) -> torch.Tensor:
    """Per-label binary focal loss, averaged over labels and examples (as torchvision)."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t).clamp_min(1e-6) ** gamma
    if alpha is not None:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return loss.mean()


@dataclass
class Loss:
    """A configured objective; call it with float logits and targets."""

    name: str
    task: str
    fn: LossFn
    weights: dict[str, float] | None = None  # class weights or pos_weight, per label

    params: dict[str, float] = field(default_factory=dict)  # gamma, alpha, label smoothing

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.fn(logits.float(), targets)

    def batch_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Forward one training batch and return its loss."""
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        return self(model(**inputs).logits, batch["labels"])

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "weights": self.weights,
            "params": self.params,
            "siamese": None,
        }


@dataclass
class SiameseLoss:
    """`alpha * contrastive + beta * classification` over a `SiameseBatches` batch.

    The twin encoders are one model applied to anchors and partners (shared weights). The
    contrastive term (Hadsell, Chopra & LeCun 2006) on the cosine distance d of each
    (anchor, partner) embedding pair is d^2 for a same-class pair and max(0, margin - d)^2
    otherwise; the classification term is the base loss on every text of the batch.
    """

    base: Loss
    cfg: SiameseConfig

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.base(logits, targets)

    def batch_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        labels, k = batch["labels"], self.cfg.pairs_per_example
        out = model(**inputs, output_hidden_states=True)
        emb = text_embedding(out, inputs["attention_mask"]).float()
        b = len(labels) // (1 + k)  # anchors; anchor j's partners follow at b + j*k ...
        anchor, partner = emb[:b].repeat_interleave(k, dim=0), emb[b:]
        same = (labels[:b].repeat_interleave(k) == labels[b:]).float()
        d = 1 - F.cosine_similarity(anchor, partner, dim=-1)
        contrastive = same * d.pow(2) + (1 - same) * F.relu(self.cfg.margin - d).pow(2)
        return self.cfg.alpha * contrastive.mean() + self.cfg.beta * self.base(out.logits, labels)

    def describe(self) -> dict[str, Any]:
        return {**self.base.describe(), "siamese": self.cfg.model_dump()}


def build_loss(
    cfg: TrainConfig, task: Task | str, labels: list[str], y: np.ndarray, device: Any = "cpu"
) -> Loss | SiameseLoss:
    """The objective of a run, from its config and its training targets (for weights)."""
    task = get_task(task)
    name = resolve_name(cfg.loss.name, task)
    _check_options(cfg, task, name)
    loss = LOSSES[name](cfg, task, labels, y, device)
    if not cfg.siamese.enabled:
        return loss
    if task.name != SINGLE_LABEL.name:
        raise ConfigError(
            ["train.siamese needs single-label data: same/different class is undefined for sets"]
        )
    return SiameseLoss(loss, cfg.siamese)


def _check_options(cfg: TrainConfig, task: Task, name: str) -> None:
    """Options of another task or loss are errors, never silently ignored."""
    lc, problems = cfg.loss, []
    if cfg.class_weights != "none" and task is not SINGLE_LABEL:
        problems.append(
            "train.class_weights is for single-label tasks; for multi-label data use "
            "train.loss.pos_weight (BCE) or train.loss.alpha (focal); regression has no classes"
        )
    if lc.label_smoothing and name != "cross_entropy":
        problems.append("train.loss.label_smoothing applies to cross-entropy only")
    if lc.pos_weight != "none" and name != "bce":
        problems.append(
            "train.loss.pos_weight applies to bce (multi-label); focal loss weighs positives with "
            "train.loss.alpha; single-label data uses train.class_weights"
        )
    if problems:
        raise ConfigError(problems)


def _bce(cfg: TrainConfig, task: Task, labels: list[str], y: np.ndarray, device: Any) -> Loss:
    pw = pos_weights(cfg.loss.pos_weight, labels, y)
    pw_t = None if pw is None else torch.tensor(pw, dtype=torch.float32, device=device)

    def bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets.float(), pos_weight=pw_t)

    weights = None if pw is None else dict(zip(labels, pw.tolist(), strict=True))
    return Loss("bce", task.name, bce, weights)


def _focal(cfg: TrainConfig, task: Task, labels: list[str], y: np.ndarray, device: Any) -> Loss:
    lc = cfg.loss
    params = {"gamma": lc.gamma, "alpha": lc.alpha}
    if task is MULTI_LABEL:

        def focal_ml(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return sigmoid_focal_loss(logits, targets.float(), lc.gamma, lc.alpha)

        return Loss("focal", task.name, focal_ml, params=params)
    cw = class_weights(cfg.class_weights, labels, y)
    if lc.alpha is not None:
        if len(labels) != 2:
            raise ConfigError(
                [
                    "train.loss.alpha (one number) is for binary or multi-label focal loss; with "
                    f"{len(labels)} classes give per-class weights in train.class_weights instead"
                ]
            )
        alpha = np.array([1 - lc.alpha, lc.alpha])  # the weight of the second (positive) class
        cw = alpha if cw is None else cw * alpha
    cw_t = None if cw is None else torch.tensor(cw, dtype=torch.float32, device=device)
    weights = None if cw is None else dict(zip(labels, cw.tolist(), strict=True))

    def focal(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits, targets, lc.gamma, cw_t)

    return Loss("focal", task.name, focal, weights, params)


def _cross_entropy(
    cfg: TrainConfig, task: Task, labels: list[str], y: np.ndarray, device: Any
) -> Loss:
    cw = class_weights(cfg.class_weights, labels, y)
    cw_t = None if cw is None else torch.tensor(cw, dtype=torch.float32, device=device)
    weights = None if cw is None else dict(zip(labels, cw.tolist(), strict=True))
    smoothing = cfg.loss.label_smoothing

    def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets, weight=cw_t, label_smoothing=smoothing)

    return Loss("cross_entropy", task.name, cross_entropy, weights, {"label_smoothing": smoothing})


def _mse(cfg: TrainConfig, task: Task, labels: list[str], y: np.ndarray, device: Any) -> Loss:
    def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(outputs.view(-1), targets.float().view(-1))

    return Loss("mse", task.name, mse)


def _huber(cfg: TrainConfig, task: Task, labels: list[str], y: np.ndarray, device: Any) -> Loss:
    delta = cfg.loss.huber_delta

    def huber(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.huber_loss(outputs.view(-1), targets.float().view(-1), delta=delta)

    return Loss("huber", task.name, huber, params={"delta": delta})


# The losses by `train.loss.name`; which task each serves is the task's `losses`.
LOSSES: dict[str, Callable[..., Loss]] = {
    "cross_entropy": _cross_entropy,
    "focal": _focal,
    "bce": _bce,
    "mse": _mse,
    "huber": _huber,
}
