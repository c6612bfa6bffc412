"""Per-group summaries of a predictions file: the review-ranking use case.

    textclass predict MODEL -i reviews.csv -o preds.csv --group-by movie_name
    # also writes preds.groups.csv: per film, the number of reviews, the share of each predicted
    # label and the mean probability of each label, films ranked by the share of `fresh`

The predictions file (as written by `predict_file`: the input columns, `predicted`, then one
`prob_<label>` column per class) is read back in chunks, so it may be of any size; memory
grows with the number of groups only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from textclass.data.read import read_chunks, read_columns
from textclass.errors import DataError, TextclassError, did_you_mean
from textclass.evaluation.metrics import LABEL_SEPARATOR  # a multi-label prediction: `a|b`

PREDICTED = "predicted"
EXCLUDED = "excluded"  # per group: rows left out (no prediction, unreadable probabilities)


def groups_path(output: str | Path) -> Path:
    """Where the summary of `output` goes: preds.csv -> preds.groups.csv."""
    output = Path(output)
    return output.with_name(f"{output.stem}.groups.csv")


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
    checked to exist in the input (where that is cheap), so no long run ends in an error. An
    unreadable input is reported here, as `predict` would report it."""
    target = groups_path(output)
    if target.exists() and not overwrite:
        raise TextclassError(f"{target} exists; choose another --output or pass --overwrite.")
    check_group_column(read_columns(input, encoding=encoding), group_by, input)
    return target


def _output_names(columns: list[str], names: dict[str, str] | None) -> tuple[str, dict[str, str]]:
    """The prediction column and {label: probability column}: those `predict_file` reported
    (`names`, as in `PredictedRows.columns`), or read from the header: the `prob_<label>`
    columns that follow `predicted`."""
    if names:
        probs = {k[len("prob_") :]: v for k, v in names.items() if k.startswith("prob_")}
        return names[PREDICTED], probs
    if PREDICTED not in columns:
        raise DataError(f"no `{PREDICTED}` column: not a predictions file of `textclass predict`.")
    after = columns[columns.index(PREDICTED) + 1 :]
    return PREDICTED, {c[len("prob_") :]: c for c in after if c.startswith("prob_")}


def _label_set(value) -> str:
    """A prediction cell as `a|b`: JSONL holds label sets as lists."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return LABEL_SEPARATOR.join(map(str, value))
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _predicted_indicators(predicted: pd.Series, labels: list[str]) -> pd.DataFrame:
    """0/1 per text and label. Multi-label predictions are `a|b` label sets (empty: none)."""
    predicted = predicted.map(_label_set)
    if predicted.isin(labels).all():  # one label per text (labels may then hold `|`)
        dummies = pd.get_dummies(predicted, dtype=int)
    else:
        dummies = predicted.str.get_dummies(sep=LABEL_SEPARATOR)
    return dummies.reindex(columns=labels, fill_value=0).reset_index(drop=True)


def _readable(chunk: pd.DataFrame, predicted: str, probs: pd.DataFrame) -> pd.Series:
    """Rows that can be summarised: a prediction and a number in [0, 1] in every probability
    cell. Others (a row `predict` left without text, a damaged cell) are left out, counted."""
    ok = pd.Series(np.isfinite(probs.to_numpy()).all(axis=1), index=chunk.index)
    ok &= ((probs >= 0) & (probs <= 1)).all(axis=1).to_numpy()
    if probs.shape[1] == 0:  # no probabilities: a prediction is needed
        ok &= chunk[predicted].map(_label_set) != ""
    return ok


def group_summary(
    predictions: str | Path,
    group_by: str,
    output: str | Path | None = None,
    *,
    rank_by: str | None = None,
    labels: list[str] | None = None,
    columns: dict[str, str] | None = None,
    chunk_size: int = 100_000,
) -> pd.DataFrame:
    """Per group of `group_by`: count, share of each predicted label, mean probability of each
    label; ranked by the share of `rank_by` (default: the first label), then by count. For a
    multi-label model a share is that of the group's texts predicted with the label, so the
    shares of a group may sum to more (or less) than 1.

    Rows without a prediction or with a probability cell that is not a number in [0, 1] are
    left out of the shares and means, and counted per group in `excluded`. `columns`: the
    output column names `predict_file` used (`PredictedRows.columns`), where they differ from
    `predicted` / `prob_<label>`.

    Returns the table and, with `output`, writes it as CSV. Columns: the group column, `rank`,
    `count` (rows summarised), `share_<label>`..., `mean_prob_<label>`..., `excluded`.
    """
    predictions = Path(predictions)
    totals: pd.DataFrame | None = None
    for chunk in read_chunks(predictions, chunk_size=chunk_size):
        chunk = chunk.reset_index(drop=True)
        header = [str(c) for c in chunk.columns]
        predicted, prob_columns = _output_names(header, columns)
        labels = labels or list(prob_columns)
        check_group_column(header, group_by, predictions)
        probs = [prob_columns.get(k, f"prob_{k}") for k in labels]
        _check_outputs(header, predicted, probs, predictions)
        if rank_by is not None and rank_by not in labels:
            raise TextclassError(
                f"--rank-by {rank_by!r} is not a label of this model ({', '.join(labels)})."
            )
        part = _chunk_sums(chunk, group_by, predicted, probs, labels)
        totals = part if totals is None else totals.add(part, fill_value=0)
    if totals is None or labels is None:
        raise DataError(f"{predictions}: no predictions to summarise.")
    table = _table(totals, labels, group_by, rank_by or labels[0])
    if output is not None:
        table.to_csv(output, index=False)
    return table


def _check_outputs(header: list[str], predicted: str, probs: list[str], where: Path) -> None:
    missing = [c for c in [predicted, *probs] if c not in header]
    if missing:
        raise DataError(
            f"{where}: no column(s) {', '.join(f'`{c}`' for c in missing)}; is it the "
            "predictions file of that model (`textclass predict` output)?"
        )
    if not probs:
        raise DataError(
            f"{where}: no `prob_<label>` columns: group summaries need a classifier's "
            "probabilities (a regression model predicts values)."
        )


def _chunk_sums(
    chunk: pd.DataFrame, group_by: str, predicted: str, prob_columns: list[str], labels: list[str]
) -> pd.DataFrame:
    """Per group of one chunk: texts summarised, texts excluded, predicted-label counts and
    probability sums (`p:<label>`) over the summarised texts."""
    keys = chunk[group_by].map(_label_set)
    probs = chunk[prob_columns].apply(pd.to_numeric, errors="coerce").astype(float)
    ok = _readable(chunk, predicted, probs).to_numpy()
    counts = _predicted_indicators(chunk[predicted], labels)
    probs.columns = [f"p:{label}" for label in labels]
    part = pd.concat([counts, probs.reset_index(drop=True)], axis=1)[ok]
    part["__texts__"] = 1
    part.index = keys.to_numpy()[ok]
    sums = part.groupby(level=0).sum()
    excluded = pd.Series(1, index=keys.to_numpy()[~ok]).groupby(level=0).sum()
    return sums.reindex(sums.index.union(excluded.index), fill_value=0).assign(
        __excluded__=excluded.reindex(sums.index.union(excluded.index), fill_value=0)
    )


def _table(totals: pd.DataFrame, labels: list[str], group_by: str, rank_by: str) -> pd.DataFrame:
    total = totals["__texts__"]
    shown = total.where(total > 0)  # a group with every row excluded: shares and means empty
    table = pd.DataFrame({"count": total.astype(int)})
    for label in labels:
        table[f"share_{label}"] = (totals[label] / shown).round(6)
    for label in labels:
        table[f"mean_prob_{label}"] = (totals[f"p:{label}"] / shown).round(6)
    table[EXCLUDED] = totals["__excluded__"].astype(int)
    table.index.name = group_by
    table = table.reset_index()
    table = table.sort_values(
        [f"share_{rank_by}", "count", group_by],
        ascending=[False, False, True],
        kind="stable",
        na_position="last",
    ).reset_index(drop=True)
    table.insert(1, "rank", range(1, len(table) + 1))
    return table
