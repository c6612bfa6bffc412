"""Error analysis and curves from a split's predictions: what the report shows beyond metrics.

Every function takes gold targets and model outputs as arrays (the texts as a Series where
examples are shown) and returns JSON-serialisable data; reporting only arranges it.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from textclass.config.tasks import LABEL_SEPARATOR, SINGLE_LABEL
from textclass.evaluation.metrics import join_labels

EXAMPLES = 10  # rows per table of examples


# ---------------------------------------------------------------- curves


def binary_curve(positive: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
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


def class_curves(probs: np.ndarray, y: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Single-label: ROC and precision-recall curves, one-vs-rest (binary: the second label
    as positive), for each class present and absent somewhere."""
    out = {}
    classes = [1] if len(labels) == 2 else range(len(labels))
    for k in classes:
        positive = y == k
        if positive.all() or not positive.any():
            continue
        out[labels[k]] = binary_curve(positive, probs[:, k])
    return out


def label_curves(
    probs: np.ndarray, y: np.ndarray, labels: list[str], top: int = 10
) -> dict[str, Any]:
    """Multi-label: the curves of the `top` most frequent labels (present and absent
    somewhere), most frequent first."""
    support = y.sum(axis=0)
    by_support = sorted(range(len(labels)), key=lambda k: (-support[k], labels[k]))
    return {
        labels[k]: binary_curve(y[:, k] == 1, probs[:, k])
        for k in by_support[:top]
        if 0 < support[k] < len(y)
    }


# ---------------------------------------------------------------- by text length


def by_length(texts: pd.Series, per_row: dict[str, np.ndarray]) -> list[dict[str, Any]]:
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


# ---------------------------------------------------------------- single-label


def predicted_share(pred: np.ndarray, labels: list[str]) -> dict[str, float]:
    """Share of rows predicted as each class (class ids), or carrying each label (0/1 rows)."""
    if pred.ndim == 2:
        return dict(zip(labels, pred.mean(axis=0).tolist(), strict=True))
    shares = np.bincount(pred, minlength=len(labels)) / len(pred)
    return dict(zip(labels, shares.tolist(), strict=True))


def error_analysis(
    texts: pd.Series, probs: np.ndarray, y: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    """Single-label: the most confident mistakes, the most confused (gold, predicted) pairs,
    false positives and negatives per class, the least decided texts (smallest margin between
    the top two classes) and accuracy by text length."""
    pred = SINGLE_LABEL.decide_ids(probs)
    top = probs.max(axis=1)
    wrong = np.flatnonzero(pred != y)
    confident = wrong[np.argsort(-top[wrong])][:EXAMPLES]
    sorted_probs = np.sort(probs, axis=1)
    margin = sorted_probs[:, -1] - sorted_probs[:, -2]
    ambiguous = np.argsort(margin)[:EXAMPLES]

    def row(i: int) -> dict[str, Any]:
        return {
            "text": str(texts.iloc[i]),
            "gold": labels[y[i]],
            "predicted": labels[pred[i]],
            "confidence": float(top[i]),
            "margin": float(margin[i]),
        }

    cm = np.zeros((len(labels), len(labels)), dtype=int)
    np.add.at(cm, (y, pred), 1)
    return {
        "confident_mistakes": [row(i) for i in confident],
        "confused_pairs": _confused_pairs(cm, labels),
        "per_class": {
            label: {
                "false_positives": int(cm[:, k].sum() - cm[k, k]),
                "false_negatives": int(cm[k, :].sum() - cm[k, k]),
            }
            for k, label in enumerate(labels)
        },
        "ambiguous": [row(i) for i in ambiguous],
        "by_length": by_length(texts, {"accuracy": (pred == y).astype(float)}),
    }


def _confused_pairs(cm: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    """The off-diagonal cells of a confusion matrix, largest first."""
    k = len(labels)
    pairs = [
        {"gold": labels[a], "predicted": labels[b], "count": int(cm[a, b])}
        for a in range(k)
        for b in range(k)
        if a != b and cm[a, b] > 0
    ]
    pairs.sort(key=lambda p: -p["count"])
    return pairs[:EXAMPLES]


# ---------------------------------------------------------------- multi-label


def label_matrix(cells: pd.Series, labels: list[str]) -> np.ndarray:
    """`a|b` strings (as in the predictions files; empty: no label) as a 0/1 matrix; the
    inverse of `metrics.join_labels`."""
    index = {label: i for i, label in enumerate(labels)}
    out = np.zeros((len(cells), len(labels)), dtype=np.int64)
    for r, cell in enumerate(cells.astype(str)):
        for label in filter(None, cell.split(LABEL_SEPARATOR)):
            if label in index:
                out[r, index[label]] = 1
    return out


def row_f1(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-text F1 of the label sets (0 when both are empty, as scikit-learn's `samples`)."""
    both = (y & pred).sum(axis=1)
    size = y.sum(axis=1) + pred.sum(axis=1)
    return np.where(size > 0, 2 * both / np.maximum(size, 1), 0.0)


def multilabel_errors(
    texts: pd.Series, probs: np.ndarray, y: np.ndarray, pred: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    """Texts with the most missed and the most extra labels, the most confident wrong label
    decisions, gold labels missed while another was predicted, per-label counts."""
    missed, extra = y & (1 - pred), pred & (1 - y)
    n_missed, n_extra = missed.sum(axis=1), extra.sum(axis=1)
    shown = texts.astype(str).to_numpy()

    def text_row(i: int) -> dict[str, Any]:
        names = join_labels(np.stack([y[i], pred[i], missed[i], extra[i]]), labels)
        return {
            "text": shown[i],
            **dict(zip(("gold", "predicted", "missed", "extra"), names, strict=True)),
            "n_missed": int(n_missed[i]),
            "n_extra": int(n_extra[i]),
        }

    most_missed = np.lexsort((-n_extra, -n_missed))  # most missed first, then most extra
    most_extra = np.lexsort((-n_missed, -n_extra))
    exact = (y == pred).all(axis=1)
    return {
        "summary": {
            "texts": len(y),
            "exact": int(exact.sum()),
            "with_missed": int((n_missed > 0).sum()),
            "with_extra": int((n_extra > 0).sum()),
            "no_label_predicted": int((pred.sum(axis=1) == 0).sum()),
        },
        "most_missed": [text_row(i) for i in most_missed[:EXAMPLES] if n_missed[i] > 0],
        "most_extra": [text_row(i) for i in most_extra[:EXAMPLES] if n_extra[i] > 0],
        "confident_mistakes": _confident_label_mistakes(shown, probs, missed, extra, labels),
        "confused_pairs": _missed_for_extra(missed, extra, labels),
        "per_class": {
            label: {
                "true_positives": int((y[:, k] & pred[:, k]).sum()),
                "false_positives": int(extra[:, k].sum()),
                "false_negatives": int(missed[:, k].sum()),
            }
            for k, label in enumerate(labels)
        },
        "by_length": by_length(
            texts, {"accuracy": exact.astype(float), "f1_samples": row_f1(y, pred)}
        ),
    }


def _confident_label_mistakes(
    texts: np.ndarray, probs: np.ndarray, missed: np.ndarray, extra: np.ndarray, labels: list[str]
) -> list[dict[str, Any]]:
    """The wrong (text, label) decisions furthest on the wrong side of the cut: p for an
    extra label, 1 - p for a missed one."""
    wrongness = np.where(extra == 1, probs, 0.0) + np.where(missed == 1, 1 - probs, 0.0)
    rows, cols = np.unravel_index(np.argsort(-wrongness, axis=None)[:EXAMPLES], wrongness.shape)
    return [
        {
            "text": texts[i],
            "label": labels[k],
            "kind": "extra" if extra[i, k] else "missed",
            "probability": float(probs[i, k]),
        }
        for i, k in zip(rows, cols, strict=True)
        if wrongness[i, k] > 0
    ]


def _missed_for_extra(
    missed: np.ndarray, extra: np.ndarray, labels: list[str]
) -> list[dict[str, Any]]:
    """(missed gold label, extra predicted label) pairs within one text, most frequent first."""
    pairs: dict[tuple[int, int], int] = {}
    for i in np.flatnonzero((missed.sum(axis=1) > 0) & (extra.sum(axis=1) > 0)):
        for a in np.flatnonzero(missed[i]):
            for b in np.flatnonzero(extra[i]):
                pairs[a, b] = pairs.get((a, b), 0) + 1
    return [
        {"gold": labels[a], "predicted": labels[b], "count": c}
        for (a, b), c in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:EXAMPLES]
    ]


# ---------------------------------------------------------------- regression


def mean_predictor(gold: np.ndarray, mean: float) -> float:
    """RMSE of predicting one constant (a mean of the target) for every row."""
    return float(np.sqrt(np.mean((np.asarray(gold, np.float64) - mean) ** 2)))


def worst_errors(
    texts: pd.Series, gold: np.ndarray, predicted: np.ndarray, top: int = EXAMPLES
) -> list[dict[str, Any]]:
    """The `top` rows with the largest absolute residual (predicted - gold), largest first."""
    residual = np.asarray(predicted, np.float64) - np.asarray(gold, np.float64)
    order = np.argsort(-np.abs(residual), kind="stable")[:top]
    return [
        {
            "text": str(texts.iloc[i]),
            "gold": float(gold[i]),
            "predicted": float(predicted[i]),
            "residual": float(residual[i]),
        }
        for i in order
    ]


def residual_summary(
    gold: np.ndarray, predicted: np.ndarray, bins: int = 30, points: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """What a residual plot needs: (gold, predicted) pairs (a seeded sample of `points` rows
    when there are more) and a histogram of the residuals; and their mean (the bias)."""
    gold, predicted = np.asarray(gold, np.float64), np.asarray(predicted, np.float64)
    rows = np.arange(len(gold))
    if len(rows) > points:
        rows = np.sort(np.random.default_rng(seed).choice(rows, points, replace=False))
    residual = predicted - gold
    counts, edges = np.histogram(residual, bins=bins)
    return {
        "bias": float(residual.mean()),
        "gold": gold[rows].tolist(),
        "predicted": predicted[rows].tolist(),
        "sampled": len(rows) < len(gold),
        "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
    }


# ---------------------------------------------------------------- training steps


def loss_spikes(losses: np.ndarray, factor: float = 2.5) -> int:
    """Steps whose loss exceeds `factor` times the running median of the steps before."""
    window = max(5, len(losses) // 20)
    med = pd.Series(losses).rolling(window, min_periods=1).median().shift(1).bfill().to_numpy()
    return int((losses > factor * np.maximum(med, 1e-6)).sum())
