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

from textclass.diagnosis import Finding, diagnose
from textclass.errors import TextclassError
from textclass.evaluation import bootstrap_intervals, calibration

FIGURES_DIR = "report_files"
PREDICTION_FILES = {"test": "predictions.csv", "validation": "predictions_validation.csv"}


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


# ---------------------------------------------------------------- measuring


def _probabilities(frame: pd.DataFrame, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    probs = frame[[f"prob_{label}" for label in labels]].to_numpy(dtype=np.float64)
    index = {label: i for i, label in enumerate(labels)}
    return probs, frame["gold"].map(index).to_numpy()


def _curves(probs: np.ndarray, y: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """ROC and precision-recall curves, one-vs-rest (binary: the second label as positive)."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    out = {}
    classes = [1] if len(labels) == 2 else range(len(labels))
    for k in classes:
        positive = y == k
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, probs[:, k])
        precision, recall, _ = precision_recall_curve(positive, probs[:, k])
        out[labels[k]] = {
            "fpr": fpr.tolist(),
            "tpr": tpr.tolist(),
            "auc": float(auc(fpr, tpr)),
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "average_precision": float(np.sum(np.diff(recall[::-1]) * precision[::-1][1:])),
        }
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
    words = frame["text"].astype(str).str.split().str.len().to_numpy()
    edges = np.unique(np.quantile(words, [0, 0.25, 0.5, 0.75, 1.0]).round())
    by_length = []
    for lo, hi in itertools.pairwise(edges):
        last = hi == edges[-1]
        mask = (words >= lo) & ((words <= hi) if last else (words < hi))
        if mask.any():
            by_length.append(
                {
                    "words": f"{int(lo)}-{int(hi) if last else int(hi) - 1}",
                    "n": int(mask.sum()),
                    "accuracy": float((pred[mask] == y[mask]).mean()),
                }
            )
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


def _model_section(run_dir: Path, env: dict, monitor: dict, cfg: dict) -> dict[str, Any]:
    hf = _read_json(run_dir / "model" / "config.json") or {}
    arch = (hf.get("architectures") or ["?"])[0]
    pooling = {
        "bert": "[CLS] token through the pooler (dense + tanh), then a linear layer",
        "distilbert": "first token ([CLS]) through pre_classifier (dense + ReLU), then a linear layer",
        "deberta-v2": "[CLS] token through a context pooler, then a linear layer",
        "roberta": "<s> token through a dense + tanh head, then a linear layer",
    }.get(hf.get("model_type", ""), "the architecture's own classification head")
    params = monitor.get("parameters", {})
    return {
        "architecture": arch,
        "model_type": hf.get("model_type"),
        "base_model": cfg["model"]["name"],
        "layers": hf.get("num_hidden_layers") or hf.get("n_layers"),
        "hidden_size": hf.get("hidden_size") or hf.get("dim"),
        "parameters": params.get("total"),
        "trainable_parameters": params.get("trainable"),
        "max_length": cfg["model"]["max_length"],
        "pooling": pooling,
        "device": env.get("device"),
        "precision": env.get("precision"),
        "freeze": cfg["model"].get("freeze", "none"),
    }


def _observations(history: list[dict], monitor: dict, results: dict, cfg: dict) -> list[str]:
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
    if "test" in results:
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
    monitor = diag.get("monitor", {})
    history = state.get("history", [])
    results, errors = _results(run_dir, metrics, labels, cfg.get("seed", 0))
    findings = diagnose(
        monitor,
        history,
        metrics,
        diag.get("integrity", {}),
        data,
        cfg["train"].get("class_weights", "none"),
    )
    counts = data.get("class_counts", {}).get("train", {})
    last = history[-1] if history else {}
    return {
        "title": f"Training report: {cfg.get('name') or run_dir.name}",
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "run_dir": str(run_dir),
        "labels": labels,
        "model": _model_section(run_dir, env, monitor, cfg),
        "configuration": {
            "train": cfg["train"],
            "model": cfg["model"],
            "seed": cfg.get("seed"),
            "data_sha256": env.get("data_sha256", {}),
            "versions": env.get("versions", {}),
            "hardware": env.get("hardware", {}),
            "loss": "cross-entropy"
            + (
                ""
                if cfg["train"].get("class_weights", "none") == "none"
                else f" with class weights {diag.get('class_weights')}"
            ),
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
        "errors": errors,
        "observations": _observations(history, monitor, results, cfg),
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
        for key in ("val_accuracy", "val_f1_macro"):
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
        if split != "test":
            continue
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        for label, c in list(res["curves"].items())[:10]:
            axes[0].plot(c["fpr"], c["tpr"], label=f"{label} (AUC {c['auc']:.3f})")
            axes[1].plot(
                c["recall"], c["precision"], label=f"{label} (AP {c['average_precision']:.3f})"
            )
        axes[0].plot([0, 1], [0, 1], color="#999", ls=":")
        axes[0].set(
            title="ROC (one-vs-rest)", xlabel="false positive rate", ylabel="true positive rate"
        )
        axes[1].set(title="Precision-recall", xlabel="recall", ylabel="precision")
        for ax in axes[:2]:
            ax.legend(fontsize=7)
        bins = res["calibration"]["bins"]
        axes[2].plot([0, 1], [0, 1], color="#999", ls=":")
        axes[2].bar(
            [b["confidence"] for b in bins], [b["accuracy"] for b in bins], width=0.05, alpha=0.7
        )
        axes[2].set(
            title=f"Reliability (ECE {res['calibration']['ece']:.3f})",
            xlabel="confidence",
            ylabel="accuracy",
        )
        save(fig, "curves_test", "ROC, precision-recall and reliability diagram on test")
    return figures


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
    if test:
        head = f"Test accuracy **{_ci(test['accuracy'], test['intervals']['accuracy'])}**, macro-F1 **{_ci(test['f1_macro'], test['intervals']['f1_macro'])}** (95% bootstrap intervals, n={test['n']})."
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
                ["architecture", f"{m['architecture']} ({m['model_type']})"],
                ["base model", m["base_model"]],
                ["layers / hidden size", f"{m['layers']} / {m['hidden_size']}"],
                [
                    "parameters (total / trainable)",
                    f"{_fmt(m['parameters'])} / {_fmt(m['trainable_parameters'])}",
                ],
                ["frozen", m["freeze"]],
                ["sequence length (max tokens)", m["max_length"]],
                ["pooling", m["pooling"]],
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
    ]
    rows = [[f"train.{k}", _fmt(c["train"].get(k))] for k in keys if k in c["train"]]
    rows.append(["train.early_stopping.patience", _fmt(c["train"]["early_stopping"]["patience"])])
    rows += [[f"model.{k}", _fmt(v)] for k, v in c["model"].items()]
    rows += [["seed", c["seed"]], ["loss", c["loss"]]]
    b.append(("table", ["key", "value"], rows))
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
    b.append(("table", ["class", *splits], rows))
    if d.get("imbalance_ratio"):
        b.append(
            (
                "p",
                f"Imbalance ratio (largest / smallest class in training): {d['imbalance_ratio']:.2f}.",
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
    b.append(
        (
            "table",
            [
                "epoch",
                "step",
                "train loss",
                "val loss",
                "val accuracy",
                "val macro-F1",
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
                    f"{h['val_accuracy']:.4f}",
                    f"{h['val_f1_macro']:.4f}",
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
    b.append(
        (
            "p",
            f"{t['steps_done']} of {t['total_steps']} optimizer steps in {t['train_seconds']:.0f} s of training "
            f"({_fmt(t['samples_per_second'])} samples/s); {stop}. Selected checkpoint: step {t['selected_step']} "
            f"({t['selection']}: {_fmt(t['best_value'])}).{resumed}",
        )
    )

    b.append(("h2", "Results"))
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

    b.append(("h2", "Error analysis (test)"))
    e = report["errors"].get("test")
    if e:
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
        checks = "collapse to one class, no learning (loss, learning rate, frozen or missing parameters, gradients, NaN), batch label mix, evaluation integrity, overfitting, class-wise weakness"
        b.append(("p", f"No problem found. Checked: {checks}."))
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
    metrics = ("accuracy", "f1_macro", "f1_weighted")
    table = []
    for r in runs:
        row = {"run": r["run"]}
        for split in ("test", "validation"):
            res = r["results"].get(split)
            for m in metrics:
                row[f"{split}_{m}"] = None if res is None else [res[m], *res["intervals"][m]]
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
        cells = [("n/a" if row[c] is None else _ci(row[c][0], row[c][1:])) for c in cols]
        lines.append(f"| {row['run']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
