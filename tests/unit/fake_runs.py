"""Finished run directories written by hand (regression; single-label with any labels): the
files `textclass report` reads, shaped like those of a tiny trained run, with no model weights
(the report needs none)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

WORDS = ["the", "plot", "acting", "score", "pacing", "ending", "cast", "script", "camera", "light"]


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _predictions(n: int, rng: np.random.Generator, quality: float) -> pd.DataFrame:
    """Texts of varying length, a numeric gold score, a prediction near it (quality 1) or
    unrelated to it (quality 0)."""
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(3, 30))) for _ in range(n)]
    gold = rng.normal(3.0, 1.0, n).round(3)
    noise = rng.normal(0.0, 0.4, n)
    predicted = (quality * gold + (1 - quality) * rng.normal(3.0, 1.0, n) + noise).round(6)
    predicted[n // 2] += 5.0  # one far-off prediction: the largest error
    return pd.DataFrame(
        {"text": texts, "gold": gold, "predicted": predicted, "residual": predicted - gold}
    )


def _metrics(frame: pd.DataFrame) -> dict:
    gold, pred = frame["gold"].to_numpy(), frame["predicted"].to_numpy()
    err = pred - gold
    mse = float(np.mean(err**2))
    return {
        "n": len(frame),
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.mean(np.abs(err))),
        "mse": mse,
        "r2": float(1 - np.sum(err**2) / np.sum((gold - gold.mean()) ** 2)),
        "pearson": float(np.corrcoef(gold, pred)[0, 1]),
        "spearman": float(np.corrcoef(gold.argsort().argsort(), pred.argsort().argsort())[0, 1]),
        "loss": mse,
        "target_mean": float(gold.mean()),
        "target_std": float(gold.std()),
        "task": "regression",
    }


def _config(seed: int) -> dict:
    return {
        "name": "scores",
        "seed": seed,
        "data": {"task": "regression", "label_column": "score"},
        "model": {
            "architecture": "transformer",
            "name": "tiny-bert",
            "pretrained": True,
            "max_length": 48,
            "freeze": "none",
            "window": {"enabled": False},
        },
        "train": {
            "epochs": 2.0,
            "max_steps": None,
            "batch_size": 16,
            "lr": 0.001,
            "max_grad_norm": 1.0,
            "class_weights": "none",
            "loss": {"name": "auto", "huber_delta": 1.0},
            "metric": "rmse",
            "early_stopping": {"patience": None},
        },
    }


def _history(steps: int = 24) -> dict:
    evaluations = [
        {
            "epoch": float(e),
            "step": e * steps // 2,
            "train_loss": 1.5 / e,
            "val_loss": 1.2 / e,
            "val_rmse": 1.1 / e,
            "val_mae": 0.9 / e,
            "val_r2": 0.2 * e,
            "val_spearman": 0.3 * e,
            "lr": 0.0005 * (2 - e) + 1e-9,
            "train_seconds": 5.0 * e,
            "samples_per_second": 40.0,
            "data_wait_fraction": 0.01,
            "is_best": e == 2,
        }
        for e in (1, 2)
    ]
    return {
        "total_steps": steps,
        "global_step": steps,
        "train_seconds": 10.0,
        "best_metric": evaluations[-1]["val_rmse"],
        "best_step": steps,
        "stopped_early": False,
        "history": evaluations,
        "extras": {},
    }


def _diagnostics(steps: int = 24) -> dict:
    losses = np.linspace(1.6, 0.6, steps)
    return {
        "monitor": {
            "parameters": {
                "total": 1000,
                "trainable": 1000,
                "encoder_trainable": 967,
                "head_total": 33,
                "head_trainable": 33,
                "head_in_optimizer": 33,
                "trainable_not_in_optimizer": 0,
            },
            "batch_label_counts": {},
            "dataset_label_counts": {},
            "steps": {
                "step": list(range(1, steps + 1)),
                "loss": losses.tolist(),
                "lr": np.linspace(1e-3, 0, steps).tolist(),
                "grad_norm": [1.0] * steps,
            },
            "nonfinite_losses": 0,
            "labels_out_of_range": 0,
        },
        "integrity": {
            "selected_step": steps,
            "selected_sha256": "ab" * 32,
            "evaluated_sha256": "ab" * 32,
        },
        "loss": {"name": "mse", "task": "regression", "weights": None, "params": {}},
    }


def write_regression_run(
    path: Path, n: int = 80, seed: int = 0, quality: float = 1.0, train_mean: float | None = 2.9
) -> Path:
    """Write the run directory and return it. `train_mean`: the training target's mean as
    recorded in data.json (None: not recorded)."""
    rng = np.random.default_rng(seed)
    frames = {"test": _predictions(n, rng, quality), "validation": _predictions(n, rng, quality)}
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(yaml.safe_dump(_config(seed)))
    frames["test"].to_csv(path / "predictions.csv", index=False)
    frames["validation"].to_csv(path / "predictions_validation.csv", index=False)
    _write_json(path / "metrics.json", {s: _metrics(f) for s, f in frames.items()})
    data = {
        "task": "regression",
        "sizes": {"train": 4 * n, "validation": n, "test": n},
        "cross_split_duplicates": {"validation": 0, "test": 0},
    }
    if train_mean is not None:
        data["target_stats"] = {"train": {"mean": train_mean, "std": 1.0}}
    _write_json(path / "data.json", data)
    _write_json(path / "history.json", _history())
    _write_json(path / "diagnostics.json", _diagnostics())
    _write_json(
        path / "environment.json",
        {"versions": {"python": "3.11"}, "device": "cpu", "precision": "fp32"},
    )
    _write_json(path / "model" / "textclass.json", {"task": "regression", "labels": ["score"]})
    hf = {"architectures": ["BertForSequenceClassification"], "model_type": "bert"}
    _write_json(path / "model" / "config.json", hf | {"num_hidden_layers": 2, "hidden_size": 32})
    return path


# ---------------------------------------------------------------- single-label classification


def _class_predictions(labels: list[str], n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Gold labels in turn, probabilities that favour the gold class (about 80% right)."""
    gold = np.arange(n) % len(labels)
    logits = rng.normal(0.0, 1.0, (n, len(labels)))
    logits[np.arange(n), gold] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(3, 30))) for _ in range(n)]
    frame = pd.DataFrame(
        {
            "text": texts,
            "gold": [labels[i] for i in gold],
            "predicted": [labels[i] for i in probs.argmax(axis=1)],
        }
    )
    for k, label in enumerate(labels):
        frame[f"prob_{label}"] = probs[:, k].round(6)
    return frame


def _class_metrics(frame: pd.DataFrame, labels: list[str]) -> dict:
    """metrics.json's single-label entry, computed with scikit-learn from the frame."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    index = {label: i for i, label in enumerate(labels)}
    y = frame["gold"].map(index).to_numpy()
    pred = frame["predicted"].map(index).to_numpy()
    ids = list(range(len(labels)))
    out = {"n": len(frame), "accuracy": float((y == pred).mean())}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y, pred, labels=ids, average=average, zero_division=0
        )
        out |= {f"precision_{average}": p, f"recall_{average}": r, f"f1_{average}": f}
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=ids, zero_division=0)
    out["per_class"] = {
        label: {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])}
        for i, label in enumerate(labels)
    }
    out["confusion_matrix"] = confusion_matrix(y, pred, labels=ids).tolist()
    out |= {"roc_auc": None, "log_loss": None, "loss": 0.5, "labels": labels}
    return json.loads(json.dumps(out | {"task": "single_label"}, default=float))


def _class_config(seed: int) -> dict:
    config = _config(seed)
    config["data"] = {"task": "single_label", "label_column": "label"}
    config["train"] |= {"metric": "f1_macro", "loss": {"name": "auto"}}
    return config


def write_classification_run(path: Path, labels: list[str], n: int = 60, seed: int = 0) -> Path:
    """A finished single-label run whose labels are `labels`, written as a training run
    writes them (predictions CSVs by pandas, JSON files); returns the directory."""
    rng = np.random.default_rng(seed)
    frames = {"test": _class_predictions(labels, n, rng)}
    frames["validation"] = _class_predictions(labels, n, rng)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(yaml.safe_dump(_class_config(seed)))
    frames["test"].to_csv(path / "predictions.csv", index=False)
    frames["validation"].to_csv(path / "predictions_validation.csv", index=False)
    _write_json(path / "metrics.json", {s: _class_metrics(f, labels) for s, f in frames.items()})
    counts = {label: 4 * n // len(labels) for label in labels}
    data = {
        "task": "single_label",
        "sizes": {"train": 4 * n, "validation": n, "test": n},
        "class_counts": {"train": counts, "validation": counts, "test": counts},
        "cross_split_duplicates": {"validation": 0, "test": 0},
    }
    _write_json(path / "data.json", data)
    history = _history()
    for record in history["history"]:
        record |= {"val_accuracy": 0.7, "val_f1_macro": 0.7}
    _write_json(path / "history.json", history)
    diagnostics = _diagnostics()
    diagnostics["loss"] = {"name": "cross_entropy", "task": "single_label", "weights": None}
    _write_json(path / "diagnostics.json", diagnostics)
    _write_json(
        path / "environment.json",
        {"versions": {"python": "3.11"}, "device": "cpu", "precision": "fp32"},
    )
    _write_json(path / "model" / "textclass.json", {"task": "single_label", "labels": labels})
    hf = {"architectures": ["BertForSequenceClassification"], "model_type": "bert"}
    _write_json(path / "model" / "config.json", hf | {"num_hidden_layers": 2, "hidden_size": 32})
    return path
