"""The training report: data first (`report.json`), rendered second (`report.md`, `report.html`).

`build_report(run_dir)` reads only what the run wrote (config, environment, data statistics,
history, monitor record, metrics, predictions) and measures everything else from it; no section
is ever filled with placeholder text. `write_report` renders the same content as Markdown (with
PNG figures beside it) and as one self-contained HTML file (figures embedded).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from textclass.config.tasks import LABEL_SEPARATOR, MULTI_LABEL
from textclass.diagnosis.rules import Finding, diagnose
from textclass.errors import TextclassError
from textclass.evaluation.calibration import calibration
from textclass.evaluation.intervals import (
    bootstrap_intervals,
    multilabel_bootstrap_intervals,
    percentile_interval,
    resample_counts,
)
from textclass.evaluation.metrics import join_labels

FIGURES_DIR = "report_files"
MULTILABEL_KEYS = (
    "n",
    "accuracy",
    "subset_accuracy",
    "precision_micro",
    "recall_micro",
    "f1_micro",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "f1_weighted",
    "f1_samples",
    "hamming_loss",
    "roc_auc",
    "log_loss",
)
PREDICTION_FILES = {"test": "predictions.csv", "validation": "predictions_validation.csv"}


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


# ---------------------------------------------------------------- measuring


def _probabilities(frame: pd.DataFrame, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    probs = frame[[f"prob_{label}" for label in labels]].to_numpy(dtype=np.float64)
    index = {label: i for i, label in enumerate(labels)}
    return probs, frame["gold"].map(index).to_numpy()


def _binary_curve(positive: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """ROC and precision-recall curve of one score against one 0/1 outcome."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    fpr, tpr, _ = roc_curve(positive, scores)
    precision, recall, _ = precision_recall_curve(positive, scores)
    return {
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "auc": float(auc(fpr, tpr)),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "average_precision": float(np.sum(np.diff(recall[::-1]) * precision[::-1][1:])),
    }


def _curves(probs: np.ndarray, y: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """ROC and precision-recall curves, one-vs-rest (binary: the second label as positive)."""
    out = {}
    classes = [1] if len(labels) == 2 else range(len(labels))
    for k in classes:
        positive = y == k
        if positive.all() or not positive.any():
            continue
        out[labels[k]] = _binary_curve(positive, probs[:, k])
    return out


def _by_length(texts: pd.Series, per_row: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per-row scores (e.g. 1 for a correct prediction) averaged over text-length quartiles."""
    words = texts.astype(str).str.split().str.len().to_numpy()
    edges = np.unique(np.quantile(words, [0, 0.25, 0.5, 0.75, 1.0]).round())
    out = []
    for lo, hi in itertools.pairwise(edges):
        last = hi == edges[-1]
        mask = (words >= lo) & ((words <= hi) if last else (words < hi))
        if mask.any():
            out.append(
                {
                    "words": f"{int(lo)}-{int(hi) if last else int(hi) - 1}",
                    "n": int(mask.sum()),
                    **{name: float(values[mask].mean()) for name, values in per_row.items()},
                }
            )
    return out


def _error_analysis(frame: pd.DataFrame, probs: np.ndarray, y: np.ndarray, labels: list[str]):
    pred = probs.argmax(axis=1)
    top = probs.max(axis=1)
    wrong = np.flatnonzero(pred != y)
    confident = wrong[np.argsort(-top[wrong])][:10]
    sorted_probs = np.sort(probs, axis=1)
    margin = sorted_probs[:, -1] - sorted_probs[:, -2]
    ambiguous = np.argsort(margin)[:10]

    def row(i: int) -> dict[str, Any]:
        return {
            "text": str(frame["text"].iloc[i]),
            "gold": labels[y[i]],
            "predicted": labels[pred[i]],
            "confidence": float(top[i]),
            "margin": float(margin[i]),
        }

    cm = np.zeros((len(labels), len(labels)), dtype=int)
    np.add.at(cm, (y, pred), 1)
    pairs = [
        {"gold": labels[a], "predicted": labels[b], "count": int(cm[a, b])}
        for a in range(len(labels))
        for b in range(len(labels))
        if a != b and cm[a, b] > 0
    ]
    pairs.sort(key=lambda p: -p["count"])
    per_class = {
        label: {
            "false_positives": int(cm[:, k].sum() - cm[k, k]),
            "false_negatives": int(cm[k, :].sum() - cm[k, k]),
        }
        for k, label in enumerate(labels)
    }
    by_length = _by_length(frame["text"], {"accuracy": (pred == y).astype(float)})
    return {
        "confident_mistakes": [row(i) for i in confident],
        "confused_pairs": pairs[:10],
        "per_class": per_class,
        "ambiguous": [row(i) for i in ambiguous],
        "by_length": by_length,
    }


def _results(run_dir: Path, metrics: dict[str, Any], labels: list[str], seed: int):
    results, errors = {}, {}
    for split, name in PREDICTION_FILES.items():
        path = run_dir / name
        if split not in metrics or not path.is_file():
            continue
        frame = pd.read_csv(path, keep_default_na=False)
        probs, y = _probabilities(frame, labels)
        m = metrics[split]
        results[split] = {
            **{k: m[k] for k in ("n", "accuracy", "precision_macro", "recall_macro", "f1_macro")},
            "f1_weighted": m["f1_weighted"],
            "log_loss": m.get("log_loss"),
            "roc_auc": m.get("roc_auc"),
            "per_class": m["per_class"],
            "confusion_matrix": m["confusion_matrix"],
            "intervals": bootstrap_intervals(y, probs.argmax(axis=1), labels, seed=seed),
            "calibration": calibration(probs, y),
            "curves": _curves(probs, y, labels),
            "predicted_share": dict(
                zip(
                    labels,
                    (np.bincount(probs.argmax(1), minlength=len(labels)) / len(y)).tolist(),
                    strict=True,
                )
            ),
        }
        errors[split] = _error_analysis(frame, probs, y, labels)
    return results, errors


# ---------------------------------------------------------------- measuring: multi-label


def _label_matrix(cells: pd.Series, labels: list[str]) -> np.ndarray:
    """`a|b` strings (as in the predictions files; empty: no label) as a 0/1 matrix."""
    index = {label: i for i, label in enumerate(labels)}
    out = np.zeros((len(cells), len(labels)), dtype=np.int64)
    for r, cell in enumerate(cells.astype(str)):
        for label in filter(None, cell.split(LABEL_SEPARATOR)):
            if label in index:
                out[r, index[label]] = 1
    return out


def _row_f1(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-text F1 of the label sets (0 when both are empty, as scikit-learn's `samples`)."""
    both = (y & pred).sum(axis=1)
    size = y.sum(axis=1) + pred.sum(axis=1)
    return np.where(size > 0, 2 * both / np.maximum(size, 1), 0.0)


def _mean_intervals(
    per_row: dict[str, np.ndarray], resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> dict[str, list[float]]:
    """Percentile bootstrap intervals of per-row means (Hamming loss, samples-F1), resampling
    rows as `multilabel_bootstrap_intervals` does."""
    n = len(next(iter(per_row.values())))
    rng = np.random.default_rng(seed)
    matrix = np.stack(list(per_row.values()), axis=1).astype(np.float64)  # (n, metrics)
    means = np.concatenate([c @ matrix / n for c in resample_counts(n, resamples, rng)])
    return {name: percentile_interval(means[:, j], confidence) for j, name in enumerate(per_row)}


def _pooled_calibration(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """Calibration of the independent per-label probabilities: every (text, label) pair is one
    binary forecast; expected calibration error of the predicted probability against the
    observed share of positives."""
    p, outcome = probs.ravel(), y.ravel().astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        mean_p, rate = float(p[mask].mean()), float(outcome[mask].mean())
        ece += mask.mean() * abs(rate - mean_p)
        table.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "n": int(mask.sum()),
                "mean_probability": mean_p,
                "positive_rate": rate,
            }
        )
    return {"ece": float(ece), "bins": table, "pooled": "every (text, label) probability"}


def _multilabel_errors(
    frame: pd.DataFrame, probs: np.ndarray, y: np.ndarray, pred: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    """Texts with the most missed and the most extra labels, the most confident wrong label
    decisions, gold labels missed while another was predicted, per-label counts."""
    missed, extra = y & (1 - pred), pred & (1 - y)
    n_missed, n_extra = missed.sum(axis=1), extra.sum(axis=1)
    texts = frame["text"].astype(str).to_numpy()

    def names(row: np.ndarray) -> str:
        return join_labels(row[None, :], labels)[0]

    def text_row(i: int) -> dict[str, Any]:
        return {
            "text": texts[i],
            "gold": names(y[i]),
            "predicted": names(pred[i]),
            "missed": names(missed[i]),
            "extra": names(extra[i]),
            "n_missed": int(n_missed[i]),
            "n_extra": int(n_extra[i]),
        }

    most_missed = np.lexsort((-n_extra, -n_missed))  # most missed first, then most extra
    most_extra = np.lexsort((-n_missed, -n_extra))
    # How far each wrong decision was on the wrong side: p for an extra label, 1 - p for a
    # missed one.
    wrongness = np.where(extra == 1, probs, 0.0) + np.where(missed == 1, 1 - probs, 0.0)
    rows, cols = np.unravel_index(np.argsort(-wrongness, axis=None)[:10], wrongness.shape)
    confident = [
        {
            "text": texts[i],
            "label": labels[k],
            "kind": "extra" if extra[i, k] else "missed",
            "probability": float(probs[i, k]),
        }
        for i, k in zip(rows, cols, strict=True)
        if wrongness[i, k] > 0
    ]
    pairs: dict[tuple[int, int], int] = {}
    for i in np.flatnonzero((n_missed > 0) & (n_extra > 0)):
        for a in np.flatnonzero(missed[i]):
            for b in np.flatnonzero(extra[i]):
                pairs[a, b] = pairs.get((a, b), 0) + 1
    confused = [
        {"gold": labels[a], "predicted": labels[b], "count": c}
        for (a, b), c in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    ]
    exact = (y == pred).all(axis=1)
    return {
        "summary": {
            "texts": len(y),
            "exact": int(exact.sum()),
            "with_missed": int((n_missed > 0).sum()),
            "with_extra": int((n_extra > 0).sum()),
            "no_label_predicted": int((pred.sum(axis=1) == 0).sum()),
        },
        "most_missed": [text_row(i) for i in most_missed[:10] if n_missed[i] > 0],
        "most_extra": [text_row(i) for i in most_extra[:10] if n_extra[i] > 0],
        "confident_mistakes": confident,
        "confused_pairs": confused,
        "per_class": {
            label: {
                "true_positives": int((y[:, k] & pred[:, k]).sum()),
                "false_positives": int(extra[:, k].sum()),
                "false_negatives": int(missed[:, k].sum()),
            }
            for k, label in enumerate(labels)
        },
        "by_length": _by_length(
            frame["text"], {"accuracy": exact.astype(float), "f1_samples": _row_f1(y, pred)}
        ),
    }


def _multilabel_results(run_dir: Path, metrics: dict[str, Any], labels: list[str], seed: int):
    """As `_results`, for sets of labels: the predictions files hold `a|b` label strings (at
    the run's thresholds) and one independent probability per label."""
    results, errors = {}, {}
    for split, name in PREDICTION_FILES.items():
        path = run_dir / name
        if split not in metrics or not path.is_file():
            continue
        frame = pd.read_csv(path, keep_default_na=False, dtype={"gold": str, "predicted": str})
        probs = frame[[f"prob_{label}" for label in labels]].to_numpy(dtype=np.float64)
        y, pred = _label_matrix(frame["gold"], labels), _label_matrix(frame["predicted"], labels)
        m = metrics[split]
        intervals = multilabel_bootstrap_intervals(y, pred, labels, seed=seed)
        intervals |= _mean_intervals(
            {"hamming_loss": (y != pred).mean(axis=1), "f1_samples": _row_f1(y, pred)}, seed=seed
        )
        support = y.sum(axis=0)
        by_support = sorted(range(len(labels)), key=lambda k: (-support[k], labels[k]))
        results[split] = {
            "task": MULTI_LABEL.name,
            **{k: m.get(k) for k in MULTILABEL_KEYS},
            "per_class": m["per_class"],
            "labels_per_text": m["labels_per_text"],
            "intervals": intervals,
            "calibration": _pooled_calibration(probs, y),
            "curves": {
                labels[k]: _binary_curve(y[:, k] == 1, probs[:, k])
                for k in by_support[:10]
                if 0 < support[k] < len(y)
            },
            "predicted_share": dict(zip(labels, pred.mean(axis=0).tolist(), strict=True)),
        }
        errors[split] = _multilabel_errors(frame, probs, y, pred, labels)
    return results, errors


def _thresholds(run_dir: Path) -> dict[str, Any] | None:
    """thresholds.json (tuned per-label thresholds vs the default cut), with its per-label
    rows of both splits joined into one table, most frequent labels (on validation) first."""
    raw = _read_json(run_dir / "thresholds.json")
    if not raw:
        return None
    splits = [s for s in ("validation", "test") if s in raw]
    rows: dict[str, dict[str, Any]] = {}
    for split in splits:
        for r in raw[split].get("per_label", []):
            row = rows.setdefault(r["label"], {"label": r["label"], "threshold": r["threshold"]})
            row[split] = {k: r[k] for k in ("support", "f1_default", "f1_tuned")}
    first = splits[0] if splits else None
    order = sorted(
        rows.values(), key=lambda r: (-(r.get(first) or {}).get("support", 0), r["label"])
    )
    default = raw.get("default", 0.5)
    return {
        "config": raw.get("config", {}),
        "default": default,
        "summary": {s: {"default": raw[s]["default"], "tuned": raw[s]["tuned"]} for s in splits},
        "per_label": order,
        "moved": sum(1 for r in order if abs(r["threshold"] - default) > 1e-9),
    }


def _model_section(run_dir: Path, env: dict, monitor: dict, cfg: dict) -> dict[str, Any]:
    hf = _read_json(run_dir / "model" / "config.json") or {}
    mc = cfg["model"]
    kind = mc.get("architecture", "transformer")
    arch = (hf.get("architectures") or ["?"])[0]
    params = monitor.get("parameters", {})
    out = {
        "kind": kind,
        "architecture": arch,
        "model_type": hf.get("model_type"),
        "base_model": mc["name"],
        "layers": hf.get("num_hidden_layers") or hf.get("n_layers"),
        "hidden_size": hf.get("hidden_size") or hf.get("dim"),
        "parameters": params.get("total"),
        "trainable_parameters": params.get("trainable"),
        "max_length": mc["max_length"],
        "device": env.get("device"),
        "precision": env.get("precision"),
        "freeze": mc.get("freeze", "none"),
        "long_texts": _long_texts(mc),
        "schedule": _schedule(cfg["train"]),
    }
    if kind == "bilstm":
        b, tok = mc.get("bilstm", {}), mc.get("tokenizer", {})
        out |= {
            "summary": f"BiLSTM trained from scratch ({arch})",
            "base_model": (
                f"none: a {tok.get('kind', '?')} tokenizer ({_fmt(tok.get('vocab_size'))} "
                f"entries) learned from the training texts; {b.get('embedding_dim')}-d "
                f"{b.get('embeddings', 'random')} embeddings"
                + (" (frozen)" if b.get("freeze_embeddings") else "")
            ),
            "layers": b.get("num_layers", out["layers"]),
            "hidden_size": f"{b.get('hidden_size')} per direction",
            "pooling": "attention pooling over the BiLSTM states, then a linear layer",
        }
        return out
    pooling = {
        "bert": "[CLS] token through the pooler (dense + tanh), then a linear layer",
        "distilbert": "first token ([CLS]) through pre_classifier (dense + ReLU), then a linear layer",
        "deberta-v2": "[CLS] token through a context pooler, then a linear layer",
        "roberta": "<s> token through a dense + tanh head, then a linear layer",
    }.get(hf.get("model_type", ""), "the architecture's own classification head")
    pretrained = "pretrained, fine-tuned" if mc.get("pretrained", True) else "random weights"
    out |= {"summary": f"Transformer encoder `{mc['name']}` ({arch}, {pretrained})"}
    out["pooling"] = pooling
    return out


def _long_texts(mc: dict[str, Any]) -> str:
    w = mc.get("window") or {}
    if not w.get("enabled"):
        return f"truncated to the first {mc['max_length']} tokens"
    return (
        f"sliding windows of {mc['max_length']} tokens sharing {w.get('stride')} tokens, at "
        f"most {w.get('max_windows')} per text, logits aggregated by {w.get('aggregate')}"
        + (f"; training on {w['train']} windows" if w.get("train") else "")
    )


def _schedule(tc: dict[str, Any]) -> list[str]:
    """Learning-rate and unfreezing strategies beyond one lr for every parameter."""
    out = []
    if tc.get("layer_lr_decay"):
        out.append(
            f"layer-wise lr decay {tc['layer_lr_decay']:g} (each layer down gets that factor "
            "of the one above)"
        )
    if tc.get("unfreeze_layers_per_epoch"):
        out.append(
            f"gradual unfreezing: head first, then {tc['unfreeze_layers_per_epoch']} encoder "
            "layer(s) more per epoch, top first"
        )
    return out


LOSS_NAMES = {"cross_entropy": "cross-entropy", "bce": "binary cross-entropy per label (sigmoid)"}


def _objective(cfg: dict[str, Any], diag: dict[str, Any], task: str) -> dict[str, Any]:
    """The training objective as run: diagnostics.json's `loss` record where present (what the
    loop built), else the config's `train.loss`."""
    recorded = diag.get("loss") or {}
    lc = cfg["train"].get("loss") or {}
    multi = task == MULTI_LABEL
    name = recorded.get("name") or lc.get("name", "auto")
    if name == "auto":
        name = "bce" if multi else "cross_entropy"
    if "params" in recorded:
        params = dict(recorded["params"] or {})
    else:
        params = {}
        if name == "focal":
            params = {"gamma": lc.get("gamma", 2.0), "alpha": lc.get("alpha")}
        elif name == "cross_entropy":
            params = {"label_smoothing": lc.get("label_smoothing", 0.0)}
    params = {k: v for k, v in params.items() if v not in (None, 0, 0.0)}
    weights = recorded["weights"] if "weights" in recorded else diag.get("class_weights")
    setting = lc.get("pos_weight", "none") if multi else cfg["train"].get("class_weights", "none")
    siamese = recorded.get("siamese")
    if "siamese" not in recorded:
        sc = cfg["train"].get("siamese") or {}
        siamese = {k: v for k, v in sc.items() if k != "enabled"} if sc.get("enabled") else None
    kind = "pos_weight" if multi else "class weights"
    if name == "focal":
        parts = ["sigmoid focal loss per label" if multi else "softmax focal loss"]
    else:
        parts = [LOSS_NAMES.get(name, name)]
    if params:
        shown = ", ".join(f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in params.items())
        parts[0] += f" ({shown})"
    if weights:
        parts.append(
            f"{kind} ({_fmt(setting) if isinstance(setting, str) else 'given'}): "
            + _fmt_weights(weights)
        )
    else:
        parts.append(f"no {kind}")
    if siamese:
        parts.append(
            "Siamese training: twin shared-weight encoders over "
            f"{siamese.get('pairs_per_example')} sampled partner(s) per text (half of the same "
            f"class), loss = {_fmt(siamese.get('alpha'))} x contrastive (cosine-distance margin "
            f"{_fmt(siamese.get('margin'))}) + {_fmt(siamese.get('beta'))} x classification loss"
        )
    return {
        "name": name,
        "task": task,
        "params": params,
        "weights": weights,
        "weights_kind": kind,
        "weights_setting": setting,
        "siamese": siamese,
        "text": (text := "; ".join(parts))[0].upper() + text[1:] + ".",
    }


def _fmt_weights(weights: dict[str, float], top: int = 6) -> str:
    items = list(weights.items())
    shown = ", ".join(f"{k} {v:.3g}" for k, v in items[:top])
    if len(items) <= top:
        return shown
    values = list(weights.values())
    return f"{shown}, ... ({len(items)} labels, {min(values):.3g} to {max(values):.3g})"


def _observations(
    history: list[dict],
    monitor: dict,
    results: dict,
    cfg: dict,
    thresholds: dict[str, Any] | None = None,
) -> list[str]:
    """Statements derived by rules from the numbers, each with its numbers."""
    out = []
    metric = cfg["train"]["metric"]
    if history:
        key = f"val_{metric}" if f"val_{metric}" in history[0] else "val_loss"
        values = [h[key] for h in history]
        lower = metric in ("loss", "log_loss")
        best_i = int(np.argmin(values) if lower else np.argmax(values))
        first, last = history[0]["train_loss"], history[-1]["train_loss"]
        out.append(
            f"Convergence: training loss went from {first:.4f} (first evaluation) to "
            f"{last:.4f} (last); validation {metric} was best at epoch "
            f"{history[best_i]['epoch']:g} (step {history[best_i]['step']}): {values[best_i]:.4f}."
        )
        if len(values) >= 3:
            recent = abs(values[-1] - values[-2])
            if best_i == len(values) - 1 and recent > 0.01:
                out.append(
                    f"Still improving at the end (validation {metric} +{recent:.3f} in the last "
                    f"evaluation): more epochs may help (train.epochs={cfg['train']['epochs'] + 1:g})."
                )
            elif best_i < len(values) - 1:
                out.append(
                    f"Plateau: no better validation {metric} after epoch {history[best_i]['epoch']:g} "
                    f"({len(values) - 1 - best_i} later evaluation(s))."
                )
        gap = history[-1]["val_loss"] - history[-1]["train_loss"]
        out.append(
            f"Generalisation gap at the end: validation loss {history[-1]['val_loss']:.4f} vs "
            f"training loss {history[-1]['train_loss']:.4f} (gap {gap:+.4f})."
        )
    steps = monitor.get("steps", {})
    losses = np.array([v for v in steps.get("loss", []) if v is not None], dtype=float)
    grads = np.array([v for v in steps.get("grad_norm", []) if v is not None], dtype=float)
    if len(losses) >= 10:
        window = max(5, len(losses) // 20)
        med = pd.Series(losses).rolling(window, min_periods=1).median().shift(1).bfill().to_numpy()
        spikes = int((losses > 2.5 * np.maximum(med, 1e-6)).sum())
        clip = cfg["train"].get("max_grad_norm")
        clipped = (
            f"; {np.mean(grads > clip):.0%} of steps clipped at {clip}"
            if clip and len(grads)
            else ""
        )
        out.append(
            f"Stability: {spikes} loss spike(s) (a step above 2.5x the running median), "
            f"{monitor.get('nonfinite_losses', 0)} non-finite loss(es); gradient norm median "
            f"{np.median(grads):.3g}, max {grads.max():.3g}{clipped}."
            if len(grads)
            else f"Stability: {spikes} loss spike(s)."
        )
    if "test" in results and results["test"].get("task") == MULTI_LABEL:
        out += _multilabel_observations(results["test"], thresholds)
    elif "test" in results:
        per = results["test"]["per_class"]
        f1s = sorted(((v["f1"], k) for k, v in per.items()))
        if len(f1s) >= 2:
            out.append(
                f"Class-wise: test F1 ranges from {f1s[0][0]:.3f} (`{f1s[0][1]}`) to "
                f"{f1s[-1][0]:.3f} (`{f1s[-1][1]}`)."
            )
        cal = results["test"]["calibration"]["ece"]
        out.append(
            f"Calibration: expected calibration error {cal:.3f} on test "
            + (
                "(well calibrated)."
                if cal < 0.05
                else "(probabilities are over- or under-confident; see the reliability diagram)."
            )
        )
    return out


def _multilabel_observations(test: dict[str, Any], thresholds: dict | None) -> list[str]:
    out = []
    lpt = test["labels_per_text"]
    out.append(
        f"Label sets: {lpt['predicted']:.2f} labels predicted per test text on average vs "
        f"{lpt['gold']:.2f} gold; {test['subset_accuracy']:.1%} of texts get exactly their "
        f"label set; Hamming loss {test['hamming_loss']:.4f}."
    )
    f1s = sorted((v["f1"], k) for k, v in test["per_class"].items() if v["support"] > 0)
    if len(f1s) >= 2:
        zero = sum(1 for f, _ in f1s if f == 0)
        out.append(
            f"Label-wise: test F1 ranges from {f1s[0][0]:.3f} (`{f1s[0][1]}`) to "
            f"{f1s[-1][0]:.3f} (`{f1s[-1][1]}`) over the {len(f1s)} labels present in test"
            + (f"; {zero} of them at F1 0." if zero else ".")
        )
    if thresholds and "test" in thresholds["summary"]:
        t = thresholds["summary"]["test"]
        out.append(
            f"Thresholds: the per-label thresholds tuned on validation move test micro-F1 from "
            f"{t['default']['f1_micro']:.4f} (cut {thresholds['default']:g}) to "
            f"{t['tuned']['f1_micro']:.4f} and macro-F1 from {t['default']['f1_macro']:.4f} to "
            f"{t['tuned']['f1_macro']:.4f}."
        )
    cal = test["calibration"]["ece"]
    out.append(
        f"Calibration: expected calibration error {cal:.3f} over every (text, label) "
        "probability on test "
        + ("(well calibrated)." if cal < 0.05 else "(see the reliability diagram).")
    )
    return out


def build_report(run_dir: str | Path) -> dict[str, Any]:
    """Everything the report shows, as JSON-serialisable data."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise TextclassError(f"{run_dir} is not a run directory (no config.yaml).")
    cfg = yaml.safe_load(cfg_path.read_text())
    env = _read_json(run_dir / "environment.json") or {}
    data = _read_json(run_dir / "data.json") or {}
    state = _read_json(run_dir / "history.json") or {}
    diag = _read_json(run_dir / "diagnostics.json") or {}
    metrics = _read_json(run_dir / "metrics.json")
    meta = _read_json(run_dir / "model" / "textclass.json") or {}
    if metrics is None or not meta:
        raise TextclassError(
            f"{run_dir}: no metrics.json or model/ yet; the run has not finished "
            f"(resume it with `textclass train --resume {run_dir}`)."
        )
    labels = meta["labels"]
    task = meta.get("task") or metrics.get("test", {}).get("task") or "single_label"
    monitor = diag.get("monitor", {})
    history = state.get("history", [])
    measure = _multilabel_results if task == MULTI_LABEL else _results
    results, errors = measure(run_dir, metrics, labels, cfg.get("seed", 0))
    thresholds = _thresholds(run_dir) if task == MULTI_LABEL else None
    objective = _objective(cfg, diag, task)
    findings = diagnose(
        monitor,
        history,
        metrics,
        diag.get("integrity", {}),
        data,
        cfg["train"].get("class_weights", "none"),
        loss=diag.get("loss"),
    )
    counts = data.get("class_counts", {}).get("train", {})
    last = history[-1] if history else {}
    return {
        "title": f"Training report: {cfg.get('name') or run_dir.name}",
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "run_dir": str(run_dir),
        "task": task,
        "labels": labels,
        "model": _model_section(run_dir, env, monitor, cfg),
        "objective": objective,
        "configuration": {
            "train": cfg["train"],
            "model": cfg["model"],
            "seed": cfg.get("seed"),
            "data_sha256": env.get("data_sha256", {}),
            "versions": env.get("versions", {}),
            "hardware": env.get("hardware", {}),
            "loss": objective["text"],
        },
        "data": {
            **data,
            "imbalance_ratio": (max(counts.values()) / max(min(counts.values()), 1))
            if counts
            else None,
        },
        "training": {
            "history": history,
            "steps": monitor.get("steps", {}),
            "total_steps": state.get("total_steps"),
            "steps_done": state.get("global_step"),
            "train_seconds": state.get("train_seconds"),
            "samples_per_second": last.get("samples_per_second"),
            "data_wait_fraction": last.get("data_wait_fraction"),
            "speed_settings": state.get("extras", {}).get("speed"),
            "selected_step": state.get("best_step"),
            "selection": f"highest validation {cfg['train']['metric']}"
            if cfg["train"]["metric"] not in ("loss", "log_loss")
            else f"lowest validation {cfg['train']['metric']}",
            "best_value": state.get("best_metric"),
            "stopped_early": state.get("stopped_early", False),
            "patience": cfg["train"]["early_stopping"]["patience"],
            "resumed_at_step": monitor.get("resumed_at_step"),
        },
        "results": results,
        "thresholds": thresholds,
        "errors": errors,
        "observations": _observations(history, monitor, results, cfg, thresholds),
        "diagnosis": [f.to_dict() for f in findings],
        "integrity": diag.get("integrity", {}),
    }


# ---------------------------------------------------------------- figures


def _figures(report: dict[str, Any]) -> dict[str, tuple[bytes, str]]:
    """PNG bytes and caption per figure name."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    figures: dict[str, tuple[bytes, str]] = {}

    def save(fig, name: str, caption: str) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        figures[name] = (buf.getvalue(), caption)

    history = report["training"]["history"]
    steps = report["training"]["steps"]
    if history:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        if steps.get("step"):
            loss = np.array([np.nan if v is None else v for v in steps["loss"]], dtype=float)
            axes[0].plot(steps["step"], loss, color="#bbb", lw=0.8, label="train (per step)")
        axes[0].plot(
            [h["step"] for h in history],
            [h["train_loss"] for h in history],
            "o-",
            label="train (mean)",
        )
        axes[0].plot(
            [h["step"] for h in history], [h["val_loss"] for h in history], "s-", label="validation"
        )
        axes[0].set(title="Loss", xlabel="step")
        axes[0].legend()
        for key in [k for k in ("val_accuracy", "val_f1_macro", "val_f1_micro") if k in history[0]]:
            axes[1].plot(
                [h["step"] for h in history], [h[key] for h in history], "o-", label=key[4:]
            )
        sel = report["training"]["selected_step"]
        if sel is not None:
            axes[1].axvline(sel, color="green", ls="--", lw=1, label=f"selected (step {sel})")
        axes[1].set(title="Validation metrics", xlabel="step")
        axes[1].legend()
        if steps.get("lr"):
            axes[2].plot(steps["step"], steps["lr"])
        axes[2].set(title="Learning rate", xlabel="step")
        save(fig, "training_curves", "Loss, validation metrics and learning rate over training")

    labels = report["labels"]
    for split, res in report["results"].items():
        if "confusion_matrix" not in res:  # multi-label: the curves and thresholds only
            if split == "test":
                _curves_figure(plt, save, res)
            continue
        cm = np.array(res["confusion_matrix"])
        size = min(12, 2.5 + 0.45 * len(labels))
        fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        for ax, matrix, title, fmt in (
            (axes[0], cm, "counts", "d"),
            (axes[1], norm, "row-normalised", ".2f"),
        ):
            ax.imshow(matrix, cmap="Blues")
            ax.set(
                title=f"Confusion matrix ({title})",
                xlabel="predicted",
                ylabel="gold",
                xticks=range(len(labels)),
                yticks=range(len(labels)),
            )
            ax.set_xticklabels(labels, rotation=45, ha="right")
            ax.set_yticklabels(labels)
            if len(labels) <= 15:
                for (i, j), v in np.ndenumerate(matrix):
                    ax.text(
                        j,
                        i,
                        format(v, fmt),
                        ha="center",
                        va="center",
                        color="white" if v > matrix.max() / 2 else "black",
                        fontsize=8,
                    )
        save(fig, f"confusion_{split}", f"Confusion matrix on {split} ({res['n']} examples)")
        if split == "test":
            _curves_figure(plt, save, res)
    if report.get("thresholds"):
        _thresholds_figure(plt, save, report["thresholds"])
    return figures


def _curves_figure(plt, save, res: dict[str, Any]) -> None:
    """ROC and precision-recall per class (or label) and the reliability diagram."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for label, c in list(res["curves"].items())[:10]:
        axes[0].plot(c["fpr"], c["tpr"], label=f"{label} (AUC {c['auc']:.3f})")
        axes[1].plot(
            c["recall"], c["precision"], label=f"{label} (AP {c['average_precision']:.3f})"
        )
    axes[0].plot([0, 1], [0, 1], color="#999", ls=":")
    multi = res.get("task") == MULTI_LABEL
    axes[0].set(
        title="ROC (per label)" if multi else "ROC (one-vs-rest)",
        xlabel="false positive rate",
        ylabel="true positive rate",
    )
    axes[1].set(title="Precision-recall", xlabel="recall", ylabel="precision")
    for ax in axes[:2]:
        if res["curves"]:
            ax.legend(fontsize=7)
    bins = res["calibration"]["bins"]
    x, y = ("mean_probability", "positive_rate") if multi else ("confidence", "accuracy")
    axes[2].plot([0, 1], [0, 1], color="#999", ls=":")
    axes[2].bar([b[x] for b in bins], [b[y] for b in bins], width=0.05, alpha=0.7)
    axes[2].set(
        title=f"Reliability (ECE {res['calibration']['ece']:.3f})",
        xlabel="predicted probability (every text and label)" if multi else "confidence",
        ylabel="share of positives" if multi else "accuracy",
    )
    what = "the 10 most frequent labels" if multi else "each class"
    save(fig, "curves_test", f"ROC and precision-recall of {what}, and reliability, on test")


def _thresholds_figure(plt, save, thresholds: dict[str, Any]) -> None:
    """Per label: its threshold and test F1 at the default cut vs at its own."""
    rows = [r for r in thresholds["per_label"] if "test" in r][:30]
    if not rows:
        return
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.8 + 0.28 * len(rows)), sharey=True)
    pos = np.arange(len(rows))
    names = [r["label"] for r in rows]
    axes[0].barh(pos, [r["threshold"] for r in rows], color="#7a9cc6")
    axes[0].axvline(thresholds["default"], color="#999", ls=":", label="default")
    axes[0].set(title="Tuned threshold", xlim=(0, 1), yticks=pos)
    axes[0].set_yticklabels(names, fontsize=7)
    axes[0].invert_yaxis()
    axes[0].legend(fontsize=7)
    axes[1].barh(pos - 0.2, [r["test"]["f1_default"] for r in rows], 0.4, label="default cut")
    axes[1].barh(pos + 0.2, [r["test"]["f1_tuned"] for r in rows], 0.4, label="tuned")
    axes[1].set(title="Test F1 per label", xlim=(0, 1))
    axes[1].legend(fontsize=7)
    save(
        fig, "thresholds", "Per-label thresholds (tuned on validation) and their effect on test F1"
    )


# ---------------------------------------------------------------- rendering


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _ci(value: float, interval: list[float]) -> str:
    return f"{value:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]"


def _blocks(report: dict[str, Any]) -> list[tuple]:
    """The report as a list of blocks: ("h1"|"h2"|"h3"|"p", text), ("list", items),
    ("table", headers, rows), ("fig", name)."""
    b: list[tuple] = [
        ("h1", report["title"]),
        ("p", f"Run directory `{report['run_dir']}`, written {report['generated']}."),
    ]
    diag = report["diagnosis"]
    failures = [d for d in diag if d["severity"] == "fail"]
    test = report["results"].get("test")
    multi = report.get("task") == MULTI_LABEL
    if test:
        iv = test["intervals"]
        if multi:
            head = (
                f"Test micro-F1 **{_ci(test['f1_micro'], iv['f1_micro'])}**, macro-F1 "
                f"**{_ci(test['f1_macro'], iv['f1_macro'])}**, subset accuracy "
                f"**{_ci(test['subset_accuracy'], iv['subset_accuracy'])}** (95% bootstrap "
                f"intervals, n={test['n']})."
            )
        else:
            head = f"Test accuracy **{_ci(test['accuracy'], iv['accuracy'])}**, macro-F1 **{_ci(test['f1_macro'], iv['f1_macro'])}** (95% bootstrap intervals, n={test['n']})."
        b.append(
            (
                "p",
                head
                + (
                    f" **{len(failures)} failure(s) diagnosed: see Diagnosis.**"
                    if failures
                    else " No failure diagnosed."
                ),
            )
        )

    m = report["model"]
    b.append(("h2", "Model"))
    b.append(
        (
            "table",
            ["property", "value"],
            [
                ["architecture", m["summary"]],
                ["base model", m["base_model"]],
                ["layers / hidden size", f"{m['layers']} / {m['hidden_size']}"],
                [
                    "parameters (total / trainable)",
                    f"{_fmt(m['parameters'])} / {_fmt(m['trainable_parameters'])}",
                ],
                ["frozen", m["freeze"]],
                ["sequence length (max tokens)", m["max_length"]],
                ["longer texts", m["long_texts"]],
                ["pooling", m["pooling"]],
                *[["training schedule", x] for x in m["schedule"]],
                ["device / precision used", f"{m['device']} / {m['precision']}"],
            ],
        )
    )

    c = report["configuration"]
    b.append(("h2", "Configuration"))
    keys = [
        "epochs",
        "max_steps",
        "batch_size",
        "grad_accum_steps",
        "lr",
        "weight_decay",
        "warmup_ratio",
        "scheduler",
        "max_grad_norm",
        "precision",
        "group_by_length",
        "metric",
        "class_weights",
        "layer_lr_decay",
        "unfreeze_layers_per_epoch",
    ]
    rows = [[f"train.{k}", _fmt(c["train"].get(k))] for k in keys if k in c["train"]]
    rows.append(["train.early_stopping.patience", _fmt(c["train"]["early_stopping"]["patience"])])
    rows += [[f"model.{k}", _fmt(v)] for k, v in _model_keys(c["model"]).items()]
    rows.append(["seed", c["seed"]])
    b.append(("table", ["key", "value"], rows))
    b += _objective_blocks(report["objective"])
    b.append(
        ("table", ["data file", "SHA-256"], [[k, f"`{v}`"] for k, v in c["data_sha256"].items()])
    )
    b.append(
        ("p", "Library versions: " + ", ".join(f"{k} {v}" for k, v in c["versions"].items()) + ".")
    )

    d = report["data"]
    b.append(("h2", "Data"))
    splits = list(d.get("sizes", {}))
    labels = report["labels"]
    rows = []
    for label in labels[:60]:
        rows.append(
            [label]
            + [
                f"{d['class_counts'][s].get(label, 0):,} ({d['class_counts'][s].get(label, 0) / max(d['sizes'][s], 1):.1%})"
                for s in splits
            ]
        )
    rows.append(["**total**"] + [f"{d['sizes'][s]:,}" for s in splits])
    per_text = d.get("labels_per_text") or {}
    if multi and per_text:
        rows.append(["**labels per text (mean)**"] + [_fmt(per_text.get(s)) for s in splits])
    b.append(("table", ["label (texts carrying it)" if multi else "class", *splits], rows))
    if d.get("imbalance_ratio"):
        b.append(
            (
                "p",
                f"Imbalance ratio (largest / smallest {'label' if multi else 'class'} in training): {d['imbalance_ratio']:.2f}.",
            )
        )
    tokens = d.get("token_lengths", {})
    if tokens:
        b.append(
            (
                "table",
                [
                    "split",
                    "mean tokens",
                    "median",
                    "p90",
                    "p99",
                    "max",
                    f"at the {report['model']['max_length']}-token cap",
                ],
                [
                    [
                        s,
                        f"{t['mean']:.1f}",
                        t["p50"],
                        t["p90"],
                        t["p99"],
                        t["max"],
                        f"{t['at_cap']:,} ({t['at_cap_share']:.1%})",
                    ]
                    for s, t in tokens.items()
                ],
            )
        )
    b += _window_blocks(d.get("windows"), report["configuration"]["model"])
    clean = d.get("cleaning", {})
    if clean:
        b.append(
            (
                "table",
                [
                    "source",
                    "rows read",
                    "empty/short dropped",
                    "missing labels dropped",
                    "duplicates dropped",
                    "kept",
                ],
                [
                    [
                        s,
                        _fmt(v.get("rows")),
                        _fmt(v.get("empty_or_short_texts")),
                        _fmt(v.get("missing_labels")),
                        _fmt(v.get("duplicates")),
                        _fmt(v.get("kept")),
                    ]
                    for s, v in clean.items()
                ],
            )
        )
    settings = d.get("cleaning_settings")
    if settings:
        on = [k for k, v in settings.items() if v is True and k != "enabled"]
        b.append(
            (
                "p",
                f"Cleaning {'on' if settings.get('enabled') else 'off'}: {', '.join(on)}; minimum length {settings.get('min_length')} characters.",
            )
        )
    overlap = d.get("cross_split_duplicates", {})
    b.append(
        (
            "p",
            "Texts of validation/test also found in training: "
            + ", ".join(f"{k} {v}" for k, v in overlap.items())
            + ".",
        )
    )

    t = report["training"]
    b.append(("h2", "Training progress"))
    shown = [("val_accuracy", "val accuracy"), ("val_f1_macro", "val macro-F1")]
    if multi:
        shown = [
            ("val_accuracy", "val subset accuracy"),
            ("val_f1_micro", "val micro-F1"),
            ("val_f1_macro", "val macro-F1"),
        ]
    b.append(
        (
            "table",
            [
                "epoch",
                "step",
                "train loss",
                "val loss",
                *[name for _, name in shown],
                "learning rate",
                "samples/s",
                "",
            ],
            [
                [
                    f"{h['epoch']:g}",
                    h["step"],
                    f"{h['train_loss']:.4f}",
                    f"{h['val_loss']:.4f}",
                    *[_fmt4(h.get(key)) for key, _ in shown],
                    f"{h['lr']:.2e}",
                    f"{h['samples_per_second']:.1f}",
                    "best" if h.get("is_best") else "",
                ]
                for h in t["history"]
            ],
        )
    )
    b.append(("fig", "training_curves"))
    stop = (
        f"early stopping fired (patience {t['patience']})"
        if t["stopped_early"]
        else ("early stopping did not fire" if t["patience"] else "early stopping off")
    )
    resumed = (
        f" Resumed after an interruption at step {t['resumed_at_step']}."
        if t.get("resumed_at_step")
        else ""
    )
    wait = t.get("data_wait_fraction")
    waited = f" {wait:.1%} of that time was spent waiting for batches." if wait is not None else ""
    b.append(
        (
            "p",
            f"{t['steps_done']} of {t['total_steps']} optimizer steps in {t['train_seconds']:.0f} s of training "
            f"({_fmt(t['samples_per_second'])} samples/s); {stop}. Selected checkpoint: step {t['selected_step']} "
            f"({t['selection']}: {_fmt(t['best_value'])}).{resumed}{waited}",
        )
    )

    b.append(("h2", "Results"))
    b += _multilabel_result_blocks(report) if multi else _result_blocks(report)
    if multi:
        b += _threshold_blocks(report.get("thresholds"), report["configuration"])
    b.append(("h2", "Error analysis (test)"))
    e = report["errors"].get("test")
    if e and multi:
        b += _multilabel_error_blocks(e)
    elif e:
        b.append(("h3", "Most confident mistakes"))
        b.append(_examples_table(e["confident_mistakes"], "confidence"))
        b.append(("h3", "Most confused pairs"))
        b.append(
            (
                "table",
                ["gold", "predicted as", "count"],
                [[p["gold"], p["predicted"], p["count"]] for p in e["confused_pairs"]],
            )
        )
        b.append(("h3", "False positives and false negatives per class"))
        b.append(
            (
                "table",
                ["class", "false positives", "false negatives"],
                [
                    [k, v["false_positives"], v["false_negatives"]]
                    for k, v in e["per_class"].items()
                ][:60],
            )
        )
        b.append(("h3", "Ambiguous cases (smallest margin between the top two classes)"))
        b.append(_examples_table(e["ambiguous"], "margin"))
        b.append(("h3", "Accuracy by text length"))
        b.append(
            (
                "table",
                ["words", "examples", "accuracy"],
                [[x["words"], x["n"], f"{x['accuracy']:.4f}"] for x in e["by_length"]],
            )
        )

    b.append(("h2", "Observations"))
    b.append(("list", report["observations"]))
    b.append(("h2", "Diagnosis and recommendations"))
    if diag:
        for f in diag:
            b.append(("h3", f"{f['severity'].upper()}: {f['title']}"))
            items = [f"Evidence: {f['evidence']}."]
            if f["causes"]:
                items.append(
                    "Likely causes, most likely first: "
                    + "; ".join(f"({i}) {c}" for i, c in enumerate(f["causes"], 1))
                    + "."
                )
            items.append(f"Recommendation: {f['recommendation']}")
            b.append(("list", items))
    else:
        checks = "collapse to one class (multi-label: to no label, every label or one label set), no learning (loss, learning rate, frozen or missing parameters, gradients, NaN), batch label mix, evaluation integrity, overfitting, class-wise weakness"
        b.append(("p", f"No problem found. Checked: {checks}."))
    return b


def _result_blocks(report: dict[str, Any]) -> list[tuple]:
    b: list[tuple] = []
    labels = report["labels"]
    for split, r in report["results"].items():
        iv = r["intervals"]
        b.append(("h3", f"{split.capitalize()} ({r['n']:,} examples)"))
        b.append(
            (
                "table",
                ["metric", "value [95% CI]"],
                [
                    ["accuracy", _ci(r["accuracy"], iv["accuracy"])],
                    ["macro precision", _ci(r["precision_macro"], iv["precision_macro"])],
                    ["macro recall", _ci(r["recall_macro"], iv["recall_macro"])],
                    ["macro F1", _ci(r["f1_macro"], iv["f1_macro"])],
                    ["weighted F1", _ci(r["f1_weighted"], iv["f1_weighted"])],
                    ["log loss", _fmt(r["log_loss"])],
                    [
                        "ROC-AUC" + (" (one-vs-rest macro)" if len(labels) > 2 else ""),
                        _fmt(r["roc_auc"]),
                    ],
                    ["expected calibration error", f"{r['calibration']['ece']:.4f}"],
                ],
            )
        )
        b.append(
            (
                "table",
                [
                    "class",
                    "precision [95% CI]",
                    "recall [95% CI]",
                    "F1 [95% CI]",
                    "support",
                    "predicted share",
                ],
                [
                    [
                        k,
                        _ci(v["precision"], iv["per_class"][k]["precision"]),
                        _ci(v["recall"], iv["per_class"][k]["recall"]),
                        _ci(v["f1"], iv["per_class"][k]["f1"]),
                        v["support"],
                        f"{r['predicted_share'][k]:.1%}",
                    ]
                    for k, v in r["per_class"].items()
                ][:60],
            )
        )
        if len(labels) <= 20:
            cm = r["confusion_matrix"]
            b.append(
                (
                    "table",
                    ["gold \\ predicted", *labels],
                    [[labels[i]] + [str(x) for x in row] for i, row in enumerate(cm)],
                )
            )
        b.append(("fig", f"confusion_{split}"))
        if split == "test":
            b.append(("fig", "curves_test"))
    return b


def _fmt4(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _ci_or_value(value: Any, interval: list[float] | None) -> str:
    return _ci(value, interval) if interval and value is not None else _fmt4(value)


def _model_keys(model: dict[str, Any]) -> dict[str, Any]:
    """model.* settings that apply to this run's architecture (flattened)."""
    flat = _flatten(model)
    bilstm = model.get("architecture") == "bilstm"
    windows = (model.get("window") or {}).get("enabled")

    def applies(key: str) -> bool:
        if key.startswith(("bilstm.", "tokenizer.")):
            return bilstm
        if key.startswith("window.") and key != "window.enabled":
            return bool(windows)
        return not (bilstm and key in ("name", "pretrained", "num_layers", "attention_dropout"))

    return {k: v for k, v in flat.items() if applies(k)}


def _objective_blocks(objective: dict[str, Any]) -> list[tuple]:
    b: list[tuple] = [("h3", "Training objective"), ("p", objective["text"])]
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


def _window_blocks(windows: dict[str, Any] | None, model: dict[str, Any]) -> list[tuple]:
    """How many texts did not fit one window and were split (data.json `windows`)."""
    w = model.get("window") or {}
    if not windows and not w.get("enabled"):
        return []
    b: list[tuple] = [("h3", "Long texts (sliding windows)")]
    if not windows:
        return [*b, ("p", "model.window.enabled is set, but data.json records no window counts.")]
    b.append(
        (
            "p",
            f"Texts longer than one window of {model.get('max_length')} tokens were split into "
            f"windows sharing {w.get('stride')} tokens, their logits aggregated by "
            f"{w.get('aggregate')}; texts that needed more than {w.get('max_windows')} windows "
            "were truncated after the last one. "
            + "; ".join(
                f"{s}: {v['longer_than_window']:,} of {v['texts']:,} texts "
                f"({v['longer_than_window'] / max(v['texts'], 1):.1%}) split, "
                f"{v['truncated']:,} truncated"
                for s, v in windows.items()
            )
            + ".",
        )
    )
    b.append(
        (
            "table",
            ["split", "texts", "longer than one window (split)", "windows", "truncated"],
            [
                [
                    s,
                    _fmt(v["texts"]),
                    _fmt(v["longer_than_window"]),
                    _fmt(v["windows"]),
                    _fmt(v["truncated"]),
                ]
                for s, v in windows.items()
            ],
        )
    )
    return b


def _multilabel_result_blocks(report: dict[str, Any]) -> list[tuple]:
    b: list[tuple] = []
    for split, r in report["results"].items():
        iv = r["intervals"]
        lpt = r["labels_per_text"]
        b.append(("h3", f"{split.capitalize()} ({r['n']:,} texts)"))
        b.append(
            (
                "table",
                ["metric", "value [95% CI]"],
                [
                    [name, _ci_or_value(r[key], iv.get(key))]
                    for name, key in (
                        ("micro-F1", "f1_micro"),
                        ("micro precision", "precision_micro"),
                        ("micro recall", "recall_micro"),
                        ("macro-F1", "f1_macro"),
                        ("macro precision", "precision_macro"),
                        ("macro recall", "recall_macro"),
                        ("samples-F1 (mean per text)", "f1_samples"),
                        ("weighted F1", "f1_weighted"),
                        ("subset accuracy (exact label set)", "subset_accuracy"),
                        ("Hamming loss (wrong label decisions)", "hamming_loss"),
                        ("ROC-AUC (macro over labels)", "roc_auc"),
                        ("log loss (mean binary)", "log_loss"),
                    )
                ]
                + [
                    [
                        "labels per text (predicted / gold)",
                        f"{lpt['predicted']:.2f} / {lpt['gold']:.2f}",
                    ],
                    ["expected calibration error (pooled)", f"{r['calibration']['ece']:.4f}"],
                ],
            )
        )
        per = r["per_class"]
        order = sorted(per, key=lambda k: (-per[k]["support"], k))
        b.append(
            (
                "table",
                [
                    "label",
                    "precision [95% CI]",
                    "recall [95% CI]",
                    "F1 [95% CI]",
                    "support",
                    "predicted share",
                    "ROC-AUC",
                    "threshold",
                ],
                [
                    [
                        k,
                        _ci(per[k]["precision"], iv["per_class"][k]["precision"]),
                        _ci(per[k]["recall"], iv["per_class"][k]["recall"]),
                        _ci(per[k]["f1"], iv["per_class"][k]["f1"]),
                        per[k]["support"],
                        f"{r['predicted_share'][k]:.1%}",
                        _fmt4(per[k].get("roc_auc")),
                        f"{per[k].get('threshold', 0.5):.3f}",
                    ]
                    for k in order[:60]
                ],
            )
        )
        if len(order) > 60:
            b.append(("p", f"The 60 most frequent of {len(order)} labels shown."))
        if split == "test":
            b.append(("fig", "curves_test"))
    return b


def _threshold_blocks(thr: dict[str, Any] | None, configuration: dict[str, Any]) -> list[tuple]:
    b: list[tuple] = [("h2", "Decision thresholds")]
    if not thr:
        return [*b, ("p", "No thresholds.json in the run directory: every label used a 0.5 cut.")]
    cfg, default = thr["config"], thr["default"]
    if not cfg.get("tune", True):
        b.append(
            (
                "p",
                f"Thresholds not tuned (eval.thresholds.tune=false): every label uses {default:g}.",
            )
        )
    else:
        b.append(
            (
                "p",
                f"Each label's threshold was tuned on the validation split to maximise its "
                f"{cfg.get('metric', 'f1')}; labels with fewer than {cfg.get('min_support', 1)} "
                f"validation positives keep {default:g}. {thr['moved']} of "
                f"{len(thr['per_label'])} labels moved from {default:g}. Validation scores the "
                "thresholds on the data they were tuned on; test shows whether the gain carries "
                "over.",
            )
        )
    summary = thr["summary"]
    splits = list(summary)
    names = (
        ("micro-F1", "f1_micro"),
        ("macro-F1", "f1_macro"),
        ("samples-F1", "f1_samples"),
        ("subset accuracy", "subset_accuracy"),
        ("Hamming loss (lower is better)", "hamming_loss"),
    )
    headers = ["metric"]
    for s in splits:
        headers += [f"{s} at {default:g}", f"{s} tuned", f"{s} change"]
    rows = []
    for name, key in names:
        row = [name]
        for s in splits:
            a, t = summary[s]["default"].get(key), summary[s]["tuned"].get(key)
            row += [_fmt4(a), _fmt4(t), "n/a" if a is None or t is None else f"{t - a:+.4f}"]
        rows.append(row)
    b.append(("table", headers, rows))
    headers = ["label", "threshold"]
    for s in splits:
        headers += [f"{s} support", f"{s} F1 at {default:g}", f"{s} F1 tuned"]
    rows = []
    for r in thr["per_label"][:60]:
        row = [r["label"], f"{r['threshold']:.3f}"]
        for s in splits:
            v = r.get(s) or {}
            row += [_fmt(v.get("support")), _fmt4(v.get("f1_default")), _fmt4(v.get("f1_tuned"))]
        rows.append(row)
    b.append(("table", headers, rows))
    if len(thr["per_label"]) > 60:
        b.append(("p", f"The 60 most frequent of {len(thr['per_label'])} labels shown."))
    b.append(("fig", "thresholds"))
    return b


def _multilabel_error_blocks(e: dict[str, Any]) -> list[tuple]:
    s = e["summary"]
    b: list[tuple] = [
        (
            "p",
            f"Of {s['texts']:,} test texts, {s['exact']:,} got exactly their label set, "
            f"{s['with_missed']:,} miss at least one gold label, {s['with_extra']:,} got at "
            f"least one extra label, and {s['no_label_predicted']:,} got no label at all.",
        ),
    ]
    for kind in ("missed", "extra"):
        b += [
            ("h3", f"Texts with the most {kind} labels"),
            (
                "table",
                ["text", "gold", "predicted", kind],
                [
                    [_short(x["text"])] + [_short(x[k], 100) for k in ("gold", "predicted", kind)]
                    for x in e[f"most_{kind}"]
                ],
            ),
        ]
    b += [
        ("h3", "Most confident wrong label decisions"),
        (
            "table",
            ["text", "label", "error", "probability"],
            [
                [_short(x["text"]), x["label"], x["kind"], f"{x['probability']:.3f}"]
                for x in e["confident_mistakes"]
            ],
        ),
        ("h3", "Gold labels missed while another label was predicted"),
        (
            "table",
            ["missed gold label", "predicted instead", "texts"],
            [[p["gold"], p["predicted"], p["count"]] for p in e["confused_pairs"]],
        ),
    ]
    per = e["per_class"]
    order = sorted(
        (k for k, v in per.items() if any(v.values())),
        key=lambda k: (-(per[k]["false_positives"] + per[k]["false_negatives"]), k),
    )
    b += [
        ("h3", "True positives, false positives and false negatives per label"),
        (
            "table",
            ["label", "true positives", "false positives (extra)", "false negatives (missed)"],
            [
                [k, per[k]["true_positives"], per[k]["false_positives"], per[k]["false_negatives"]]
                for k in order[:60]
            ],
        ),
        ("h3", "Exact matches by text length"),
        (
            "table",
            ["words", "texts", "subset accuracy", "samples-F1"],
            [
                [x["words"], x["n"], f"{x['accuracy']:.4f}", f"{x['f1_samples']:.4f}"]
                for x in e["by_length"]
            ],
        ),
    ]
    return b


def _examples_table(rows: list[dict[str, Any]], score: str) -> tuple:
    return (
        "table",
        ["text", "gold", "predicted", score],
        [[_short(x["text"]), x["gold"], x["predicted"], f"{x[score]:.3f}"] for x in rows],
    )


def _short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def render_markdown(blocks: list[tuple], figure_dir: str, captions: dict[str, str]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "list":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            headers, rows = block[1], block[2]
            if not rows:
                continue
            cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
            lines.append("| " + " | ".join(map(cell, headers)) + " |")
            lines.append("|" + "---|" * len(headers))
            lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
            lines.append("")
        elif kind == "fig" and block[1] in captions:
            lines += [f"![{captions[block[1]]}]({figure_dir}/{block[1]}.png)", ""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    """Escape, then the two Markdown inline forms the blocks use: **bold** and `code`."""
    import re

    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def render_html(blocks: list[tuple], figures: dict[str, tuple[bytes, str]]) -> str:
    parts = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{_inline(block[1])}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table" and block[2]:
            head = "".join(f"<th>{_inline(str(h))}</th>" for h in block[1])
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline(str(v))}</td>" for v in row) + "</tr>"
                for row in block[2]
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "fig" and block[1] in figures:
            png, caption = figures[block[1]]
            data = base64.b64encode(png).decode("ascii")
            parts.append(
                f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption></figure>'
            )
    title = html.escape(blocks[0][1]) if blocks else "report"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.5 system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.8em 0; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }} code {{ background: #f3f3f3; padding: 0 3px; }}
img {{ max-width: 100%; }} figcaption {{ color: #666; font-size: 12px; }}
h2 {{ border-bottom: 1px solid #ddd; margin-top: 1.6em; }}
</style></head><body>
{chr(10).join(parts)}
</body></html>
"""


def write_report(run_dir: str | Path) -> dict[str, Path]:
    """Build the report of a finished run and write report.json, report.md and report.html."""
    run_dir = Path(run_dir)
    report = build_report(run_dir)
    figures = _figures(report)
    fig_dir = run_dir / FIGURES_DIR
    fig_dir.mkdir(exist_ok=True)
    for name, (png, _) in figures.items():
        (fig_dir / f"{name}.png").write_bytes(png)
    blocks = _blocks(report)
    paths = {
        "json": run_dir / "report.json",
        "md": run_dir / "report.md",
        "html": run_dir / "report.html",
    }
    paths["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False))
    captions = {name: caption for name, (_, caption) in figures.items()}
    paths["md"].write_text(render_markdown(blocks, FIGURES_DIR, captions))
    paths["html"].write_text(render_html(blocks, figures))
    return paths


def print_findings(findings: list[Finding] | list[dict[str, Any]], log) -> None:
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


# ---------------------------------------------------------------- comparing runs


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= _flatten(value, f"{name}.")
        else:
            out[name] = value
    return out


def compare_runs(run_dirs: list[str | Path]) -> dict[str, Any]:
    """Config differences and test metrics (with 95% intervals) of several finished runs."""
    runs = []
    for run_dir in map(Path, run_dirs):
        report = _read_json(run_dir / "report.json") or build_report(run_dir)
        cfg = _flatten(yaml.safe_load((run_dir / "config.yaml").read_text()))
        runs.append({"run": str(run_dir), "config": cfg, "results": report["results"]})
    keys = sorted({k for r in runs for k in r["config"]})
    differing = [k for k in keys if len({json.dumps(r["config"].get(k)) for r in runs}) > 1]
    metrics = ["accuracy", "f1_macro", "f1_weighted"]
    if any(res.get("task") == MULTI_LABEL for r in runs for res in r["results"].values()):
        metrics += ["f1_micro", "hamming_loss"]  # accuracy is then subset accuracy
    table = []
    for r in runs:
        row = {"run": r["run"]}
        for split in ("test", "validation"):
            res = r["results"].get(split) or {}
            for m in metrics:
                value, interval = res.get(m), res.get("intervals", {}).get(m)
                row[f"{split}_{m}"] = None if value is None else [value, *(interval or [])]
        table.append(row)
    return {
        "runs": [r["run"] for r in runs],
        "config_differences": {k: [r["config"].get(k) for r in runs] for k in differing},
        "metrics": table,
    }


def render_comparison(comparison: dict[str, Any]) -> str:
    runs = comparison["runs"]
    lines = ["# Run comparison", "", "## Configuration differences", ""]
    diffs = comparison["config_differences"]
    if diffs:
        lines += ["| key | " + " | ".join(runs) + " |", "|" + "---|" * (len(runs) + 1)]
        lines += [
            f"| {k} | " + " | ".join(_fmt(v) for v in vals) + " |" for k, vals in diffs.items()
        ]
    else:
        lines.append("The configs are identical.")
    lines += ["", "## Metrics (95% bootstrap intervals)", ""]
    cols = [c for c in comparison["metrics"][0] if c != "run"]
    lines += ["| run | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for row in comparison["metrics"]:
        cells = ["n/a" if row[c] is None else _ci_or_value(row[c][0], row[c][1:]) for c in cols]
        lines.append(f"| {row['run']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
