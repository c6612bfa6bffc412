"""The linear family: TF-IDF n-gram features and a linear model over them.

Word 1-2-grams and character 3-5-grams (within words), hashed, TF-IDF weighted, then logistic
regression (one binary regression per label for multi-label data) or ridge regression, the
penalty chosen on validation. It is every run's baseline (`textclass.evaluation.baseline`) and,
with `model.architecture: linear`, a model family of its own: seconds on one core, and on short
texts with topical labels often as good as a fine-tuned encoder.

    fitted = fit_linear(data, metric="f1_macro", seed=42)
    fitted.model.outputs(texts(data.splits["test"]))   # (n, labels) probabilities
    fitted.model.save(path); LinearModel.load(path)     # safetensors + JSON, no pickle

A fitted model is nothing but arrays: the kept hash buckets and their IDF per n-gram block,
and the weights and biases of one linear output per task output (`Task.outputs` turns them into
probabilities or values, as it does a neural model's logits). The hashing vectorizers are
stateless and rebuilt from their settings, so a saved model predicts exactly as it did in memory.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from textclass.config.tasks import REGRESSION, Task, get_task
from textclass.errors import TextclassError
from textclass.workflows import rundir

if TYPE_CHECKING:
    from textclass.data.prepare import PreparedData

PAIR_SEPARATOR = " | "  # a text and its pair, read as one text
WEIGHTS = rundir.LINEAR_WEIGHTS  # the arrays: kept buckets, IDF, weights, biases
SETTINGS = rundir.LINEAR_SETTINGS  # the feature settings, the estimator, the labels and task
FORMAT_VERSION = 1
BUCKETS = 2**22
# The two n-gram blocks: (name, HashingVectorizer settings). Changing one changes every saved
# model's features: add a block under a new name instead.
BLOCKS = {
    "word": {"analyzer": "word", "ngram_range": [1, 2], "token_pattern": r"(?u)\b\w+\b"},
    "char": {"analyzer": "char_wb", "ngram_range": [3, 5]},
}
_CONSTANT_LOGIT = 60.0  # a label on every (or no) training text: sigmoid(±60) is 1 (0)


def texts(frame: pd.DataFrame) -> list[str]:
    """Each row's text; a text pair joined into one text."""
    if "text_pair" not in frame.columns:
        return frame["text"].tolist()
    return (frame["text"] + PAIR_SEPARATOR + frame["text_pair"]).tolist()


def join_pairs(texts_: list[str], pairs: list[str] | None) -> list[str]:
    """Texts and their pairs as the model reads them (what `texts` does to a frame)."""
    if pairs is None:
        return list(texts_)
    return [a + PAIR_SEPARATOR + b for a, b in zip(texts_, pairs, strict=True)]


def class_weight(setting: Any, labels: list[str]) -> Any:
    """`train.class_weights` as scikit-learn takes it (classes are ids 0..k-1)."""
    if setting in (None, "none"):
        return None
    if setting == "balanced":
        return setting
    return {i: float(setting.get(label, 1.0)) for i, label in enumerate(labels)}


def _hasher(settings: dict[str, Any]) -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    options = {**settings, "ngram_range": tuple(settings["ngram_range"])}
    return HashingVectorizer(n_features=BUCKETS, alternate_sign=False, norm=None, **options)


class Features:
    """TF-IDF over word 1-2-grams and character 3-5-grams (within words), each block with
    sublinear term frequency and L2-normalised. The n-grams are hashed (2^22 buckets): with
    no vocabulary to build this is 1.3-1.6x faster than scikit-learn's `TfidfVectorizer`,
    and nothing but the kept columns and their IDF is fitted. Buckets seen in fewer than `min_df`
    training texts are dropped."""

    def __init__(self, min_df: int = 1) -> None:
        self.min_df = min_df
        self.hashers = {name: _hasher(settings) for name, settings in BLOCKS.items()}
        self.kept_: dict[str, np.ndarray] = {}  # bucket ids kept, per block
        self.idf_: dict[str, np.ndarray] = {}  # their IDF (smoothed, as scikit-learn's)

    @property
    def width(self) -> int:
        return sum(len(kept) for kept in self.kept_.values())

    def fit_transform(self, texts_: list[str]) -> Any:
        from scipy.sparse import hstack

        blocks = []
        for name, hasher in self.hashers.items():
            counts = hasher.transform(texts_).tocsr()
            df = np.bincount(counts.indices, minlength=counts.shape[1])
            kept = np.flatnonzero(df >= self.min_df)
            self.kept_[name] = kept
            self.idf_[name] = np.log((1 + counts.shape[0]) / (1 + df[kept])) + 1.0
            blocks.append(self._tfidf(counts[:, kept], name))
        return hstack(blocks, format="csr", dtype=np.float32)

    def transform(self, texts_: list[str]) -> Any:
        from scipy.sparse import hstack

        if not self.kept_:
            raise TextclassError("Features.transform before fit_transform: fit the features first")
        blocks = [
            self._tfidf(hasher.transform(texts_).tocsr()[:, self.kept_[name]], name)
            for name, hasher in self.hashers.items()
        ]
        return hstack(blocks, format="csr", dtype=np.float32)

    def _tfidf(self, counts: Any, name: str) -> Any:
        """Sublinear TF (1 + log count) times IDF, each row L2-normalised (TfidfTransformer's
        `sublinear_tf=True` with its defaults)."""
        from sklearn.preprocessing import normalize

        x = counts.astype(np.float64)
        np.log(x.data, out=x.data)
        x.data += 1.0
        x.data *= self.idf_[name][x.indices]
        return normalize(x, norm="l2", copy=False)


def _fit(estimator: Any, x: Any, y: np.ndarray) -> Any:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # at max_iter: still usable
        # A label on every training text: one-vs-rest predicts it always, as it should.
        warnings.filterwarnings("ignore", "Label .* is present in all training examples")
        return estimator.fit(x, y)


def _linear_outputs(estimator: Any, task: Task, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(weights (k, width), biases (k,)) of a fitted scikit-learn estimator, such that
    `task.outputs(x @ weights.T + biases)` is its `predict_proba` (or `predict`)."""
    if task is REGRESSION:
        coef = np.asarray(estimator.coef_, dtype=np.float64).reshape(1, width)
        return coef, np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))
    if hasattr(estimator, "estimators_"):  # one-vs-rest: one sigmoid per label
        rows = [_binary(e, width) for e in estimator.estimators_]
        return np.vstack([w for w, _ in rows]), np.array([b for _, b in rows])
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    bias = np.asarray(estimator.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # binary: p(1) = sigmoid(s) = softmax([0, s])[1]
        return np.vstack([np.zeros(width), coef[0]]), np.array([0.0, bias[0]])
    return coef, bias


def _binary(estimator: Any, width: int) -> tuple[np.ndarray, float]:
    if hasattr(estimator, "coef_"):
        return np.asarray(estimator.coef_, dtype=np.float64).reshape(width), float(
            np.ravel(estimator.intercept_)[0]
        )
    # scikit-learn's constant predictor: the label was on every training text, or on none.
    always = float(np.ravel(estimator.y_)[0]) > 0.5
    return np.zeros(width), _CONSTANT_LOGIT if always else -_CONSTANT_LOGIT


class LinearModel:
    """Features plus one linear output per task output: what `model.architecture: linear`
    trains and saves. `outputs(texts)` gives what `Task.outputs` gives for a neural model:
    probabilities (n, labels) or regression values (n,)."""

    def __init__(
        self,
        features: Features,
        weights: np.ndarray,
        biases: np.ndarray,
        task: Task | str,
        labels: list[str],
        estimator: dict[str, Any] | None = None,
    ) -> None:
        self.features = features
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)  # (k, width)
        self.biases = np.ascontiguousarray(biases, dtype=np.float32)  # (k,)
        self.task = get_task(task)
        self.labels = [str(label) for label in labels]
        self.estimator = estimator or {}  # what was fitted: name, penalty, value

    @classmethod
    def from_estimator(
        cls, features: Features, estimator: Any, task: Task, labels: list[str], **info: Any
    ) -> LinearModel:
        weights, biases = _linear_outputs(estimator, task, features.width)
        return cls(features, weights, biases, task, labels, info)

    def logits(self, x: Any) -> np.ndarray:
        """(n, k) raw scores of feature rows `x`."""
        return np.asarray(x @ self.weights.T) + self.biases

    def outputs(self, texts_: list[str]) -> np.ndarray:
        """Probabilities or values of these texts (pairs joined with `join_pairs`)."""
        if not texts_:
            width = (len(self.labels),) if self.task.has_probabilities else ()
            return np.zeros((0, *width), dtype=np.float32)
        return self.outputs_of(self.features.transform(texts_))

    def outputs_of(self, x: Any) -> np.ndarray:
        return np.asarray(self.task.outputs(self.logits(x)), dtype=np.float32)

    # ---- files
    def save(self, path: str | Path) -> None:
        """`linear.safetensors` (arrays) and `linear.json` (settings) in directory `path`."""
        from safetensors.numpy import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {"weights": self.weights, "biases": self.biases}
        for name in BLOCKS:
            arrays[f"{name}.kept"] = self.features.kept_[name].astype(np.int64)
            arrays[f"{name}.idf"] = self.features.idf_[name].astype(np.float64)
        save_file(arrays, str(path / WEIGHTS))
        settings = {
            "format_version": FORMAT_VERSION,
            "features": {"buckets": BUCKETS, "min_df": self.features.min_df, "blocks": BLOCKS},
            "estimator": self.estimator,
            "task": self.task.name,
            "labels": self.labels,
        }
        (path / SETTINGS).write_text(json.dumps(settings, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LinearModel:
        from safetensors.numpy import load_file

        path = Path(path)
        if not (path / WEIGHTS).is_file() or not (path / SETTINGS).is_file():
            raise TextclassError(
                f"{path} is not a linear model directory: it needs {WEIGHTS} and {SETTINGS} "
                "(written by a run with model.architecture=linear); copy the whole model/ "
                "directory again from the run that wrote it."
            )
        settings = json.loads((path / SETTINGS).read_text(encoding="utf-8"))
        _check_settings(path, settings)
        arrays = load_file(str(path / WEIGHTS))
        features = Features(min_df=settings["features"]["min_df"])
        for name in BLOCKS:
            features.kept_[name] = arrays[f"{name}.kept"]
            features.idf_[name] = arrays[f"{name}.idf"]
        model = cls(
            features,
            arrays["weights"],
            arrays["biases"],
            settings["task"],
            settings["labels"],
            settings.get("estimator"),
        )
        if model.weights.shape != (len(model.biases), features.width):
            raise TextclassError(
                f"{path / WEIGHTS}: weights of shape {model.weights.shape} do not fit "
                f"{features.width} features and {len(model.biases)} outputs; the file is damaged "
                "or comes from another model. Copy the model directory again, or retrain."
            )
        return model


def _check_settings(path: Path, settings: dict[str, Any]) -> None:
    version = settings.get("format_version")
    features = settings.get("features", {})
    if version != FORMAT_VERSION or features.get("buckets") != BUCKETS:
        raise TextclassError(
            f"{path / SETTINGS}: format_version {version}, {features.get('buckets')} buckets; "
            f"this textclass reads format_version {FORMAT_VERSION} with {BUCKETS} buckets. "
            "Load it with the textclass version that trained it, or retrain."
        )
    if features.get("blocks") != BLOCKS:
        raise TextclassError(
            f"{path / SETTINGS}: its n-gram blocks {features.get('blocks')} are not the ones "
            "this textclass computes; retrain the model with this version."
        )


# ---------------------------------------------------------------- fitting


@dataclass
class LinearFit:
    """A fitted linear model and how its penalty was chosen."""

    model: LinearModel
    metric: str  # the validation metric that chose the penalty
    penalty: str  # "C" (logistic regression) or "alpha" (ridge)
    value: float  # the chosen one
    scores: dict[float, float | None]  # validation `metric` of each value tried
    validation: np.ndarray  # the chosen model's outputs on the validation split
    fit_seconds: float

    @property
    def description(self) -> str:
        return f"TF-IDF (word 1-2-grams, character 3-5-grams) + {self.model.task.linear_name}"


def fit_linear(
    data: PreparedData,
    metric: str | None = None,
    seed: int = 0,
    class_weights: Any = "none",
) -> LinearFit:
    """Fit on `data`'s training split, one model per penalty value of the task
    (`Task.linear_penalty`); keep the one with the best validation `metric` (the task's default
    when None). Multi-label scores are taken at the default cut (thresholds are tuned after)."""
    task = get_task(data.task)
    metric = metric or task.default_metric
    start = time.perf_counter()
    features = Features(min_df=2 if len(data.splits["train"]) >= 1000 else 1)
    x_train = features.fit_transform(texts(data.splits["train"]))
    x_val = features.transform(texts(data.splits["validation"]))
    y_train, y_val = data.targets("train"), data.targets("validation")
    name, values = task.linear_penalty
    weight = class_weight(class_weights, data.labels)
    models, outputs, scores = {}, {}, {}
    for value in values:
        estimator = _fit(task.linear_model(value, seed, x_train.shape[0], weight), x_train, y_train)
        models[value] = LinearModel.from_estimator(
            features, estimator, task, data.labels, name=task.linear_name, penalty=name, value=value
        )
        outputs[value] = models[value].outputs_of(x_val)
        scores[value] = _score(task, y_val, outputs[value], data.labels, metric)
    best = _best(scores, task.lower_is_better(metric))
    return LinearFit(
        model=models[best],
        metric=metric,
        penalty=name,
        value=best,
        scores=scores,
        validation=outputs[best],
        fit_seconds=time.perf_counter() - start,
    )


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
