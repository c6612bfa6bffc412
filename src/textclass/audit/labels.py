"""Likely label errors: rows whose given label the out-of-fold probabilities disbelieve.

Confident learning (Northcutt et al. 2021, `cleanlab.filter.find_label_issues`) flags the rows
whose given label is unlikely under probabilities from a model that never saw them, ranked by
self-confidence (the probability of the given label: lowest first). The probabilities come from

- `tfidf_oof`: TF-IDF over word 1-2-grams and character 3-5-grams (within words) and
  logistic regression, `cross_val_predict` over FOLDS folds (stratified, iteratively for
  multi-label; seeded): seconds. For single-label data its probabilities are combined (a
  normalised geometric mean) with those of multinomial naive Bayes on word 1-2-gram TF-IDF,
  which ranks planted flips better than either alone (docs/audit.md). The folds are not
  grouped by `data.group_column`: a row's own label must not be seen, its group's others may
  (grouping lowered the precision on Rotten Tomatoes' planted flips, docs/audit.md);
- or a fine-tuned cross-validation run (`textclass cv`): its oof_predictions.csv, matched to the
  rows here by text (`read_oof`).

Multi-label data uses cleanlab's multi-label variant (a row is flagged when its label set is
unlikely; the suggestion is the set of labels over 0.5); regression has no classes to flip and
is skipped with that reason.

    found = label_issues(frame, labels, task, tfidf_oof(frame, labels, task, seed=42))
    found.ranked     # positions of `frame`, most likely error first
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from textclass.config.tasks import MULTI_LABEL, Task, get_task
from textclass.errors import DataError
from textclass.models.linear import Features, texts
from textclass.workflows import rundir

FOLDS = 5
C = 4.0  # inverse regularisation of the logistic regression (docs/audit.md: chosen on TREC/RT)
NB_ALPHA = 0.1  # smoothing of the naive Bayes model
MODELS = ("logistic", "naive_bayes")  # single-label: their probabilities' geometric mean
TFIDF = (
    "TF-IDF (word 1-2-grams, character 3-5-grams within words) + logistic regression "
    f"(C={C:g}), with naive Bayes for single-label data, {FOLDS}-fold out-of-fold"
)


class _Tfidf:
    """`textclass.models.linear.Features` as a scikit-learn transformer (for a pipeline)."""

    def __init__(self, min_df: int = 1) -> None:
        self.min_df = min_df

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"min_df": self.min_df}

    def set_params(self, **params: Any) -> _Tfidf:
        self.min_df = params.get("min_df", self.min_df)
        return self

    def fit(self, x: list[str], y: Any = None) -> _Tfidf:
        self.features_ = Features(self.min_df)
        self.features_.fit_transform(list(x))
        return self

    def fit_transform(self, x: list[str], y: Any = None) -> Any:
        self.features_ = Features(self.min_df)
        return self.features_.fit_transform(list(x))

    def transform(self, x: list[str]) -> Any:
        return self.features_.transform(list(x))


def _estimator(model: str, task: Task, seed: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    if model == "naive_bayes":
        words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        return make_pipeline(words, MultinomialNB(alpha=NB_ALPHA))
    regression = LogisticRegression(C=C, max_iter=2000, random_state=seed)
    if task is MULTI_LABEL:
        regression = OneVsRestClassifier(regression)
    return make_pipeline(_Tfidf(), regression)


def tfidf_oof(
    frame: pd.DataFrame,
    labels: list[str],
    task: Task | str,
    seed: int,
    grouped: bool = False,
    models: tuple[str, ...] = MODELS,
) -> np.ndarray:
    """Out-of-fold probabilities (rows x labels) of the TF-IDF models: every row predicted by
    models fitted on the other folds (stratified folds: `data.split.kfold`; by `group` only
    when `grouped`); single-label: the normalised geometric mean of the `models`' (multi-label:
    logistic regression's)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_val_predict

    from textclass.data.split import kfold

    task = get_task(task)
    folds = kfold(frame if grouped else frame.drop(columns="group", errors="ignore"), FOLDS, seed)
    cv = [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(1, FOLDS + 1)]
    y = task.targets(frame["label"], labels)
    x = np.array(texts(frame), dtype=object)
    if task is MULTI_LABEL:
        models = ("logistic",)
    each = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Label .* is present in all training examples")
        warnings.filterwarnings("ignore", "The least populated class")
        for model in models:
            probs = cross_val_predict(
                _estimator(model, task, seed), x, y, cv=cv, method="predict_proba"
            )
            each.append(np.asarray(probs, dtype=np.float64))
    if len(each) == 1:
        return each[0]
    combined = np.exp(np.mean([np.log(np.clip(p, 1e-12, 1.0)) for p in each], axis=0))
    return combined / combined.sum(axis=1, keepdims=True)


@dataclass
class LabelIssues:
    """Rows flagged as likely label errors, and the ranking of every row."""

    flagged: np.ndarray  # positions, most likely error first (cleanlab's filter)
    quality: np.ndarray  # per row: the label quality score (self-confidence), low = suspect
    suggested: list[str]  # per row: the label the probabilities prefer
    confidence: np.ndarray  # per row: the probability of the suggested label (set)
    oof_accuracy: float  # the out-of-fold predictions against the given labels
    source: str
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ranked(self) -> np.ndarray:
        """Every row, the least trusted label first (for precision at k)."""
        return np.argsort(self.quality, kind="stable")


def label_issues(
    frame: pd.DataFrame, labels: list[str], task: Task | str, probs: np.ndarray, source: str
) -> LabelIssues:
    """cleanlab's label issues of `frame` under the out-of-fold `probs` (rows x labels)."""
    started = time.perf_counter()
    task = get_task(task)
    if task is MULTI_LABEL:
        return _multilabel_issues(frame, labels, probs, source, started)
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    y = task.targets(frame["label"], labels)
    flagged = find_label_issues(y, probs, return_indices_ranked_by="self_confidence", n_jobs=1)
    quality = get_label_quality_scores(y, probs, method="self_confidence")
    best = probs.argmax(axis=1)
    return LabelIssues(
        flagged=np.asarray(flagged, dtype=np.int64),
        quality=np.asarray(quality),
        suggested=[labels[i] for i in best],
        confidence=probs.max(axis=1),
        oof_accuracy=float((best == y).mean()),
        source=source,
        seconds=time.perf_counter() - started,
    )


def _multilabel_issues(
    frame: pd.DataFrame, labels: list[str], probs: np.ndarray, source: str, started: float
) -> LabelIssues:
    from cleanlab.multilabel_classification.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    index = {label: i for i, label in enumerate(labels)}
    given = [[index[v] for v in row if v in index] for row in frame["label"]]
    with warnings.catch_warnings():  # "may not flag all label issues in class": rare labels
        warnings.simplefilter("ignore", UserWarning)
        flagged = find_label_issues(
            given, probs, return_indices_ranked_by="self_confidence", n_jobs=1
        )
    quality = get_label_quality_scores(given, probs)
    chosen = probs >= 0.5
    y = MULTI_LABEL.targets(frame["label"], labels) >= 0.5
    return LabelIssues(
        flagged=np.asarray(flagged, dtype=np.int64),
        quality=np.asarray(quality),
        suggested=["|".join(np.asarray(labels)[row]) for row in chosen],
        confidence=np.where(chosen, probs, 1 - probs).prod(axis=1),
        oof_accuracy=float((chosen == y).all(axis=1).mean()),
        source=source,
        seconds=time.perf_counter() - started,
    )


# ---------------------------------------------------------------- a cross-validation run's


def oof_file(path: str | Path) -> Path:
    """The oof_predictions.csv of a `textclass cv` directory, or the file itself."""
    path = Path(path)
    target = path / rundir.OOF_PREDICTIONS if path.is_dir() else path
    if not target.is_file():
        raise DataError(
            f"--oof {path}: no {rundir.OOF_PREDICTIONS} there. Point --oof at a finished "
            "`textclass cv` directory or at its oof_predictions.csv."
        )
    return target


def read_oof(
    path: str | Path, frame: pd.DataFrame, labels: list[str], task: Task | str
) -> np.ndarray:
    """The out-of-fold probabilities of a cross-validation run for the rows of `frame` (the
    training and validation splits pooled, as `textclass cv` pools them), matched by text and
    checked: the same rows, the same labels. Anything else is a DataError saying what differs."""
    target = oof_file(path)
    multi = get_task(task) is MULTI_LABEL
    oof = rundir.read_predictions_file(target)
    where = f"--oof {target}"
    probs = rundir.prediction_outputs(oof, labels, probabilities=True, where=where)
    key = _keys(oof)
    if key.duplicated().any():
        raise DataError(f"{where}: a text occurs twice; it is not one cross-validation's rows.")
    position = pd.Series(np.arange(len(oof)), index=key.to_numpy())
    wanted = _keys(frame)
    missing = ~wanted.isin(position.index)
    if missing.any() or len(oof) != len(frame):
        first = np.flatnonzero(missing.to_numpy())
        example = frame["text"].iloc[int(first[0])] if len(first) else ""
        raise DataError(
            f"{where} holds {len(oof):,} rows, the training and validation splits here "
            f"{len(frame):,}; {int(missing.sum()):,} of these texts are not in it"
            + (f" (e.g. {example[:80]!r})" if example else "")
            + ". Run `textclass cv` with this same config (data, cleaning and seed) and pass "
            "its directory."
        )
    order = position.loc[wanted.to_numpy()].to_numpy()
    gold = oof["gold"].to_numpy()[order]
    given = frame["label"].map(MULTI_LABEL.format_prediction if multi else str).to_numpy()
    differ = np.flatnonzero(gold != given)
    if len(differ):
        i = int(differ[0])
        raise DataError(
            f"{where}: {len(differ):,} rows have another label there (e.g. "
            f"{frame['text'].iloc[i][:60]!r}: {gold[i]!r} there, {given[i]!r} here). The "
            "cross-validation was run on other labels: run it again on this data."
        )
    return probs[order]


def _keys(frame: pd.DataFrame) -> pd.Series:
    key = frame["text"].astype(str)
    return key + "\x1f" + frame["text_pair"].astype(str) if "text_pair" in frame.columns else key
