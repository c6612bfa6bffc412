"""`textclass doctor CONFIG`: a sanity suite to run before a long training run.

It builds exactly what `train` would (data, tokenizer, model, optimizer, schedule, batches) and
checks, with numbers: the head is trainable and in the optimizer; the learning-rate schedule
is not zero; the batches follow the dataset's label mix; the model can overfit a few batches;
and the loss responds to the labels (a classifier on the encoder's features must generalise
better with the true labels than with shuffled ones).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from transformers import get_scheduler, set_seed

from textclass.config.load import load_config
from textclass.config.schema import RunConfig
from textclass.config.tasks import MULTI_LABEL, get_task
from textclass.errors import TextclassError
from textclass.models import build as models
from textclass.training.callbacks import Callback
from textclass.training.loop import train_loader
from textclass.training.losses import build_loss
from textclass.training.optim import make_optimizer, total_steps
from textclass.workflows.build import build
from textclass.workflows.train import prepare


@dataclass
class Check:
    name: str
    status: str  # "pass" | "warn" | "fail"
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _head_check(model, optimizer) -> list[Check]:
    in_opt = {id(p) for g in optimizer.param_groups for p in g["params"]}
    head = [
        (n, p) for n, p in model.named_parameters() if not models.is_encoder_parameter(model, n)
    ]
    encoder = [p for n, p in model.named_parameters() if models.is_encoder_parameter(model, n)]
    n_head = sum(p.numel() for _, p in head)
    trainable = sum(p.numel() for _, p in head if p.requires_grad)
    in_optimizer = sum(p.numel() for _, p in head if id(p) in in_opt)
    enc_total = sum(p.numel() for p in encoder)
    enc_train = sum(p.numel() for p in encoder if p.requires_grad)
    ok = trainable == n_head and in_optimizer == n_head and n_head > 0
    checks = [
        Check(
            "head trainable and in optimizer",
            "pass" if ok else "fail",
            f"head ({', '.join(sorted({n.split('.')[0] for n, _ in head}))}): {trainable:,} of "
            f"{n_head:,} parameters trainable, {in_optimizer:,} in the optimizer",
        )
    ]
    checks.append(
        Check(
            "encoder trainable",
            "pass" if enc_train == enc_total else "warn",
            f"{enc_train:,} of {enc_total:,} encoder parameters trainable"
            + (
                ""
                if enc_train == enc_total
                else " (frozen: intended only for a head-only ablation)"
            ),
        )
    )
    return checks


def _schedule_check(cfg: RunConfig, optimizer, steps: int) -> Check:
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.train.lr)
    kind = "constant_with_warmup" if cfg.train.scheduler == "constant" else cfg.train.scheduler
    sched = get_scheduler(kind, probe, round(cfg.train.warmup_ratio * steps), steps)
    lrs = []
    for _ in range(steps):
        lrs.append(sched.get_last_lr()[0])
        probe.step()
        sched.step()
    peak = max(lrs)
    return Check(
        "learning-rate schedule",
        "pass" if peak > 0 else "fail",
        f"{cfg.train.scheduler} over {steps} steps: peak {peak:.3g} at step {int(np.argmax(lrs))}, "
        f"last {lrs[-1]:.3g}" + ("; train.lr is 0, so nothing can learn" if peak == 0 else ""),
    )


def _batch_check(loader, labels: list[str], data_counts: dict[str, int], n_batches: int) -> Check:
    seen = np.zeros(len(labels), dtype=np.int64)
    for i, batch in enumerate(loader):
        if i >= n_batches:
            break
        seen += np.bincount(batch["labels"].numpy(), minlength=len(labels))
    total = np.array([data_counts.get(k, 0) for k in labels], dtype=float)
    seen_s, data_s = seen / max(seen.sum(), 1), total / max(total.sum(), 1)
    gap = float(np.abs(seen_s - data_s).max())
    status = "pass"
    if (seen > 0).sum() == 1 and (total > 0).sum() > 1:
        status = "fail"
    elif gap > 0.1:
        status = "warn"
    shown = lambda s: ", ".join(f"{k} {v:.0%}" for k, v in zip(labels, s, strict=True))  # noqa: E731
    return Check(
        "batches follow the label mix",
        status,
        f"first {int(seen.sum())} examples: {shown(seen_s)}; dataset: {shown(data_s)} "
        f"(largest gap {gap:.0%})",
    )


def _fit_few(model, batches: list[dict], cfg: RunConfig, steps: int, loss_fn):
    """Train a copy on fixed batches; returns the loss before training and at each step."""
    model = copy.deepcopy(model).train()
    optimizer = make_optimizer(model, cfg.train.lr, 0.0)
    with torch.no_grad():  # the loss before any update: the reference the run must beat
        start = float(np.mean([loss_fn.batch_loss(model, b) for b in batches]))
    losses = []
    for step in range(steps):
        batch = batches[step % len(batches)]
        loss = loss_fn.batch_loss(model, batch)
        if loss.requires_grad:
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        losses.append(float(loss.detach()))
    return start, np.array(losses)


def _features(model, loader, n_batches: int) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's text vectors (frozen; `models.text_embedding`: mean-pooled last layer, or
    the BiLSTM's pooled vector) and the labels."""
    feats, labels = [], []
    model.eval()
    with torch.inference_mode():
        for _, batch in zip(range(n_batches), loader, strict=False):
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            outputs = model(**inputs, output_hidden_states=True)
            vectors = models.text_embedding(outputs, inputs["attention_mask"])
            feats.append(vectors.float().numpy())
            labels.append(batch["labels"].numpy())
    model.train()
    return np.concatenate(feats), np.concatenate(labels)


def _label_signal(model, loader, seed: int, n_batches: int = 12) -> Check:
    """Does the loss respond to the labels? Fit a classifier on the encoder's features with the
    true labels and with shuffled ones; held-out (cross-validated) loss must be clearly lower
    with the true labels. Memorising a few batches cannot tell the two apart (a pretrained
    encoder memorises shuffled labels as fast), but generalising to held-out texts can."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x, y = _features(model, loader, n_batches)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        return Check(
            "loss responds to the labels",
            "fail",
            f"the {len(y)} labels in the first {n_batches} batches are all the same "
            "class: there is nothing to learn",
        )
    folds = int(min(5, counts.min()))
    if folds < 2:
        return Check("loss responds to the labels", "warn", "too few examples per class to test")
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    probe = LogisticRegression(C=0.1, max_iter=2000)  # strong L2: few examples, many features

    def held_out_loss(target: np.ndarray) -> float:
        probs = cross_val_predict(probe, x, target, cv=cv, method="predict_proba")
        return float(log_loss(target, probs, labels=classes))

    true = held_out_loss(y)
    shuffled = held_out_loss(np.random.default_rng(seed).permutation(y))
    ratio = true / max(shuffled, 1e-12)
    return Check(
        "loss responds to the labels",
        "pass" if ratio < 0.95 else "fail",
        f"held-out loss of a classifier on the encoder's features ({len(y)} examples, "
        f"{folds}-fold): true labels {true:.4f}, shuffled labels {shuffled:.4f} "
        f"(ratio {ratio:.2f}; must be below 0.95)",
    )


def doctor(
    config: RunConfig | str,
    overrides: list[str] | None = None,
    *,
    steps: int | None = None,
    n_batches: int = 4,
    callbacks: list[Callback] | None = None,
) -> list[Check]:
    """Run the sanity suite for a config; every check passes, warns or fails with numbers.

    `callbacks` get `on_train_begin` with the same keywords as in training (model, optimizer,
    train_data, labels), so a test can reproduce a broken pipeline exactly.
    """
    cfg = config if isinstance(config, RunConfig) else load_config(config, overrides)
    if cfg.model.architecture == "linear":
        raise TextclassError(
            "textclass doctor checks a neural training setup (batches, head, learning rate, "
            "a few optimizer steps); model.architecture=linear has none of these: nothing to "
            "tune beyond the penalty, which training chooses on validation. Train it directly "
            "(`textclass train CONFIG`, seconds), or run doctor with model.architecture="
            "transformer or bilstm."
        )
    set_seed(cfg.seed)
    data = prepare(cfg)
    built = build(cfg, data)  # exactly what `train` builds: windows, heads, tokenizers
    model, train_data = built.model, built.encoded["train"]
    loss_fn = build_loss(cfg.train, data.task, data.labels, train_data.labels)
    multi = get_task(data.task) is MULTI_LABEL
    tcfg = cfg.train
    optimizer = make_optimizer(model, tcfg.lr, tcfg.weight_decay, tcfg.layer_lr_decay)
    loader, _ = train_loader(train_data, cfg, built.pad_id)
    for cb in callbacks or []:
        cb.on_train_begin(
            None, model=model, optimizer=optimizer, train_data=train_data, labels=data.labels
        )
    steps_per_epoch = math.ceil(len(loader) / cfg.train.grad_accum_steps)
    total = total_steps(cfg.train, steps_per_epoch)

    checks = _head_check(model, optimizer)
    checks.append(_schedule_check(cfg, optimizer, total))
    if not multi:  # label-mix and probe checks count one class per text
        checks.append(_batch_check(loader, data.labels, data.stats["class_counts"]["train"], 20))

    few = [b for _, b in zip(range(n_batches), loader, strict=False)]
    k = len(few)
    # Multi-label outputs start at the label prior, whose loss is already low: memorising the
    # rare labels of a few batches takes about twice the steps (measured on TREC: 62% of the
    # start after 40 steps, 41% after 80).
    steps = steps or (80 if multi else 40)
    start, true = _fit_few(model, few, cfg, steps, loss_fn)
    end = float(true[-k:].mean())
    fits = end < 0.5 * start
    n_examples = sum(len(b["labels"]) for b in few)
    checks.append(
        Check(
            "can overfit a few batches",
            "pass" if fits else "fail",
            f"{n_examples} examples, {steps} steps at lr {cfg.train.lr:g}: loss {start:.4f} -> "
            f"{end:.4f} ({end / max(start, 1e-12):.0%} of the start; must fall below 50%)",
        )
    )
    if multi:
        pass  # the probe fits one class per text
    elif cfg.model.architecture == "bilstm" or not cfg.model.pretrained:
        checks.append(
            Check(
                "loss responds to the labels",
                "warn",
                "skipped: the encoder starts from random weights, so its features carry no "
                "signal to probe before training",
            )
        )
    else:
        checks.append(_label_signal(model, loader, cfg.seed))
    return checks
