"""Predict a file of any size with a saved model, streaming chunk by chunk."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from textclass.data.read import detect_format, read_table
from textclass.errors import DataError, TextclassError, did_you_mean
from textclass.inference.classifier import Classifier


def _chunks(path: Path, encoding: str, chunk_size: int):
    """Yield DataFrames of at most `chunk_size` rows, reading the file incrementally."""
    kind = detect_format(path)
    if kind in ("csv", "tsv"):
        yield from pd.read_csv(
            path,
            sep="," if kind == "csv" else "\t",
            encoding=encoding,
            dtype=str,
            keep_default_na=False,
            chunksize=chunk_size,
        )
    elif kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
            yield batch.to_pandas()
    elif kind == "jsonl":
        yield from pd.read_json(
            path, lines=True, chunksize=chunk_size, dtype=False, encoding=encoding
        )
    else:
        yield read_table(path, encoding=encoding)


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
) -> int:
    """Predict every row of `input` (any supported format), streaming chunk by chunk.

    Writes the input's columns plus `predicted` and (classification) one `prob_<label>` column
    per class to `output` (CSV, or JSONL if it ends in .jsonl). Returns the rows written.
    """
    from tqdm.auto import tqdm

    input, output = Path(input), Path(output)
    if not input.is_file() or input.stat().st_size == 0:
        read_table(input)  # raises the standard not-found / empty-file error
    if output.exists() and not overwrite:
        raise TextclassError(f"{output} exists; choose another --output or pass --overwrite.")
    clf = Classifier.load(model_dir)
    text_col = text_column or clf.columns.get("text") or "text"
    pair_col = text_pair_column or clf.columns.get("text_pair")
    tmp = output.with_name(output.name + ".partial")
    written = 0
    jsonl = output.suffix.lower() == ".jsonl"
    try:
        with (
            open(tmp, "w", encoding="utf-8", newline="") as fh,
            tqdm(desc="predicting", unit="text", disable=not progress) as bar,
        ):
            for chunk in _chunks(input, encoding, chunk_size):
                for column in (text_col, pair_col):
                    if column and column not in chunk.columns:
                        have = [str(c) for c in chunk.columns]
                        raise DataError(
                            f"{input}: no column `{column}`.{did_you_mean(column, have)}"
                            f" The columns are: {', '.join(have)}. "
                            "Name the text column with --text-column."
                        )
                texts = chunk[text_col].fillna("").astype(str).tolist()
                pairs = chunk[pair_col].fillna("").astype(str).tolist() if pair_col else None
                out = _predictions(clf, chunk, texts, pairs, batch_size)
                if jsonl:
                    out.to_json(fh, orient="records", lines=True, force_ascii=False)
                else:
                    out.to_csv(fh, index=False, header=written == 0)
                written += len(out)
                bar.update(len(out))
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return written


def _predictions(
    clf: Classifier, chunk: pd.DataFrame, texts: list[str], pairs: list[str] | None, batch: int
) -> pd.DataFrame:
    """The chunk's columns plus the decision and, with probabilities, one column per label."""
    outputs = clf.predict_outputs(texts, pairs, batch_size=batch)
    out = chunk.copy()
    out["predicted"] = [clf.task.format_prediction(d) for d in clf.decide(outputs)]
    if clf.task.has_probabilities:
        for i, label in enumerate(clf.labels):
            out[f"prob_{label}"] = outputs[:, i].round(6)
    return out
