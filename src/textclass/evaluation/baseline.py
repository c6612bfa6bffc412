"""The baseline every run is measured against, and the paired test that says who wins.

The baseline is TF-IDF over word 1-2-grams and character 3-5-grams (within words), then a
linear model: logistic regression (one per label for multi-label), ridge for regression. Its
regularisation is chosen on the validation split by the run's selection metric; multi-label
thresholds are then tuned on validation, as the model's are. It is fitted on the same split as the
model in seconds, on one core: 4-6 s for Rotten Tomatoes (9,105 training texts, 3,647
validation and test texts), 5-6 s for multi-label TREC (3,766 texts, 56 labels: one regression
per label), about 9 s for VADER regression (16,533 texts), measured on a busy 2-core machine.

    baseline = fit_baseline(data, metric="f1_macro", seed=42)
    baseline.metrics["test"]["f1_macro"], baseline.metrics["test"]["intervals"]["f1_macro"]
    compare(task, y_test, model_outputs, baseline.outputs["test"], labels, "f1_macro")
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from textclass.config.schema import ThresholdConfig
from textclass.config.tasks import Task, get_task
from textclass.evaluation.intervals import paired_bootstrap
from textclass.evaluation.thresholds import tune_thresholds

if TYPE_CHECKING:
    from textclass.data.prepare import PreparedData

PAIR_SEPARATOR = " | "  # a text and its pair, read as one text
EVALUATED = ("validation", "test")


class Features:
    """TF-IDF over word 1-2-grams and character 3-5-grams (within words), each block with
    sublinear term frequency and L2-normalised. The n-grams are hashed (2^22 buckets): with
    no vocabulary to build this is 1.3-1.6x faster than scikit-learn's `TfidfVectorizer`,
    and nothing but the kept columns and their IDF is fitted. Buckets seen in fewer than `min_df`
    training texts are dropped."""

    def __init__(self, min_df: int = 1) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        common = {"n_features": 2**22, "alternate_sign": False, "norm": None}
        self.min_df = min_df
        self.hashers = [
            HashingVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", **common),
            HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), **common),
        ]

    def fit_transform(self, texts: list[str]) -> Any:
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfTransformer

        self.kept_, self.idf_, blocks = [], [], []
        for hasher in self.hashers:
            counts = hasher.transform(texts).tocsr()
            df = np.bincount(counts.indices, minlength=counts.shape[1])
            kept = np.flatnonzero(df >= self.min_df)
            tfidf = TfidfTransformer(sublinear_tf=True)
            blocks.append(tfidf.fit_transform(counts[:, kept]))
            self.kept_.append(kept)
            self.idf_.append(tfidf)
        return hstack(blocks, format="csr", dtype=np.float32)

    def transform(self, texts: list[str]) -> Any:
        from scipy.sparse import hstack

        blocks = [
            tfidf.transform(hasher.transform(texts).tocsr()[:, kept])
            for hasher, kept, tfidf in zip(self.hashers, self.kept_, self.idf_, strict=True)
        ]
        return hstack(blocks, format="csr", dtype=np.float32)


@dataclass
class BaselineResult:
    """A fitted baseline: what it is, what was chosen, and its metrics and outputs."""

    description: str  # e.g. "TF-IDF (word 1-2-grams, character 3-5-grams) + logistic regression"
    metric: str  # the validation metric that chose the penalty
    penalty: str  # "C" (logistic regression) or "alpha" (ridge)
    value: float  # the chosen one
    scores: dict[float, float | None]  # validation `metric` of each value tried
    metrics: dict[str, dict[str, Any]]  # per split: the task's metrics plus "intervals"
    outputs: dict[str, np.ndarray]  # probabilities or values per split, aligned with its rows
    thresholds: np.ndarray | None  # multi-label: tuned on validation
    features: int
    fit_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """What metrics.json keeps (the outputs are left out)."""
        return {
            "description": self.description,
            "metric": self.metric,
            "penalty": {"name": self.penalty, "value": self.value},
            "validation_scores": [{"value": v, "score": s} for v, s in self.scores.items()],
            "features": self.features,
            "fit_seconds": round(self.fit_seconds, 3),
            "thresholds": None if self.thresholds is None else self.thresholds.tolist(),
            **{split: self.metrics[split] for split in EVALUATED},
        }


def texts(frame: pd.DataFrame) -> list[str]:
    """Each row's text; a text pair joined into one text."""
    if "text_pair" not in frame.columns:
        return frame["text"].tolist()
    return (frame["text"] + PAIR_SEPARATOR + frame["text_pair"]).tolist()


def class_weight(setting: Any, labels: list[str]) -> Any:
    """`train.class_weights` as scikit-learn takes it (classes are ids 0..k-1)."""
    if setting in (None, "none"):
        return None
    if setting == "balanced":
        return setting
    return {i: float(setting.get(label, 1.0)) for i, label in enumerate(labels)}


def fit_baseline(
    data: PreparedData,
    metric: str | None = None,
    seed: int = 0,
    class_weights: Any = "none",
    thresholds: ThresholdConfig | None = None,
) -> BaselineResult:
    """Fit the baseline on `data`'s training split; choose its penalty on validation by
    `metric` (the task's default when None); measure it on validation and test (the
    training split's `class_weights` and the multi-label `thresholds` settings as the run's)."""
    task = get_task(data.task)
    metric = metric or task.default_metric
    start = time.perf_counter()
    features = Features(min_df=2 if len(data.splits["train"]) >= 1000 else 1)
    x = {"train": features.fit_transform(texts(data.splits["train"]))}
    x |= {name: features.transform(texts(data.splits[name])) for name in EVALUATED}
    y = {name: data.targets(name) for name in x}
    name, values = task.linear_penalty
    weight = class_weight(class_weights, data.labels)
    models, scores = {}, {}
    for value in values:
        model = task.linear_model(value, seed, x["train"].shape[0], weight)
        models[value] = _fit(model, x["train"], y["train"])
        out = _outputs(task, models[value], x["validation"])
        scores[value] = _score(task, y["validation"], out, data.labels, metric)
    best = _best(scores, task.lower_is_better(metric))
    outputs = {split: _outputs(task, models[best], x[split]) for split in EVALUATED}
    cut = None  # as for the model: chosen at the default cut, then each label's tuned
    if task.tuned_thresholds:
        cut = tune_thresholds(y["validation"], outputs["validation"], thresholds)
    metrics = {
        split: {
            **task.metrics(y[split], outputs[split], data.labels, cut),
            "intervals": task.intervals(y[split], outputs[split], data.labels, cut, seed),
        }
        for split in EVALUATED
    }
    return BaselineResult(
        description=f"TF-IDF (word 1-2-grams, character 3-5-grams) + {task.linear_name}",
        metric=metric,
        penalty=name,
        value=best,
        scores=scores,
        metrics=metrics,
        outputs=outputs,
        thresholds=cut,
        features=int(x["train"].shape[1]),
        fit_seconds=time.perf_counter() - start,
    )


def _fit(model: Any, x: Any, y: np.ndarray) -> Any:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # at max_iter: still a baseline
        # A label on every training text: one-vs-rest predicts it always, as it should.
        warnings.filterwarnings("ignore", "Label .* is present in all training examples")
        return model.fit(x, y)


def _outputs(task: Task, model: Any, x: Any) -> np.ndarray:
    if task.has_probabilities:
        return model.predict_proba(x).astype(np.float32)
    return model.predict(x).astype(np.float32)


def _score(task: Task, y, outputs, labels, metric: str) -> float | None:
    """`metric` on these rows (multi-label: at the default cut): from the resampled form where
    the task has one (cheap), else from the task's full metrics (ROC-AUC, log loss)."""
    if metric in task.resampled_metrics:
        everything = np.arange(len(y))[None, :]
        value = task.resampled_score(y, outputs, labels, everything, metric)[0]
    else:
        value = task.metrics(y, outputs, labels).get(metric)
    return None if value is None or not np.isfinite(value) else float(value)


def _best(scores: dict[float, float | None], lower_is_better: bool) -> float:
    """The value with the best score; an undefined score counts as the worst, and ties go to
    the first value (the strongest regularisation)."""
    sign = -1.0 if lower_is_better else 1.0
    ranked = {v: -np.inf if s is None else sign * s for v, s in scores.items()}
    return max(ranked, key=lambda v: ranked[v])


def compare(
    task: Task,
    y: np.ndarray,
    model_outputs: np.ndarray,
    baseline_outputs: np.ndarray,
    labels: list[str],
    metric: str,
    model_thresholds: np.ndarray | None = None,
    baseline_thresholds: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Model against baseline on the same rows: the difference model - baseline in `metric`
    (the task's default metric where `metric` has no resampled form, e.g. ROC-AUC) with a 95%
    paired bootstrap interval (1000 resamples), and the verdict: `better` or `worse` when the
    interval excludes 0, else `no_difference`."""
    metric = metric if metric in task.resampled_metrics else task.default_metric

    def scorer(outputs: np.ndarray, cut: np.ndarray | None):
        return lambda idx: task.resampled_score(y, outputs, labels, idx, metric, cut)

    paired = paired_bootstrap(
        scorer(model_outputs, model_thresholds),
        scorer(baseline_outputs, baseline_thresholds),
        len(y),
        seed=seed,
    )
    lower, low, high = task.lower_is_better(metric), paired["low"], paired["high"]
    verdict = "no_difference"
    if low is not None and ((high < 0) if lower else (low > 0)):
        verdict = "better"
    elif low is not None and ((low > 0) if lower else (high < 0)):
        verdict = "worse"
    return {
        "metric": metric,
        "lower_is_better": lower,
        "model": paired["a"],
        "baseline": paired["b"],
        "difference": paired["difference"],
        "low": low,
        "high": high,
        "n": paired["n"],
        "resamples": paired["resamples"],
        "confidence": paired["confidence"],
        "verdict": verdict,
    }


def comparison_line(c: dict[str, Any]) -> str:
    """The paired comparison in one line: the difference, its interval and the verdict."""
    interval = "" if c["low"] is None else f" [{c['low']:+.4f}, {c['high']:+.4f}]"
    verdict = {
        "better": "the model is better",
        "worse": "the model is worse",
        "no_difference": "no significant difference",
    }[c["verdict"]]
    return (
        f"test {c['metric']} {c['model']:.4f} vs {c['baseline']:.4f}, difference "
        f"{c['difference']:+.4f}{interval} (paired bootstrap, n={c['n']}): {verdict}"
    )
