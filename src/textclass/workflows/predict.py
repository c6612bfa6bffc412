"""Predict a file of any size with a saved model, streaming chunk by chunk.

Nothing in the input is changed or dropped: every row is written, in order, with its columns as
they were. A row without text (a missing or empty cell, or one the model's cleaning empties) is
written without a prediction and counted; output columns whose names the input already uses get
a suffix (`predicted_1`, `prob_<label>_1`) instead of replacing the input's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from textclass.data.clean import clean_texts
from textclass.data.prepare import as_text, find_column
from textclass.data.read import read_chunks
from textclass.errors import DataError, TextclassError
from textclass.inference.classifier import Classifier

PREDICTED = "predicted"
EXAMPLE_ROWS = 10  # row numbers quoted in the console note on rows without text


class PredictedRows(int):
    """What `predict_file` returns: the number of rows written (an int), plus

    - `no_text`: rows written without a prediction (missing or empty text),
    - `no_text_rows`: the first of them, as 1-based data row numbers,
    - `columns`: each output column's standard name -> its name in the file (they differ where
      the input already had a column of that name).
    """

    no_text: int
    no_text_rows: list[int]
    columns: dict[str, str]

    def __new__(
        cls, written: int, no_text: int, no_text_rows: list[int], columns: dict[str, str]
    ) -> PredictedRows:
        self = super().__new__(cls, written)
        self.no_text, self.no_text_rows, self.columns = no_text, no_text_rows, columns
        return self

    def notes(self) -> list[str]:
        """What the output holds besides one prediction per row, as sentences for the user."""
        out = []
        if self.no_text:
            shown = ", ".join(map(str, self.no_text_rows))
            more = ", ..." if self.no_text > len(self.no_text_rows) else ""
            cells = "cell" if len(self.columns) == 1 else "and probability cells"
            out.append(
                f"{self.no_text} row(s) had no text (data rows {shown}{more}): written "
                f"without a prediction, their `{self.columns[PREDICTED]}` {cells} empty."
            )
        renamed = {k: v for k, v in self.columns.items() if k != v}
        if renamed:
            out.append(
                f"the input already has column(s) {', '.join(f'`{k}`' for k in renamed)}; "
                f"they are kept as they were, and the predictions are in "
                f"{', '.join(f'`{v}`' for v in self.columns.values())}."
            )
        return out


def output_columns(clf: Classifier, taken: list[str]) -> dict[str, str]:
    """The standard output column names -> the names used: all with the first suffix `_N` that
    clashes with none of `taken` (the input's columns), or unchanged where none clashes."""
    names = [PREDICTED]
    if clf.task.has_probabilities:
        names += [f"prob_{label}" for label in clf.labels]
    taken_set = set(taken)
    suffix, n = "", 0
    while any(name + suffix in taken_set for name in names):
        n += 1
        suffix = f"_{n}"
    return {name: name + suffix for name in names}


def _resolve_columns(chunk: pd.DataFrame, wanted: list[str], input: Path) -> list[str]:
    """The input's columns for the text (and pair), found as training finds them."""
    keys = ["--text-column", "--text-pair-column"]
    return [
        find_column(chunk, name, key, str(input)) for name, key in zip(wanted, keys, strict=False)
    ]


def _conform(chunk: pd.DataFrame, first: list[str], names: dict[str, str], where: str, jsonl):
    """A later chunk (JSONL rows may differ in keys) as the first one's columns: a CSV has one
    header, so a new column there is an error; no new column may clash with an output's."""
    new = [str(c) for c in chunk.columns if str(c) not in first]
    clash = [c for c in new if c in names.values()]
    if clash or (new and not jsonl):
        raise DataError(
            f"{where}: key(s) {', '.join(map(repr, new))} first appear here, after the first "
            "chunk of rows, so the predictions file cannot hold them"
            + (f" (they clash with the output columns {clash})" if clash else "")
            + ". Write JSONL (-o NAME.jsonl), or raise --chunk-size above the number of rows."
        )
    return chunk if jsonl else chunk.reindex(columns=first)


def _check_paths(input: Path, output: Path, overwrite: bool) -> None:
    """Before anything is loaded: the output may be written, and is not the input. Its name
    says CSV or JSONL: a CSV written to `out.parquet` or `out.csv.gz` would not be what its
    name says."""
    if output.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
        suffix, stem = output.suffix or "(no extension)", output.name.split(".")[0]
        raise TextclassError(
            f"{output}: predictions are written as CSV or JSONL, not `{suffix}`; name the "
            f"output {stem}.csv or {stem}.jsonl."
        )
    if output.is_dir():
        raise TextclassError(f"{output} is a folder; name a file in it, e.g. {output}/preds.csv.")
    if not output.parent.is_dir():
        raise TextclassError(f"{output.parent} is not a folder; create it or choose another -o.")
    if output.exists() and input.exists() and output.resolve() == input.resolve():
        raise TextclassError(f"{output} is the input file; write the predictions elsewhere.")
    if output.exists() and not overwrite:
        raise TextclassError(f"{output} exists; choose another --output or pass --overwrite.")


def predict_file(
    model_dir: str | Path,
    input: str | Path,
    output: str | Path,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    batch_size: int = 64,
    chunk_size: int = 10_000,
    encoding: str = "utf-8",
    overwrite: bool = False,
    progress: bool = True,
) -> PredictedRows:
    """Predict every row of `input` (any supported format), streaming chunk by chunk.

    Writes the input's columns plus `predicted` and (classification) one `prob_<label>` column
    per class to `output` (CSV, or JSONL if it ends in .jsonl, where a multi-label prediction is
    a list of labels). Rows without text are written with those cells empty; output columns the
    input already has get a suffix (see `PredictedRows.columns`). Returns the rows written.
    """
    from tqdm.auto import tqdm

    input, output = Path(input), Path(output)
    _check_paths(input, output, overwrite)
    chunks = read_chunks(input, encoding=encoding, chunk_size=chunk_size)  # checks the file
    clf = Classifier.load(model_dir)
    wanted = [text_column or clf.columns.get("text") or "text"]
    wanted += [c for c in [text_pair_column or clf.columns.get("text_pair")] if c]
    tmp = output.with_name(output.name + ".partial")
    jsonl = output.suffix.lower() in (".jsonl", ".ndjson")
    written, no_text = 0, []
    first: list[str] = []
    names: dict[str, str] = {}
    try:
        with (
            open(tmp, "w", encoding="utf-8", newline="") as fh,
            tqdm(desc="predicting", unit="text", disable=not progress) as bar,
        ):
            for chunk in chunks:
                chunk = chunk.reset_index(drop=True)
                if not first:
                    wanted = _resolve_columns(chunk, wanted, input)
                    first = [str(c) for c in chunk.columns]
                    names = output_columns(clf, first)
                else:
                    chunk = _conform(chunk, first, names, f"{input}, row {written + 1}", jsonl)
                    for column in wanted:  # JSONL rows without the key: rows without text
                        if column not in chunk.columns:
                            chunk[column] = None
                texts = [as_text(chunk[c], c, str(input), written + 1).tolist() for c in wanted]
                out, empty = _predictions(clf, chunk, texts, names, batch_size, jsonl)
                no_text += [written + 1 + i for i in empty]
                if jsonl:
                    out.to_json(fh, orient="records", lines=True, force_ascii=False)
                else:
                    out.to_csv(fh, index=False, header=written == 0)
                written += len(out)
                bar.update(len(out))
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return PredictedRows(written, len(no_text), no_text[:EXAMPLE_ROWS], names)


def _predictions(
    clf: Classifier,
    chunk: pd.DataFrame,
    raw: list[list[str]],
    names: dict[str, str],
    batch: int,
    jsonl: bool,
) -> tuple[pd.DataFrame, list[int]]:
    """The chunk's columns plus the decision and, with probabilities, one column per label;
    and the positions of the rows without text (their output cells left empty)."""
    texts = clean_texts(raw[0], clf.cleaning)
    pairs = clean_texts(raw[1], clf.cleaning) if raw[1:] else None
    keep = [i for i, t in enumerate(texts) if t.strip()]
    outputs = clf.predict_outputs(
        [texts[i] for i in keep],
        [pairs[i] for i in keep] if pairs is not None else None,
        batch_size=batch,
        clean=False,
    )
    predicted: list[Any] = [None] * len(chunk)
    for i, decided in zip(keep, clf.decide(outputs), strict=True):
        label_set = jsonl and isinstance(decided, (list, tuple))  # JSON: a list, not `a|b`
        predicted[i] = list(decided) if label_set else clf.task.format_prediction(decided)
    out = chunk.copy()
    out[names[PREDICTED]] = pd.Series(predicted, index=out.index, dtype=object)
    if clf.task.has_probabilities:
        probs = np.full((len(chunk), len(clf.labels)), np.nan)
        probs[keep] = outputs
        for i, label in enumerate(clf.labels):
            out[names[f"prob_{label}"]] = probs[:, i].round(6)
    empty = sorted(set(range(len(chunk))) - set(keep))
    return out, empty
