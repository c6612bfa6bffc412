"""Evaluate a saved model on any labelled file or DataFrame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from textclass.config.tasks import LABEL_SEPARATOR, MULTI_LABEL
from textclass.data.prepare import Columns, label_targets, standardise
from textclass.data.read import read_table
from textclass.errors import DataError
from textclass.inference.classifier import Classifier

_OPTIONS = {
    "text": "--text-column",
    "text_pair": "--text-pair-column",
    "label": "--label-column",
}


def evaluate_model(
    model_dir: str | Path,
    data: str | Path | pd.DataFrame,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    batch_size: int = 64,
    encoding: str = "utf-8",
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics and per-row predictions of a saved model on any labelled file or DataFrame.

    Column names default to those the model was trained with. Rows with an empty text or no
    label cannot be scored: they are left out, and `metrics["rows"]` says how many
    (`{"read": n, "evaluated": m, "dropped": {"empty_text": a, "missing_label": b}}`).
    """
    clf = Classifier.load(model_dir)
    frame, counts = read_labelled(
        clf, data, text_column, text_pair_column, label_column, encoding=encoding
    )
    pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
    texts = frame["text"].tolist()
    outputs = clf.predict_outputs(texts, pairs, batch_size=batch_size, clean=False)
    y = label_targets(frame, clf.labels, clf.task)
    thresholds = clf.thresholds if clf.task.tuned_thresholds else None
    metrics = clf.task.metrics(y, outputs, clf.labels, thresholds)
    metrics["rows"] = row_counts(counts)
    return metrics, clf.task.predictions_frame(frame, outputs, clf.labels, thresholds)


def read_labelled(
    clf: Classifier,
    data: str | Path | pd.DataFrame,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    encoding: str = "utf-8",
) -> tuple[pd.DataFrame, dict[str, int]]:
    """A labelled file or DataFrame as the model reads it: standard columns (`text`, `label`,
    `text_pair`; names default to the model's training columns), cleaned with the model's
    settings (duplicates kept), rows without a text or a label left out and counted; every
    label must be one of the model's."""
    frame = data if isinstance(data, pd.DataFrame) else read_table(data, encoding=encoding)
    where = "DataFrame" if isinstance(data, pd.DataFrame) else str(data)
    columns = Columns(
        text=text_column or clf.columns.get("text") or "text",
        label=label_column or clf.columns.get("label") or "label",
        text_pair=text_pair_column or clf.columns.get("text_pair"),
    )
    clean = clf.cleaning.model_copy(update={"drop_duplicates": False})
    frame, counts = standardise(
        frame,
        columns,
        where,
        clean,
        task=clf.task.name,
        label_delimiter=clf.meta.get("label_delimiter")
        or (LABEL_SEPARATOR if clf.task is MULTI_LABEL else None),
        keys=_OPTIONS,
    )
    check_labels(frame, clf, where)
    return frame, counts


def check_labels(frame: pd.DataFrame, clf: Classifier, where: str) -> None:
    """Every gold label of `frame` is one of the model's (a DataError naming them if not)."""
    unseen = _unseen_labels(frame, clf)
    if unseen:
        raise DataError(
            f"{where}: label(s) {', '.join(map(repr, unseen[:10]))} are not labels of this model "
            f"({', '.join(clf.labels[:20])})."
        )


def row_counts(counts: dict[str, int]) -> dict[str, Any]:
    """The rows read, evaluated and left out (by reason), from `standardise`'s counts."""
    dropped = {
        "empty_text": counts.get("empty_or_short_texts", 0),
        "missing_label": counts.get("missing_labels", 0),
    }
    return {"read": counts["rows"], "evaluated": counts["kept"], "dropped": dropped}


def describe_rows(rows: dict[str, Any]) -> str:
    """The row counts as a sentence: how many rows the metrics cover, and why not all."""
    line = f"evaluated {rows['evaluated']} of {rows['read']} rows"
    dropped = rows["dropped"]
    if rows["evaluated"] == rows["read"]:
        return line
    reasons = {
        "empty_text": "empty (or, after cleaning, too short) text",
        "missing_label": "no label",
    }
    parts = [f"{n} with {reasons.get(k, k)}" for k, n in dropped.items() if n]
    return f"{line}; left out {', '.join(parts)}"


def _unseen_labels(frame: pd.DataFrame, clf: Classifier) -> list[str]:
    if not clf.task.has_labels:
        return []
    labels = frame["label"]
    given = {v for vs in labels for v in vs} if clf.task is MULTI_LABEL else set(labels)
    return sorted(given - set(clf.labels))
