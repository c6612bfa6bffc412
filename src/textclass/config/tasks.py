"""Task objects: what kind of target a run predicts, and everything that depends on it.

A task owns the number of model outputs, the default loss, how targets are read from a
standardised frame, how raw model outputs become probabilities or values, the decision rule
(the one place that turns outputs into labels or numbers), its metrics and intervals, the
prediction table and the names of its report sections. Adding a task means adding one object
here (and registering it); no other module branches on the task's name.

Torch-free on purpose: reporting and the API schemas use these objects without loading torch.
Raw outputs come in as NumPy arrays (`logits`, shape (n, outputs)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

# Selection metrics shared by the classification tasks.
_CLASS_METRICS = ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro")
LABEL_SEPARATOR = "|"  # a label set in predictions files and tables: `a|b`, empty for none


class Task:
    """The interface; see the three implementations below."""

    name: ClassVar[str]
    problem_type: ClassVar[str]  # Hugging Face `config.problem_type`: its tools then agree
    default_loss: ClassVar[str]
    losses: ClassVar[tuple[str, ...]]  # `train.loss.name` values that fit this task
    default_metric: ClassVar[str]  # `train.metric` when left at `auto`
    metrics_lower_is_better: ClassVar[tuple[str, ...]] = ("loss", "log_loss")
    selection_metrics: ClassVar[tuple[str, ...]]  # `train.metric` values that fit this task
    history_metrics: ClassVar[tuple[str, ...]]  # validation metrics kept in history.json
    report_sections: ClassVar[tuple[str, ...]]  # reporting/sections modules, in order
    has_labels: ClassVar[bool] = True  # False: a numeric target, no classes
    has_probabilities: ClassVar[bool] = True
    tuned_thresholds: ClassVar[bool] = False  # per-label decision thresholds, tuned on validation

    def __eq__(self, other: object) -> bool:  # a task equals its name, as saved in JSON
        if isinstance(other, str):
            return other == self.name
        return isinstance(other, Task) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.name

    def num_outputs(self, labels: Sequence[str]) -> int:
        return len(labels)

    def lower_is_better(self, metric: str) -> bool:
        return metric in self.metrics_lower_is_better

    # ---- targets and outputs
    def targets(self, column: pd.Series, labels: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def outputs(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities (classification) or values (regression) from raw model outputs."""
        raise NotImplementedError

    def decide(
        self, outputs: np.ndarray, labels: Sequence[str], thresholds: np.ndarray | None = None
    ) -> list[Any]:
        """The decision rule: a label, a list of labels, or a number per row."""
        raise NotImplementedError

    def format_prediction(self, decided: Any) -> Any:
        """A decided value as written in a CSV cell."""
        return decided

    # ---- measurement
    def metrics(
        self,
        y: np.ndarray,
        outputs: np.ndarray,
        labels: Sequence[str],
        thresholds: np.ndarray | None = None,
    ) -> dict[str, Any]:
        raise NotImplementedError

    def loss(self, y: np.ndarray, outputs: np.ndarray) -> float:
        """The model's own unweighted loss on these rows (what validation `loss` means)."""
        raise NotImplementedError

    def summary_line(self, metrics: dict[str, Any]) -> str:
        raise NotImplementedError

    def intervals(
        self,
        y: np.ndarray,
        outputs: np.ndarray,
        labels: Sequence[str],
        thresholds: np.ndarray | None = None,
        seed: int = 0,
    ) -> dict[str, Any]:
        """95% percentile bootstrap intervals of the task's main metrics (1000 resamples)."""
        raise NotImplementedError

    resampled_metrics: ClassVar[tuple[str, ...]]  # what `resampled_score` measures
    robustness_metric: ClassVar[str]  # what the robustness check compares before and after

    def decisions_differ(
        self, before: np.ndarray, after: np.ndarray, thresholds: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Per row, whether the decision changed between two outputs of the same texts (a
        flip); None for a task without discrete decisions (regression)."""
        return None

    def resampled_score(
        self,
        y: np.ndarray,
        outputs: np.ndarray,
        labels: Sequence[str],
        idx: np.ndarray,
        metric: str,
        thresholds: np.ndarray | None = None,
    ) -> np.ndarray:
        """`metric` on each bootstrap resample `idx` (b, n) of the rows, (b,) values: what a
        paired bootstrap compares."""
        raise NotImplementedError

    # ---- the linear baseline (textclass.evaluation.baseline) on TF-IDF features
    linear_name: ClassVar[str]  # e.g. "logistic regression"
    linear_penalty: ClassVar[tuple[str, tuple[float, ...]]]  # its name, the values tried

    def linear_model(self, penalty: float, seed: int, rows: int, class_weight: Any = None) -> Any:
        """A scikit-learn estimator for `rows` training texts; `predict_proba` (or `predict`
        without probabilities) gives what `outputs` gives for a neural model."""
        raise NotImplementedError

    def predictions_frame(
        self,
        frame: pd.DataFrame,
        outputs: np.ndarray,
        labels: Sequence[str],
        thresholds: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Text (and pair), gold (when labelled), predicted, and per-task output columns."""
        out = pd.DataFrame({"text": frame["text"].to_numpy()})
        if "text_pair" in frame.columns:
            out["text_pair"] = frame["text_pair"].to_numpy()
        if "label" in frame.columns:
            out["gold"] = [self.format_prediction(v) for v in frame["label"]]
        decided = self.decide(outputs, labels, thresholds)
        out["predicted"] = [self.format_prediction(d) for d in decided]
        return self._output_columns(out, outputs, labels)

    def _output_columns(
        self, out: pd.DataFrame, outputs: np.ndarray, labels: Sequence[str]
    ) -> pd.DataFrame:
        for i, label in enumerate(labels):
            out[f"prob_{label}"] = outputs[:, i].round(6)
        return out


class SingleLabel(Task):
    """One class per text: softmax over the classes, the most probable one wins."""

    name = "single_label"
    problem_type = "single_label_classification"
    default_loss = "cross_entropy"
    losses = ("cross_entropy", "focal")
    default_metric = "f1_macro"
    selection_metrics = (
        *_CLASS_METRICS,
        "roc_auc",
        "loss",
        "log_loss",
    )
    history_metrics = ("accuracy", "f1_macro", "f1_weighted", "roc_auc", "log_loss")
    report_sections = ("classification", "calibration", "baseline", "robustness")

    def targets(self, column: pd.Series, labels: Sequence[str]) -> np.ndarray:
        index = {label: i for i, label in enumerate(labels)}
        return column.map(index).to_numpy(dtype=np.int64)

    def outputs(self, logits: np.ndarray) -> np.ndarray:
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def decide_ids(self, outputs: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
        """The decision as class ids: the most probable class."""
        return outputs.argmax(axis=1)

    def decide(self, outputs, labels, thresholds=None) -> list[str]:
        return [labels[i] for i in self.decide_ids(outputs)]

    def metrics(self, y, outputs, labels, thresholds=None) -> dict[str, Any]:
        from textclass.evaluation.metrics import classification_metrics

        out = classification_metrics(y, outputs, list(labels))
        return {**out, "loss": self.loss(y, outputs), "task": self.name}

    def loss(self, y, outputs) -> float:
        picked = outputs[np.arange(len(outputs)), np.asarray(y)]
        return float(-np.log(np.clip(picked, 1e-12, None)).mean())

    def intervals(self, y, outputs, labels, thresholds=None, seed=0) -> dict[str, Any]:
        from textclass.evaluation.intervals import bootstrap_intervals

        return bootstrap_intervals(y, self.decide_ids(outputs), list(labels), seed=seed)

    resampled_metrics = _CLASS_METRICS
    robustness_metric = "accuracy"

    def decisions_differ(self, before, after, thresholds=None) -> np.ndarray:
        return self.decide_ids(before) != self.decide_ids(after)

    def resampled_score(self, y, outputs, labels, idx, metric, thresholds=None) -> np.ndarray:
        from textclass.evaluation.intervals import class_scores

        return class_scores(y, self.decide_ids(outputs), len(labels), idx)[metric]

    linear_name = "logistic regression"
    linear_penalty = ("C", (1.0, 4.0, 16.0))

    def linear_model(self, penalty, seed, rows, class_weight=None) -> Any:
        from sklearn.linear_model import LogisticRegression

        # newton-cg: the multinomial fit of lbfgs, 2-4x faster on TF-IDF features
        return LogisticRegression(
            C=penalty, solver="newton-cg", max_iter=1000, class_weight=class_weight
        )

    def summary_line(self, metrics: dict[str, Any]) -> str:
        parts = [f"accuracy {metrics['accuracy']:.4f}", f"macro-F1 {metrics['f1_macro']:.4f}"]
        if metrics.get("roc_auc") is not None:
            parts.append(f"ROC-AUC {metrics['roc_auc']:.4f}")
        if metrics.get("log_loss") is not None:
            parts.append(f"log loss {metrics['log_loss']:.4f}")
        return ", ".join(parts) + f" (n={metrics['n']})"


class MultiLabel(Task):
    """Any number of labels per text: one sigmoid per label, cut at per-label thresholds."""

    name = "multi_label"
    problem_type = "multi_label_classification"
    default_loss = "bce"
    losses = ("bce", "focal")
    default_metric = "f1_macro"  # macro over labels: rare labels count as much as frequent ones
    selection_metrics = (
        *_CLASS_METRICS,
        "f1_micro",
        "f1_samples",
        "subset_accuracy",
        "roc_auc",
        "loss",
        "log_loss",
    )
    history_metrics = ("accuracy", "f1_macro", "f1_micro", "f1_samples", "roc_auc", "log_loss")
    report_sections = ("multilabel", "calibration", "baseline", "robustness", "thresholds")
    tuned_thresholds = True

    def targets(self, column: pd.Series, labels: Sequence[str]) -> np.ndarray:
        index = {label: i for i, label in enumerate(labels)}
        y = np.zeros((len(column), len(labels)), dtype=np.float32)
        for row, values in enumerate(column):
            for value in values:
                y[row, index[value]] = 1.0
        return y

    def outputs(self, logits: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))

    def cut(self, labels: Sequence[str], thresholds: np.ndarray | None) -> np.ndarray:
        return np.full(len(labels), 0.5) if thresholds is None else np.asarray(thresholds)

    def decide_ids(self, outputs: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
        """The decision as a 0/1 matrix: each label at or above its threshold (0.5 if none)."""
        return (outputs >= self.cut(range(outputs.shape[1]), thresholds)).astype(np.int64)

    def decide(self, outputs, labels, thresholds=None) -> list[list[str]]:
        chosen = self.decide_ids(outputs, thresholds)
        return [[labels[k] for k in np.flatnonzero(row)] for row in chosen]

    def format_prediction(self, decided: Any) -> str:
        return LABEL_SEPARATOR.join(decided)

    def metrics(self, y, outputs, labels, thresholds=None) -> dict[str, Any]:
        from textclass.evaluation.metrics import multilabel_metrics

        out = multilabel_metrics(y, outputs, list(labels), thresholds)
        return {**out, "loss": out["log_loss"], "task": self.name}

    def loss(self, y, outputs) -> float:
        clipped = np.clip(outputs.astype(np.float64), 1e-7, 1 - 1e-7)
        return float(-(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).mean())

    def intervals(self, y, outputs, labels, thresholds=None, seed=0) -> dict[str, Any]:
        from textclass.evaluation.analysis import row_f1
        from textclass.evaluation.intervals import mean_intervals, multilabel_bootstrap_intervals

        y, decided = np.asarray(y).astype(np.int64), self.decide_ids(outputs, thresholds)
        per_row = {"hamming_loss": (y != decided).mean(axis=1), "f1_samples": row_f1(y, decided)}
        return multilabel_bootstrap_intervals(y, decided, list(labels), seed=seed) | mean_intervals(
            per_row, seed=seed
        )

    resampled_metrics = (*_CLASS_METRICS, "f1_micro", "f1_samples", "subset_accuracy")
    robustness_metric = "f1_micro"  # pooled over labels: stable where rare labels are noisy

    def decisions_differ(self, before, after, thresholds=None) -> np.ndarray:
        """Any label of the set added or dropped."""
        changed = self.decide_ids(before, thresholds) != self.decide_ids(after, thresholds)
        return changed.any(axis=1)

    def resampled_score(self, y, outputs, labels, idx, metric, thresholds=None) -> np.ndarray:
        from textclass.evaluation.intervals import multilabel_scores

        return multilabel_scores(y, self.decide_ids(outputs, thresholds), idx)[metric]

    linear_name = "logistic regression per label"
    linear_penalty = ("C", (2.0, 8.0, 32.0))  # rare labels need little regularisation

    def linear_model(self, penalty, seed, rows, class_weight=None) -> Any:
        """One binary logistic regression per label, fitted by SGD on the same objective
        (alpha = 1 / (C n)): on multi-label TREC (56 labels) over 30x faster than liblinear,
        with the same validation F1."""
        from sklearn.linear_model import SGDClassifier
        from sklearn.multiclass import OneVsRestClassifier

        alpha = 1.0 / (penalty * max(rows, 1))
        return OneVsRestClassifier(SGDClassifier(loss="log_loss", alpha=alpha, random_state=seed))

    def summary_line(self, metrics: dict[str, Any]) -> str:
        parts = [
            f"micro-F1 {metrics['f1_micro']:.4f}",
            f"macro-F1 {metrics['f1_macro']:.4f}",
            f"samples-F1 {metrics['f1_samples']:.4f}",
            f"subset accuracy {metrics['subset_accuracy']:.4f}",
            f"Hamming loss {metrics['hamming_loss']:.4f}",
        ]
        return ", ".join(parts) + f" (n={metrics['n']})"


class Regression(Task):
    """A numeric target: one linear output, trained with MSE (or Huber), no classes.

    `labels` is a one-element list naming the target (the label column), so a model directory
    still says what it predicts."""

    name = "regression"
    problem_type = "regression"
    default_loss = "mse"
    losses = ("mse", "huber")
    default_metric = "rmse"
    metrics_lower_is_better = ("loss", "rmse", "mae", "mse")
    selection_metrics = ("rmse", "mae", "r2", "pearson", "spearman", "loss")
    history_metrics = ("rmse", "mae", "r2", "spearman")
    report_sections = ("regression", "baseline", "robustness")
    has_labels = False
    has_probabilities = False

    def num_outputs(self, labels: Sequence[str]) -> int:
        return 1

    def targets(self, column: pd.Series, labels: Sequence[str]) -> np.ndarray:
        return column.to_numpy(dtype=np.float32)

    def outputs(self, logits: np.ndarray) -> np.ndarray:
        return logits.reshape(len(logits), -1)[:, 0].astype(np.float32)

    def decide(self, outputs, labels=(), thresholds=None) -> list[float]:
        return [float(v) for v in np.asarray(outputs).reshape(-1)]

    def format_prediction(self, decided: Any) -> float:
        return round(float(decided), 6)

    def metrics(self, y, outputs, labels=(), thresholds=None) -> dict[str, Any]:
        from textclass.evaluation.metrics import regression_metrics

        out = regression_metrics(np.asarray(y), np.asarray(outputs).reshape(-1))
        return {**out, "loss": out["mse"], "task": self.name}

    def loss(self, y, outputs) -> float:
        return float(np.mean((np.asarray(y) - np.asarray(outputs).reshape(-1)) ** 2))

    def intervals(self, y, outputs, labels=(), thresholds=None, seed=0) -> dict[str, Any]:
        from textclass.evaluation.intervals import regression_intervals

        return regression_intervals(y, np.asarray(outputs).reshape(-1), seed=seed)

    resampled_metrics = ("rmse", "mae", "r2", "pearson", "spearman", "loss")
    robustness_metric = "rmse"

    def resampled_score(self, y, outputs, labels, idx, metric, thresholds=None) -> np.ndarray:
        from textclass.evaluation.intervals import regression_scores

        name = "mse" if metric == "loss" else metric  # the loss is the MSE
        return regression_scores(y, np.asarray(outputs).reshape(-1), idx, (name,))[name]

    linear_name = "ridge regression"
    linear_penalty = ("alpha", (0.3, 1.0, 3.0))

    def linear_model(self, penalty, seed, rows, class_weight=None) -> Any:
        from sklearn.linear_model import Ridge

        return Ridge(alpha=penalty, random_state=seed)

    def summary_line(self, metrics: dict[str, Any]) -> str:
        parts = [
            f"RMSE {metrics['rmse']:.4f}",
            f"MAE {metrics['mae']:.4f}",
            f"R² {metrics['r2']:.4f}",
            f"Spearman {metrics['spearman']:.4f}",
        ]
        return ", ".join(parts) + f" (n={metrics['n']})"

    def _output_columns(self, out, outputs, labels) -> pd.DataFrame:
        if "gold" in out.columns:
            out["residual"] = (out["predicted"] - out["gold"]).round(6)
        return out


SINGLE_LABEL = SingleLabel()
MULTI_LABEL = MultiLabel()
REGRESSION = Regression()
TASKS: dict[str, Task] = {t.name: t for t in (SINGLE_LABEL, MULTI_LABEL, REGRESSION)}
TASK_NAMES = tuple(TASKS)  # the values of `data.task` besides `auto`


def get_task(task: str | Task | None) -> Task:
    """The task object for a name (a model directory's `task`, `data.task`); single-label when
    absent, as in model directories written before tasks were recorded."""
    if isinstance(task, Task):
        return task
    if task is None:
        return SINGLE_LABEL
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; use one of {', '.join(TASKS)}") from None
