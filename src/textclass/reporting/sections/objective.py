"""The training objective as run: the loss, its parameters, class or label weights, Siamese
pairs. Shown inside the configuration section."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textclass.config.tasks import MULTI_LABEL, Task, get_task
from textclass.reporting.format import Block, fmt

if TYPE_CHECKING:
    from textclass.reporting.build import Run

LOSS_NAMES = {
    "cross_entropy": "cross-entropy",
    "bce": "binary cross-entropy per label (sigmoid)",
    "mse": "mean squared error",
    "huber": "Huber loss",
}


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    return {"objective": describe(run.config, run.diagnostics, run.task)}


def describe(cfg: dict[str, Any], diag: dict[str, Any], task: Task | str) -> dict[str, Any]:
    """The diagnostics file's `loss` record where present (what the loop built), else the
    config's `train.loss`."""
    task = get_task(task)
    recorded = diag.get("loss") or {}
    lc = cfg["train"].get("loss") or {}
    multi = task == MULTI_LABEL
    name = recorded.get("name") or lc.get("name", "auto")
    if name == "auto":
        name = task.default_loss
    params = dict(recorded["params"] or {}) if "params" in recorded else _params(name, lc)
    params = {k: v for k, v in params.items() if v not in (None, 0, 0.0)}
    weights = recorded["weights"] if "weights" in recorded else diag.get("class_weights")
    setting = lc.get("pos_weight", "none") if multi else cfg["train"].get("class_weights", "none")
    siamese = recorded.get("siamese")
    if "siamese" not in recorded:
        sc = cfg["train"].get("siamese") or {}
        siamese = {k: v for k, v in sc.items() if k != "enabled"} if sc.get("enabled") else None
    kind = "pos_weight" if multi else "class weights"
    parts = [_loss_text(name, params, multi)]
    if weights:
        shown = fmt(setting) if isinstance(setting, str) else "given"
        parts.append(f"{kind} ({shown}): " + fmt_weights(weights))
    elif task.has_labels:
        parts.append(f"no {kind}")
    if siamese:
        parts.append(_siamese_text(siamese))
    text = "; ".join(parts)
    return {
        "name": name,
        "task": task.name,
        "params": params,
        "weights": weights,
        "weights_kind": kind,
        "weights_setting": setting,
        "siamese": siamese,
        "text": text[0].upper() + text[1:] + ".",
    }


def _params(name: str, lc: dict[str, Any]) -> dict[str, Any]:
    """A loss's parameters from the config, for runs that did not record them."""
    if name == "focal":
        return {"gamma": lc.get("gamma", 2.0), "alpha": lc.get("alpha")}
    if name == "cross_entropy":
        return {"label_smoothing": lc.get("label_smoothing", 0.0)}
    if name == "huber":
        return {"delta": lc.get("huber_delta", 1.0)}
    return {}


def _loss_text(name: str, params: dict[str, Any], multi: bool) -> str:
    if name == "focal":
        text = "sigmoid focal loss per label" if multi else "softmax focal loss"
    else:
        text = LOSS_NAMES.get(name, name)
    if params:
        text += " (" + ", ".join(f"{k.replace('_', ' ')} {fmt(v)}" for k, v in params.items()) + ")"
    return text


def _siamese_text(siamese: dict[str, Any]) -> str:
    return (
        "Siamese training: twin shared-weight encoders over "
        f"{siamese.get('pairs_per_example')} sampled partner(s) per text (half of the same "
        f"class), loss = {fmt(siamese.get('alpha'))} x contrastive (cosine-distance margin "
        f"{fmt(siamese.get('margin'))}) + {fmt(siamese.get('beta'))} x classification loss"
    )


def fmt_weights(weights: dict[str, float], top: int = 6) -> str:
    items = list(weights.items())
    shown = ", ".join(f"{k} {v:.3g}" for k, v in items[:top])
    if len(items) <= top:
        return shown
    values = list(weights.values())
    return f"{shown}, ... ({len(items)} labels, {min(values):.3g} to {max(values):.3g})"


def blocks(report: dict[str, Any]) -> list[Block]:
    objective = report["objective"]
    b: list[Block] = [("h3", "Training objective"), ("p", objective["text"])]
    weights = objective.get("weights") or {}
    if len(weights) > 6:  # the line shows the first few only
        b.append(
            (
                "table",
                ["label", objective["weights_kind"]],
                [[k, f"{v:.4g}"] for k, v in list(weights.items())[:60]],
            )
        )
    return b
