"""Per-group summaries of a predictions file: the review-ranking use case.

    textclass predict MODEL -i reviews.csv -o preds.csv --group-by movie_name
    # also writes preds.groups.csv: per film, the number of reviews, the share of each predicted
    # label and the mean probability of each label, films ranked by the share of `fresh`

The predictions file (as written by `predict_file`: the input columns, `predicted`, then one
`prob_<label>` column per class) is read back in chunks, so it may be of any size; memory
grows with the number of groups only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from textclass.data.read import detect_format
from textclass.errors import DataError, TextclassError, did_you_mean
from textclass.evaluation.metrics import LABEL_SEPARATOR  # a multi-label prediction: `a|b`

PREDICTED = "predicted"


def groups_path(output: str | Path) -> Path:
    """Where the summary of `output` goes: preds.csv -> preds.groups.csv."""
    output = Path(output)
    return output.with_name(f"{output.stem}.groups.csv")


def input_columns(path: str | Path, encoding: str = "utf-8") -> list[str] | None:
    """The column names of a data file, reading only its start (None where that is not cheap:
    a JSON array is read whole, so it is checked after prediction instead)."""
    path = Path(path)
    kind = detect_format(path)
    if kind in ("csv", "tsv"):
        sep = "," if kind == "csv" else "\t"
        return [str(c) for c in pd.read_csv(path, sep=sep, encoding=encoding, nrows=0).columns]
    if kind == "jsonl":
        first = next(pd.read_json(path, lines=True, chunksize=1, encoding=encoding), None)
        return None if first is None else [str(c) for c in first.columns]
    if kind == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    return None


def check_group_column(columns: list[str] | None, column: str, where: str | Path) -> None:
    if columns is not None and column not in columns:
        raise DataError(
            f"{where}: no column `{column}` to group by.{did_you_mean(column, columns)} "
            f"The columns are: {', '.join(columns)}."
        )


def prepare_group_summary(
    input: str | Path, output: str | Path, group_by: str, encoding: str, overwrite: bool
) -> Path:
    """Before predicting: the summary's path, checked to be writable, and the group column
    checked to exist in the input (where that is cheap), so no long run ends in an error."""
    target = groups_path(output)
    if target.exists() and not overwrite:
        raise TextclassError(f"{target} exists; choose another --output or pass --overwrite.")
    input = Path(input)
    if input.is_file():
        try:
            columns = input_columns(input, encoding)
        except (ValueError, OSError, UnicodeDecodeError):
            columns = None  # unreadable: predict_file reports it properly
        check_group_column(columns, group_by, input)
    return target


def _read_chunks(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    if path.suffix.lower() == ".jsonl":
        yield from pd.read_json(path, lines=True, chunksize=chunk_size, dtype=False)
    else:
        yield from pd.read_csv(
            path, dtype=str, keep_default_na=False, chunksize=chunk_size, encoding="utf-8"
        )


def _labels_from_columns(columns: list[str]) -> list[str]:
    """The labels, from the `prob_<label>` columns that follow `predicted`."""
    if PREDICTED not in columns:
        raise DataError(f"no `{PREDICTED}` column: not a predictions file of `textclass predict`.")
    after = columns[columns.index(PREDICTED) + 1 :]
    return [c[len("prob_") :] for c in after if c.startswith("prob_")]


def _predicted_indicators(predicted: pd.Series, labels: list[str]) -> pd.DataFrame:
    """0/1 per text and label. Multi-label predictions are `a|b` label sets (empty: none)."""
    predicted = predicted.astype(str).where(predicted.notna(), "")
    if predicted.isin(labels).all():  # one label per text (labels may then hold `|`)
        dummies = pd.get_dummies(predicted, dtype=int)
    else:
        dummies = predicted.str.get_dummies(sep=LABEL_SEPARATOR)
    return dummies.reindex(columns=labels, fill_value=0).reset_index(drop=True)


def group_summary(
    predictions: str | Path,
    group_by: str,
    output: str | Path | None = None,
    *,
    rank_by: str | None = None,
    labels: list[str] | None = None,
    chunk_size: int = 100_000,
) -> pd.DataFrame:
    """Per group of `group_by`: count, share of each predicted label, mean probability of each
    label; ranked by the share of `rank_by` (default: the first label), then by count. For a
    multi-label model a share is that of the group's texts predicted with the label, so the
    shares of a group may sum to more (or less) than 1.

    Returns the table and, with `output`, writes it as CSV. Columns: the group column, `rank`,
    `count`, `share_<label>`..., `mean_prob_<label>`...
    """
    predictions = Path(predictions)
    counts: pd.DataFrame | None = None
    sums: pd.DataFrame | None = None
    for chunk in _read_chunks(predictions, chunk_size):
        columns = [str(c) for c in chunk.columns]
        if labels is None:
            labels = _labels_from_columns(columns)
        check_group_column(columns, group_by, predictions)
        if rank_by is not None and rank_by not in labels:
            raise TextclassError(
                f"--rank-by {rank_by!r} is not a label of this model ({', '.join(labels)})."
            )
        keys = chunk[group_by].astype(str).where(chunk[group_by].notna(), "")
        probs = chunk[[f"prob_{label}" for label in labels]].apply(pd.to_numeric, errors="coerce")
        probs.columns = labels
        probs.index = keys.values
        label_counts = _predicted_indicators(chunk[PREDICTED], labels)
        label_counts.index = keys.values
        label_counts = label_counts.groupby(level=0).sum()
        label_counts["__texts__"] = keys.value_counts()
        prob_sums = probs.groupby(level=0).sum()
        counts = label_counts if counts is None else counts.add(label_counts, fill_value=0)
        sums = prob_sums if sums is None else sums.add(prob_sums, fill_value=0)
    if counts is None or sums is None or labels is None:
        raise DataError(f"{predictions}: no predictions to summarise.")
    rank_by = rank_by or labels[0]
    total = counts.pop("__texts__")
    table = pd.DataFrame({"count": total.astype(int)})
    for label in labels:
        table[f"share_{label}"] = (counts[label] / total).round(6)
    for label in labels:
        table[f"mean_prob_{label}"] = (sums[label] / total).round(6)
    table.index.name = group_by
    table = table.reset_index()
    table = table.sort_values(
        [f"share_{rank_by}", "count", group_by], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)
    table.insert(1, "rank", range(1, len(table) + 1))
    if output is not None:
        table.to_csv(output, index=False)
    return table
