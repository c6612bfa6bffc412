"""Catching runs that went wrong: rules applied to what a finished run recorded.

Each rule is a check function registered with `@rule(name, description)`; `diagnose` runs
every registered rule on the run's evidence and returns the findings, each with its evidence
and the likely causes in order. The report lists `RULES` as what was checked.

A check takes the evidence as keywords and names only what it reads (the rest lands in
`**_`): `monitor` (the training monitor's record, see `monitor.py`), `history` (the
evaluations during training), `metrics` (per split), `integrity`, `data_stats` (data.json),
`class_weights`, `loss` (the objective as built), `config` (the run's config as saved) and
`task` (the Task object). `metrics` holds `validation` and `test`, and `baseline` when the run
measured one (see `textclass.evaluation.baseline`).

Torch-free: the report imports this module; the monitor that records during training lives
in `monitor.py`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from textclass.config.tasks import MULTI_LABEL, Task, get_task


@dataclass
class Finding:
    check: str  # short id, e.g. "collapse"
    title: str
    severity: str  # "fail" | "warn" | "ok"
    evidence: str
    causes: list[str] = field(default_factory=list)  # most likely first
    recommendation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Check = Callable[..., list[Finding]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str  # one line: what the rule looks for
    check: Check


RULES: dict[str, Rule] = {}  # in the order they run


def rule(name: str, description: str) -> Callable[[Check], Check]:
    """Register a check function under `name`; it is returned unchanged."""

    def register(check: Check) -> Check:
        if name in RULES:
            raise ValueError(f"diagnosis rule {name!r} is registered twice")
        RULES[name] = Rule(name, description, check)
        return check

    return register


# ---------------------------------------------------------------- rules


def _shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in counts.items()}


def _fmt_shares(shares: dict[str, float], top: int = 4) -> str:
    items = sorted(shares.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{k} {v:.0%}" for k, v in items)


def _finite(values: list[float | None]) -> np.ndarray:
    return np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)


@rule(
    "no_learning",
    "the model did not learn: flat training loss, learning rate 0, frozen parameters or a "
    "head outside the optimizer, zero gradients, NaN losses",
)
def check_learning(monitor: dict[str, Any], **_) -> list[Finding]:
    """No learning: what makes it impossible (nothing trainable, lr 0, ...) or a flat loss."""
    causes, evidence = _stuck(monitor)
    losses = _finite(monitor.get("steps", {}).get("loss", []))
    flat = False
    if len(losses) >= 20:  # fewer steps say too little about a trend
        k = max(1, len(losses) // 5)
        first, last = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
        flat = last > 0.95 * first
        evidence.append(f"training loss {first:.4f} (first {k} steps) -> {last:.4f} (last {k})")
    if not (causes or flat):
        return []
    if flat and not causes:
        causes = [
            "learning rate too low for this model (try train.lr=5e-5 for a pretrained encoder)",
            "labels not connected to the texts (check data.label_column and the data)",
        ]
    return [
        Finding(
            "no_learning",
            "The model did not learn",
            "fail",
            "; ".join(evidence) or "training loss did not fall",
            causes,
            _learning_fix(causes),
        )
    ]


def _stuck(monitor: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Causes (and their evidence) that keep any training from changing the model."""
    params = monitor.get("parameters", {})
    steps = monitor.get("steps", {})
    lrs = _finite(steps.get("lr", []))
    grads = _finite(steps.get("grad_norm", []))
    causes, evidence = [], []
    if params and params.get("trainable", 0) == 0:
        causes.append("every parameter is frozen (requires_grad=False): nothing can change")
        evidence.append(f"0 of {params['total']:,} parameters trainable")
    elif params and params.get("head_trainable", 0) == 0:
        causes.append("the classification head is frozen")
        evidence.append(f"head: 0 of {params['head_total']:,} parameters trainable")
    elif params and params.get("head_in_optimizer", 0) == 0:
        causes.append("the classification head's parameters are not in the optimizer")
    if params.get("trainable_not_in_optimizer"):
        causes.append(
            f"{params['trainable_not_in_optimizer']:,} trainable parameters are missing "
            "from the optimizer"
        )
    if len(lrs) and lrs.max() == 0:
        causes.append("the learning rate is 0 at every step (train.lr=0 or a mis-set schedule)")
        evidence.append("peak learning rate 0")
    if len(grads) and grads.max() == 0:
        causes.append("gradients are exactly zero (frozen or disconnected parameters)")
        evidence.append("gradient norm 0 at every step")
    if monitor.get("nonfinite_losses"):
        causes.append("the loss became NaN/Inf (learning rate too high, or fp16 overflow)")
        evidence.append(f"{monitor['nonfinite_losses']} non-finite losses")
    return causes, evidence


def _learning_fix(causes: list[str]) -> str:
    text = " ".join(causes)
    if "frozen" in text:
        return "Unfreeze parameters: set model.freeze=none (or encoder to train the head only)."
    if "learning rate is 0" in text:
        return "Set train.lr to a positive value (5e-5 suits pretrained encoders)."
    if "NaN" in text:
        return "Lower train.lr, keep gradient clipping (train.max_grad_norm=1.0), or use bf16."
    if "optimizer" in text:
        return (
            "Build the optimizer after freezing/unfreezing so it holds every trainable parameter."
        )
    return "Check the labels and raise train.lr; run `textclass doctor CONFIG` before a long run."


@rule(
    "exploding_gradients",
    "gradient norms above 1000, or often above 10x their median",
)
def check_gradients(monitor: dict[str, Any], **_) -> list[Finding]:
    grads = _finite(monitor.get("steps", {}).get("grad_norm", []))
    if len(grads) < 10:
        return []
    median = float(np.median(grads))
    spikes = int((grads > 10 * max(median, 1e-12)).sum())
    if grads.max() <= 1e3 and spikes <= max(2, len(grads) // 50):
        return []
    return [
        Finding(
            "exploding_gradients",
            "Gradient norms exploded",
            "warn",
            f"gradient norm median {median:.3g}, max {grads.max():.3g}; {spikes} steps "
            "above 10x the median",
            ["learning rate too high", "no or too loose gradient clipping"],
            "Lower train.lr (e.g. by 3-10x) and keep train.max_grad_norm=1.0.",
        )
    ]


@rule(
    "batch_labels",
    "the label mix of the batches the loop saw against the dataset's (labels overwritten or "
    "mis-mapped in the pipeline, label ids out of range)",
)
def check_batches(
    monitor: dict[str, Any],
    data_stats: dict[str, Any] | None = None,
    loss: dict[str, Any] | None = None,
    **_,
) -> list[Finding]:
    """The label mix the loop saw vs the dataset's: catches labels overwritten in the pipeline.

    When the loop does not see each text once per epoch (Siamese partners drawn by class, one
    example per window of a long text), only a single-label stream is a finding.
    """
    resampled = _resampled(data_stats or {}, loss)
    seen, data = monitor.get("batch_label_counts", {}), monitor.get("dataset_label_counts", {})
    findings = []
    if monitor.get("labels_out_of_range"):
        findings.append(
            Finding(
                "labels_out_of_range",
                "Batches held label ids outside the label set",
                "fail",
                f"{monitor['labels_out_of_range']} labels out of range",
                ["the label mapping used for training differs from the model's"],
                "Rebuild the label mapping from the training data (labels are sorted strings).",
            )
        )
    if not seen or not sum(seen.values()):
        return findings
    seen_s, data_s = _shares(seen), _shares(data)
    present = [k for k, v in seen.items() if v > 0]
    gap = max(abs(seen_s[k] - data_s.get(k, 0.0)) for k in seen_s)
    if len(present) == 1 and sum(1 for v in data.values() if v) > 1:
        findings.append(
            Finding(
                "batch_labels_identical",
                "Every batch the model saw had the same label",
                "fail",
                f"batches: {present[0]} 100%; dataset: {_fmt_shares(data_s)}",
                [
                    "labels overwritten or mis-mapped between the dataset and the loop",
                    "a sampler or collate function that drops the other classes",
                ],
                "Inspect the labels of a few batches from the training loader; they must "
                "follow the dataset's distribution.",
            )
        )
    elif gap > 0.1 and not resampled:
        findings.append(
            Finding(
                "batch_label_mismatch",
                "The batches' label mix differs from the dataset's",
                "warn",
                f"batches: {_fmt_shares(seen_s)}; dataset: {_fmt_shares(data_s)} "
                f"(largest gap {gap:.0%})",
                ["a sampler that over- or under-samples classes", "labels altered in the pipeline"],
                "Check the sampler and collate function.",
            )
        )
    return findings


def _resampled(data_stats: dict[str, Any], loss: dict[str, Any] | None) -> bool:
    """Whether training drew its examples other than once per text and epoch."""
    train_windows = (data_stats.get("windows") or {}).get("train") or {}
    windowed = train_windows.get("windows", 0) > train_windows.get("texts", 0)
    return windowed or bool((loss or {}).get("siamese"))


@rule(
    "collapse",
    "predictions collapsed to one class or a few (multi-label: no label, every label or one "
    "label set for every text), on validation and test",
)
def check_collapse(
    metrics: dict[str, dict[str, Any]], task: Task, loss: dict[str, Any] | None = None, **_
) -> list[Finding]:
    if not task.has_labels:
        return []
    found = []
    for split in (s for s in ("validation", "test") if s in metrics):
        m = metrics[split]
        found.append(
            multilabel_collapse(m, split, loss) if task == MULTI_LABEL else class_collapse(m, split)
        )
    return [f for f in found if f]


def class_collapse(metrics: dict[str, Any], split: str) -> Finding | None:
    """Predictions concentrated on one class (or a few) while the labels are not."""
    cm = np.array(metrics["confusion_matrix"])
    labels = metrics["labels"]
    n = cm.sum()
    if n == 0:
        return None
    predicted = cm.sum(axis=0) / n
    gold = cm.sum(axis=1) / n
    majority = float(gold.max())
    used = int((predicted > 0).sum())
    top = int(predicted.argmax())
    one_class = predicted[top] >= 0.95 and gold[top] < 0.9
    few = (
        len(labels) > 3 and used <= max(1, len(labels) // 3) and predicted.max() > gold.max() + 0.2
    )
    if not (one_class or few):
        return None
    pred_s = dict(zip(labels, predicted.tolist(), strict=True))
    gold_s = dict(zip(labels, gold.tolist(), strict=True))
    return Finding(
        f"collapse_{split}",
        f"The model predicts {'one class' if one_class else 'only a few classes'} on {split}",
        "fail",
        f"{split} predictions: {_fmt_shares(pred_s)}; labels: {_fmt_shares(gold_s)}; accuracy "
        f"{metrics['accuracy']:.4f} vs majority-class baseline {majority:.4f}",
        [
            "training diverged (learning rate too high): see the loss curve and gradient norms",
            "the model did not learn (learning rate 0, frozen parameters)",
            "labels collapsed in the training pipeline (see the batch label check)",
            "strong class imbalance (try train.class_weights=balanced)",
        ],
        "Read the other findings for the cause; run `textclass doctor CONFIG` to test the set-up.",
    )


def _predicted_shares(metrics: dict[str, Any]) -> dict[str, float]:
    """Share of texts predicted with each label, from per-label precision, recall and support
    (tp = recall * support, predicted = tp / precision); 0 where no prediction was right, as
    then the count of wrong ones is unknown."""
    n = max(metrics["n"], 1)
    return {
        k: (v["recall"] * v["support"] / v["precision"] / n if v["precision"] > 0 else 0.0)
        for k, v in metrics["per_class"].items()
    }


def _thresholds_tuned(metrics: dict[str, Any]) -> bool:
    cuts = {v.get("threshold", 0.5) for v in metrics["per_class"].values()}
    return cuts != {0.5}


def _multilabel_fix(loss: dict[str, Any] | None, tuned: bool) -> list[str]:
    """What to try against labels the model under-predicts, given the run's objective."""
    name, weighted = (loss or {}).get("name"), bool((loss or {}).get("weights"))
    fixes = []
    if name != "focal" and not weighted:
        fixes.append(
            "weight each label's positives (train.loss.pos_weight=balanced) or use focal loss "
            "(train.loss.name=focal)"
        )
    elif name != "focal":
        fixes.append("try focal loss (train.loss.name=focal)")
    if not tuned:
        fixes.append("tune per-label thresholds on validation (eval.thresholds.tune=true)")
    return fixes


def multilabel_collapse(
    metrics: dict[str, Any], split: str, loss: dict[str, Any] | None = None
) -> Finding | None:
    """Multi-label predictions that ignore the text: no label at all, every label, or one
    fixed label set for every text."""
    per, n = metrics["per_class"], metrics["n"]
    gold, pred = metrics["labels_per_text"]["gold"], metrics["labels_per_text"]["predicted"]
    if n == 0 or gold == 0 or len(per) < 2:
        return None
    pattern = _label_set_pattern(metrics, loss)
    if pattern is None:
        return None
    what, causes, fix = pattern
    k = len(per)
    auc = metrics.get("roc_auc")
    return Finding(
        f"collapse_{split}",
        f"The model predicts {what} on {split}",
        "fail",
        f"{split}: {pred:.2f} labels predicted per text on average vs {gold:.2f} gold "
        f"({k} labels, n={n}); micro-F1 {metrics['f1_micro']:.4f}, macro-F1 "
        f"{metrics['f1_macro']:.4f}, subset accuracy {metrics['subset_accuracy']:.4f}"
        + ("" if auc is None else f", macro ROC-AUC {auc:.3f}"),
        causes,
        fix[0].upper() + fix[1:] + ".",
    )


def _label_set_pattern(
    metrics: dict[str, Any], loss: dict[str, Any] | None
) -> tuple[str, list[str], str] | None:
    """Which way multi-label predictions collapsed (what, likely causes, fix), or None."""
    per, n = metrics["per_class"], metrics["n"]
    gold, pred = metrics["labels_per_text"]["gold"], metrics["labels_per_text"]["predicted"]
    shares = _predicted_shares(metrics)
    always = [
        label
        for label, v in per.items()
        if shares[label] >= 0.95 and v["support"] < 0.9 * n  # predicted on ~every text
    ]
    if pred <= 0.1 * gold:
        tuned = _thresholds_tuned(metrics)
        causes = [
            "label imbalance: each label's negatives dominate the loss, so its sigmoid stays "
            "below the cut",
            "the model did not learn or trained too briefly (see the loss curve)",
            "training diverged (learning rate too high)",
        ]
        if not tuned:
            causes.insert(1, "a 0.5 cut for every label: rare labels need lower thresholds")
        what = "no label for any text" if pred == 0 else "no label for almost every text"
        return what, causes, "; ".join([*_multilabel_fix(loss, tuned), "read the other findings"])
    if pred >= 0.9 * len(per) and gold <= 0.5 * len(per):
        causes = [
            "the model's scores do not separate texts, so the thresholds pass everything",
            "positives weighted too strongly (train.loss.pos_weight)",
            "training diverged (learning rate too high)",
        ]
        fix = "Read the other findings for the cause; check train.loss.pos_weight and train.lr"
        return "every label for (almost) every text", causes, fix
    if always and pred - sum(shares[label] for label in always) <= 0.1:
        shown = ", ".join(f"`{label}`" for label in always[:8])
        more = f" and {len(always) - 8} more" if len(always) > 8 else ""
        causes = [
            "the model did not learn: with scores that do not separate texts, thresholds "
            "tuned for F1 predict the frequent labels everywhere",
            "training diverged (learning rate too high)",
            "labels collapsed in the training pipeline (see the batch label check)",
        ]
        fix = "Read the other findings for the cause; run `textclass doctor CONFIG`"
        return f"the same label set for every text ({shown}{more})", causes, fix
    if pred >= 3 * gold and pred >= gold + 2:
        causes = [
            "the model's scores hardly separate texts (see the per-label ROC-AUC), so the "
            "thresholds tuned for F1 let most labels through",
            "the model did not learn or trained too briefly (see the loss curve)",
            "positives weighted too strongly (train.loss.pos_weight)",
        ]
        fix = "Train longer or with a higher train.lr, then check the per-label ROC-AUC"
        return "far more labels per text than the texts carry", causes, fix
    return None


@rule("overfitting", "validation loss rising from its minimum while training loss falls")
def check_convergence(history: list[dict[str, Any]], **_) -> list[Finding]:
    """Overfitting: validation loss rising from its minimum while training loss falls."""
    findings = []
    if len(history) < 2:
        return findings
    val = [h["val_loss"] for h in history]
    train = [h["train_loss"] for h in history]
    best = int(np.argmin(val))
    if best < len(val) - 1 and val[-1] > val[best] * 1.05 and train[-1] < train[best]:
        findings.append(
            Finding(
                "overfitting",
                "Validation loss rose while training loss fell (overfitting)",
                "warn",
                f"validation loss lowest at epoch {history[best]['epoch']:g} "
                f"({val[best]:.4f}), {val[-1]:.4f} at the end; training loss "
                f"{train[best]:.4f} -> {train[-1]:.4f}",
                ["more epochs than the data supports", "too little regularisation"],
                f"Train for about {max(1, round(history[best]['epoch']))} epoch(s) "
                "(train.epochs) or keep early stopping on (train.early_stopping.patience=1).",
            )
        )
    return findings


@rule(
    "still_improving",
    "training ended with the best validation score at its last evaluation: more epochs would "
    "likely help",
)
def check_still_improving(
    history: list[dict[str, Any]], config: dict[str, Any] | None = None, **_
) -> list[Finding]:
    """The run ran out of steps, not out of improvement: the last of two or more evaluations
    was the best so far (early stopping, had it fired, would have ended on a worse one)."""
    if len(history) < 2 or not history[-1].get("is_best"):
        return []
    metric = ((config or {}).get("train") or {}).get("metric") or "loss"
    key = f"val_{metric}" if f"val_{metric}" in history[-1] else "val_loss"
    values = ", ".join(f"{h[key]:.4f}" for h in history[-4:])
    last = history[-1]
    suggested = max(2, math.ceil(2 * last["epoch"]))
    return [
        Finding(
            "still_improving",
            "Validation was still improving when training ended",
            "warn",
            f"validation {key.removeprefix('val_')} at the last evaluations: {values}; the best "
            f"is the last one (epoch {last['epoch']:g}, step {last['step']:,})",
            ["too few epochs or steps for this data set and learning rate"],
            f"Train longer, e.g. train.epochs={suggested} (about twice as long; or a larger "
            "train.max_steps), with early stopping on (train.early_stopping.patience=2) so the "
            "best checkpoint is kept.",
        )
    ]


DATA_WAIT_WARN = 0.2  # share of training time spent waiting for batches


@rule(
    "data_wait",
    f"over {DATA_WAIT_WARN:.0%} of the training time spent waiting for batches",
)
def check_data_wait(history: list[dict[str, Any]], **_) -> list[Finding]:
    """A data path that starves the model: much of the training time spent waiting for batches."""
    wait = history[-1].get("data_wait_fraction") if history else None
    if wait is None or wait < DATA_WAIT_WARN:
        return []
    return [
        Finding(
            "data_wait",
            "Training waited for data much of the time",
            "warn",
            f"{wait:.0%} of the training time went to loading and collating batches",
            ["batches built in the training process", "slow storage or a slow collate step"],
            "Build batches in parallel (train.num_workers=2 or more).",
        )
    ]


@rule(
    "weight_average",
    "train.average: the averaged weights worse on validation than the best single checkpoint, "
    "or too few evaluations to average",
)
def check_weight_average(integrity: dict[str, Any], task: Task, **_) -> list[Finding]:
    """The selected average lost to a single checkpoint on the selection metric (the model is
    the average all the same: the user asked for it), or nothing was averaged."""
    average = integrity.get("average")
    if not average:
        return []
    method = average["method"]
    if not average.get("selected"):
        return [
            Finding(
                "weight_average_skipped",
                "Weight averaging averaged nothing",
                "warn",
                average.get("skipped", "fewer than 2 evaluations to average"),
                ["too few evaluations after the averaging start", "early stopping"],
                f"Evaluate more often (train.eval_steps) with train.average={method}, or set "
                "train.average=none.",
            )
        ]
    metric, value, best = average["metric"], average["value"], average["best_single"]
    worse = value > best["value"] if task.lower_is_better(metric) else value < best["value"]
    if not worse:
        return []
    return [
        Finding(
            "weight_average_worse",
            "The averaged weights are worse on validation than the best single checkpoint",
            "warn",
            f"validation {metric}: {value:.4f} for the average of {average['snapshots']} "
            f"evaluations ({method}, steps {average['steps'][0]}-{average['steps'][-1]}), "
            f"{best['value']:.4f} for the checkpoint of step {best['step']}",
            [
                "the averaged evaluations lie far apart (a high learning rate late in training)",
                "snapshots from before the model converged",
            ],
            "Keep the best single checkpoint (train.average=none)"
            + (", or start averaging later (train.average_start)" if method == "swa" else "")
            + ".",
        )
    ]


@rule(
    "weakness",
    "classes much weaker than others on test (multi-label: labels present but never predicted "
    "right)",
)
def check_weakness(
    metrics: dict[str, dict[str, Any]],
    task: Task,
    class_weights: Any = "none",
    loss: dict[str, Any] | None = None,
    **_,
) -> list[Finding]:
    if "test" not in metrics or not task.has_labels:
        return []
    if task == MULTI_LABEL:
        return label_weakness(metrics["test"], loss)
    return class_weakness(metrics["test"], class_weights)


def label_weakness(metrics: dict[str, Any], loss: dict[str, Any] | None = None) -> list[Finding]:
    """Multi-label: labels that occur in the split but are never predicted right (F1 0)."""
    per = metrics["per_class"]
    dead = sorted(
        (k for k, v in per.items() if v["support"] > 0 and v["f1"] == 0),
        key=lambda k: (-per[k]["support"], k),
    )
    present = sum(1 for v in per.values() if v["support"] > 0)
    if not dead or len(dead) == present:  # all dead: the collapse check speaks
        return []
    shown = ", ".join(f"`{k}` ({per[k]['support']})" for k in dead[:6])
    more = f" and {len(dead) - 6} more" if len(dead) > 6 else ""
    share = sum(per[k]["support"] for k in dead) / max(sum(v["support"] for v in per.values()), 1)
    fixes = _multilabel_fix(loss, _thresholds_tuned(metrics))
    return [
        Finding(
            "label_weakness",
            f"{len(dead)} of {present} labels are never predicted correctly",
            "warn",
            f"F1 0 despite support: {shown}{more} (support in parentheses; "
            f"{share:.0%} of the gold labels)",
            ["too few training examples of those labels", "label imbalance", "label noise"],
            "For those labels: " + "; ".join([*fixes, "add labelled examples"]) + ".",
        )
    ]


def class_weakness(metrics: dict[str, Any], class_weights: Any) -> list[Finding]:
    """Single-label: the class with the lowest recall far below the best."""
    per = metrics["per_class"]
    if len(per) < 2:
        return []
    recalls = {k: v["recall"] for k, v in per.items() if v["support"] > 0}
    if not recalls:
        return []
    worst = min(recalls, key=recalls.get)
    best = max(recalls, key=recalls.get)
    if recalls[best] - recalls[worst] < 0.15:
        return []
    supports = {k: v["support"] for k, v in per.items()}
    fix = (
        "try class weights (train.class_weights=balanced)"
        if class_weights == "none"
        else "add labelled examples of it, or check them for label noise"
    )
    return [
        Finding(
            "class_weakness",
            f"Class `{worst}` is much weaker than `{best}`",
            "warn",
            f"class `{worst}` recall {recalls[worst]:.2f} (support {supports[worst]}) vs "
            f"`{best}` {recalls[best]:.2f} (support {supports[best]})",
            ["fewer or harder examples of that class", "class imbalance"],
            f"For `{worst}`: {fix}.",
        )
    ]


@rule(
    "integrity",
    "the evaluated weights are the selected checkpoint, and no validation or test text also "
    "occurs in training, exactly or as a near-duplicate (the data audit's leakage check)",
)
def check_integrity(integrity: dict[str, Any], data_stats: dict[str, Any], **_) -> list[Finding]:
    findings = []
    evaluated, selected = integrity.get("evaluated_sha256"), integrity.get("selected_sha256")
    if evaluated and selected and evaluated != selected:
        findings.append(
            Finding(
                "wrong_checkpoint",
                "The evaluated weights are not the selected checkpoint",
                "fail",
                f"evaluated {evaluated[:12]}..., selected {selected[:12]}...",
                ["the model directory was written from another checkpoint"],
                "Re-run `textclass evaluate` on the run's model/ directory.",
            )
        )
    audit = data_stats.get("audit") or {}
    if "leakage" in audit:
        findings += _leakage(audit)
        return findings
    overlap = data_stats.get("cross_split_duplicates", {})  # data.json of an older run
    if any(overlap.values()):
        findings.append(
            Finding(
                "split_overlap",
                "Validation/test texts also occur in training",
                "warn",
                ", ".join(f"{k}: {v} texts" for k, v in overlap.items() if v),
                ["duplicates across the given files (leakage inflates the metrics)"],
                "Remove those rows from validation/test, or let textclass split one file.",
            )
        )
    return findings


def _leakage(audit: dict[str, Any]) -> list[Finding]:
    """Validation/test texts that training holds exactly or as near-duplicates (data.json
    `audit`), unless `data.leakage: drop` removed those training rows."""
    leakage, actions = audit["leakage"], audit.get("actions") or {}
    if actions.get("leakage") == "drop" or not leakage.get("train_rows"):
        return []
    parts = [
        f"{split}: {v['held_out_texts']} text(s) ({v['exact']} exact, {v['near']} near-duplicate "
        f"pairs; {v['other_label']} with another label)"
        for split, v in leakage.items()
        if isinstance(v, dict) and v.get("pairs")
    ]
    threshold = (audit.get("settings") or {}).get("threshold")
    return [
        Finding(
            "split_overlap",
            "Validation/test texts also occur in training (exactly or nearly)",
            "warn",
            "; ".join(parts)
            + f"; {leakage['train_rows']} training row(s) involved (near: Jaccard >= "
            f"{threshold} of character shingles)",
            [
                "duplicates across the given files, or near-identical texts in different "
                "groups (leakage inflates the metrics)"
            ],
            "Set data.leakage=drop to remove those training rows (counted), or remove them from "
            "the files; `textclass audit CONFIG` lists every pair.",
        )
    ]


@rule(
    "mean_baseline",
    "regression: a model no better than predicting the mean for every text (R² at most 0)",
)
def check_mean_baseline(metrics: dict[str, dict[str, Any]], task: Task, **_) -> list[Finding]:
    """R² ≤ 0 on a split: the RMSE is no lower than that of predicting the split's own mean
    for every text (which is the target's standard deviation)."""
    if task.has_labels:
        return []
    findings = []
    for split in (s for s in ("validation", "test") if s in metrics):
        m = metrics[split]
        if m.get("r2") is None or m["r2"] > 0:
            continue
        baseline = m.get("target_std")
        versus = "" if baseline is None else f" vs {baseline:.4f} predicting the {split} mean"
        findings.append(
            Finding(
                f"mean_baseline_{split}",
                f"The model is no better than predicting the mean on {split}",
                "fail",
                f"{split} RMSE {m['rmse']:.4f}{versus}; R² {m['r2']:.4f} (n={m['n']})",
                [
                    "the model did not learn or trained too briefly (see the loss curve)",
                    "training diverged (learning rate too high)",
                    "the target is not predictable from the texts, or the wrong column "
                    "(check data.label_column)",
                ],
                "Read the other findings for the cause; run `textclass doctor CONFIG`.",
            )
        )
    return findings


@rule(
    "baseline",
    "the model does not beat a TF-IDF + linear model baseline fitted on the same split "
    "(paired bootstrap on the test rows); the likely cause from the run's record",
)
def check_baseline(
    metrics: dict[str, dict[str, Any]],
    history: list[dict[str, Any]],
    monitor: dict[str, Any],
    data_stats: dict[str, Any],
    task: Task,
    config: dict[str, Any] | None = None,
    loss: dict[str, Any] | None = None,
    **_,
) -> list[Finding]:
    """The model's test score not above the baseline's (the 95% interval of the difference
    includes 0 or lies below it); the causes the record supports, most likely first."""
    baseline = metrics.get("baseline") or {}
    c = baseline.get("comparison")
    if not c or c["verdict"] == "better":
        return []
    config = config or {}
    model, train = config.get("model", {}), config.get("train", {})
    collapsed = check_collapse({"test": metrics["test"]}, task, loss) if "test" in metrics else []
    worse = c["verdict"] == "worse"
    causes = [
        *_collapse_cause(collapsed),
        *_truncation_cause(data_stats, model),
        *_steps_cause(history, monitor, train),
        *_lr_cause(monitor, model, train),
        *_baseline_fallback(c, worse),
    ]
    interval = "" if c["low"] is None else f" [{c['low']:+.4f}, {c['high']:+.4f}]"
    penalty = baseline.get("penalty") or {}
    measured = (
        f"test {c['metric']} {c['model']:.4f} vs {c['baseline']:.4f} for "
        f"{baseline.get('description', 'the baseline')} ({penalty.get('name', 'C')}="
        f"{penalty.get('value', 0):g}): difference {c['difference']:+.4f}{interval} by paired "
        f"bootstrap over {c['n']:,} test rows"
    )
    return [
        Finding(
            "baseline",
            f"The model is {'worse than' if worse else 'no better than'} a TF-IDF baseline",
            "fail" if worse else "warn",
            "; ".join([measured, *(seen for seen, _, _ in causes if seen)]),
            [cause for _, cause, _ in causes],
            " ".join(dict.fromkeys(fix for _, _, fix in causes[:3])),
        )
    ]


# Each cause of a model no better than the baseline: (evidence or None, cause, fix).
Cause = tuple[str | None, str, str]
MIN_STEPS = 600  # fewer optimizer steps rarely fine-tune an encoder to its best (training.optim)


def _collapse_cause(collapsed: list[Finding]) -> list[Cause]:
    if not collapsed:
        return []
    title = collapsed[0].title.lower()
    return [(title, f"the model collapsed ({title})", "Fix the collapse first (its finding).")]


TRUNCATION_WARN = 0.2  # share of the training tokens the model never reads


def _dropped(data_stats: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's truncation record and its training split's counts (empty when absent)."""
    t = data_stats.get("truncation") or {}
    return t, (t.get("splits") or {}).get("train") or {}


def _truncation_fix(t: dict[str, Any]) -> str:
    cap, strategy = t.get("max_length"), t.get("strategy")
    limit = t.get("position_limit") or 512
    steps = []
    if cap and cap < limit:
        steps.append(f"raise model.max_length (up to {limit}, or auto)")
    if strategy != "windows":
        steps.append("read whole texts in windows (model.truncation=windows)")
    if strategy == "head":
        steps.append("keep the start and the end (model.truncation=head+tail)")
    return "; ".join(steps).capitalize() + "." if steps else "Raise model.window.max_windows."


def _truncation_cause(data_stats: dict[str, Any], model: dict[str, Any]) -> list[Cause]:
    """Much of the training text never read, which the baseline reads whole."""
    t, train = _dropped(data_stats)
    share = train.get("tokens_dropped_share") or 0.0
    if share < TRUNCATION_WARN:
        return []
    return [
        (
            f"{share:.0%} of the training tokens not read ({t.get('strategy')}, "
            f"{t.get('max_length')} tokens)",
            f"truncation: {share:.0%} of the training text is cut away "
            f"(model.truncation={t.get('strategy')}, model.max_length={t.get('max_length')}), "
            "while the baseline reads every word",
            _truncation_fix(t),
        )
    ]


@rule(
    "truncation",
    f"over {TRUNCATION_WARN:.0%} of the training tokens cut away by model.max_length and "
    "model.truncation",
)
def check_truncation(data_stats: dict[str, Any], **_) -> list[Finding]:
    """Long texts the model mostly never reads (data.json `truncation`)."""
    t, train = _dropped(data_stats)
    share = train.get("tokens_dropped_share") or 0.0
    if share < TRUNCATION_WARN:
        return []
    return [
        Finding(
            "truncation",
            "Much of the training text is never read",
            "warn",
            f"{train['tokens_dropped']:,} of {train['tokens']:,} training tokens ({share:.0%}) "
            f"are cut away; {train['texts_longer']:,} of {train['texts']:,} texts are longer "
            f"than {t['max_length']} tokens ({t['reason']})",
            ["texts longer than the input length, cut by the truncation strategy"],
            _truncation_fix(t)
            + " Compare with the baseline, which reads every word (eval.baseline).",
        )
    ]


def _steps_cause(
    history: list[dict[str, Any]], monitor: dict[str, Any], train: dict[str, Any]
) -> list[Cause]:
    """Too little training: few optimizer steps, or the best score at the last evaluation."""
    steps = history[-1].get("step", 0) if history else len(monitor.get("steps", {}).get("step", []))
    still_improving = len(history) >= 2 and bool(history[-1].get("is_best"))
    if steps >= MIN_STEPS and not still_improving:
        return []
    said = [f"{steps:,} optimizer steps"] if steps < MIN_STEPS else []
    if still_improving:
        said.append("the best validation score at the last evaluation")
    done = history[-1].get("epoch") if history else None
    more = f"train.epochs={max(2, math.ceil(2 * done))}" if done else "more train.epochs"
    return [
        (
            " and ".join(said),
            "too little training: " + " and ".join(said),
            f"Train longer ({more}, or train.max_steps) and keep early stopping on.",
        )
    ]


def _lr_cause(monitor: dict[str, Any], model: dict[str, Any], train: dict[str, Any]) -> list[Cause]:
    """A peak learning rate far from what the model family usually needs."""
    lrs = _finite(monitor.get("steps", {}).get("lr", []))
    lr = float(lrs.max()) if len(lrs) else train.get("lr")
    if not lr:
        return []  # 0: the no-learning rule speaks
    pretrained = model.get("architecture", "transformer") == "transformer" and model.get(
        "pretrained", True
    )
    low, high, usual = (1e-5, 1e-4, "2e-5 to 5e-5") if pretrained else (1e-4, 1e-2, "about 1e-3")
    if low <= lr <= high:
        return []
    what = "a pretrained encoder" if pretrained else "a model trained from scratch"
    side = "high" if lr > high else "low"
    return [
        (
            f"peak learning rate {lr:.2g}",
            f"the learning rate {lr:.2g} is {side} for {what} (usually {usual})",
            f"Set train.lr in the usual range ({usual}).",
        )
    ]


def _baseline_fallback(c: dict[str, Any], worse: bool) -> list[Cause]:
    """Causes that need no evidence from training: a test split too small to tell the two
    apart, or labels that n-grams capture well."""
    causes: list[Cause] = []
    if not worse and c["n"] < 1000:
        causes.append(
            (
                None,
                f"a small test split: {c['n']:,} rows cannot tell small differences apart",
                "Evaluate on more labelled rows (a larger data.split.test, or a bigger test file).",
            )
        )
    causes.append(
        (
            None,
            "labels that word and character n-grams capture well (keywords, short texts): a "
            "bag of n-grams is a strong model here",
            "Try a larger pretrained encoder (model.name), or keep the simpler model.",
        )
    )
    return causes


def diagnose(
    monitor: dict[str, Any],
    history: list[dict[str, Any]],
    metrics: dict[str, dict[str, Any]],
    integrity: dict[str, Any],
    data_stats: dict[str, Any],
    class_weights: Any = "none",
    loss: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> list[Finding]:
    """Every finding of every registered rule for a finished run, failures first. `loss` is
    the run's objective as recorded in diagnostics.json (`name`, `weights`, `siamese`): it
    shapes the multi-label advice, and Siamese pairs (like sliding windows in `data_stats`)
    change the batch mix. `config` is the run's config as saved (config.yaml). The task is the
    one the metrics name (single-label if none)."""
    tasks = [m["task"] for m in metrics.values() if m.get("task")]
    evidence = {
        "monitor": monitor,
        "history": history,
        "metrics": metrics,
        "integrity": integrity,
        "data_stats": data_stats,
        "class_weights": class_weights,
        "loss": loss,
        "config": config or {},
        "task": get_task(tasks[0] if tasks else None),
    }
    findings = [f for r in RULES.values() for f in r.check(**evidence)]
    order = {"fail": 0, "warn": 1, "ok": 2}
    return sorted(findings, key=lambda f: order[f.severity])


def print_findings(findings: list[Finding] | list[dict[str, Any]], log: logging.Logger) -> None:
    """Failures and warnings to a logger, one line each with evidence and fix."""
    for f in findings:
        f = f if isinstance(f, dict) else f.to_dict()
        if f["severity"] == "ok":
            continue
        level = log.error if f["severity"] == "fail" else log.warning
        level(
            "%s: %s. Evidence: %s. Fix: %s",
            f["severity"].upper(),
            f["title"],
            f["evidence"],
            f["recommendation"],
        )
