"""The baseline every run is measured against, and the paired test that says who wins.

The baseline is TF-IDF over word 1-2-grams and character 3-5-grams (within words), then a
linear model: logistic regression (one per label for multi-label), ridge for regression. Its
regularisation is chosen on the validation split by the run's selection metric; multi-label
thresholds are then tuned on validation, as the model's are. It is fitted on the same split as the
model in seconds, on one core: 4-6 s for Rotten Tomatoes (9,105 training texts, 3,647
validation and test texts), 5-6 s for multi-label TREC (3,766 texts, 56 labels: one regression
per label), about 9 s for VADER regression (16,533 texts), measured on a busy 2-core machine.
The features and the fit are the linear model family's (`textclass.models.linear`), which
`model.architecture: linear` trains as a model of its own; such a run has no baseline to compare.

    baseline = fit_baseline(data, metric="f1_macro", seed=42)
    baseline.metrics["test"]["f1_macro"], baseline.metrics["test"]["intervals"]["f1_macro"]
    compare(task, y_test, model_outputs, baseline.outputs["test"], labels, "f1_macro")
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from textclass.config.schema import ThresholdConfig
from textclass.config.tasks import Task, get_task
from textclass.evaluation.intervals import paired_bootstrap
from textclass.evaluation.thresholds import tune_thresholds
from textclass.models.linear import fit_linear, texts

if TYPE_CHECKING:
    from textclass.data.prepare import PreparedData

EVALUATED = ("validation", "test")


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
    start = time.perf_counter()
    fitted = fit_linear(data, metric, seed, class_weights)
    outputs = {
        "validation": fitted.validation,
        "test": fitted.model.outputs(texts(data.splits["test"])),
    }
    y = {split: data.targets(split) for split in EVALUATED}
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
        description=fitted.description,
        metric=fitted.metric,
        penalty=fitted.penalty,
        value=fitted.value,
        scores=fitted.scores,
        metrics=metrics,
        outputs=outputs,
        thresholds=cut,
        features=fitted.model.features.width,
        fit_seconds=time.perf_counter() - start,
    )


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
