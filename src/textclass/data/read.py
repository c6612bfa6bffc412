"""Reading tables: CSV, TSV, JSON, JSONL, Parquet (and compressed CSV), with errors that name
the file, line or column and the fix."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from textclass.errors import DataError, did_you_mean

_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def detect_format(path: Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".zip", ".xz", ".zst"):
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise DataError(
        f"{path}: cannot tell the format from the extension `{''.join(path.suffixes) or '(none)'}`."
        f" Use one of {', '.join(sorted(_SUFFIXES))}, or set data.format."
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int, str] | None:
    """(line, column, byte) of the first bytes that do not decode; pandas reports offsets
    relative to an internal buffer, so the file is re-read line by line to say where."""
    if path.suffix.lower() in (".gz", ".bz2", ".zip", ".xz", ".zst"):
        return None
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as exc:
                column = len(raw[: exc.start].decode(encoding, errors="replace")) + 1
                return number, column, raw[exc.start : exc.start + 1].hex()
    return None


def _encoding_error(path: Path, encoding: str) -> DataError:
    where = _first_undecodable(path, encoding)
    at = f" at line {where[0]}, column {where[1]} (byte 0x{where[2]})" if where else ""
    return DataError(
        f"{path}: not valid {encoding} text{at}. Save the file as UTF-8, or name its encoding "
        "with data.encoding=... (e.g. data.encoding=latin-1 or data.encoding=cp1252)."
    )


def _read_jsonl(path: Path, encoding: str) -> pd.DataFrame:
    records = []
    with open(path, encoding=encoding) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path}, line {number}: not valid JSON ({exc.msg} at column {exc.colno}). "
                    "Each line of a JSONL file must be one JSON object; fix or remove that line."
                ) from None
            if not isinstance(record, dict):
                raise DataError(
                    f"{path}, line {number}: expected a JSON object like "
                    f'{{"text": ..., "label": ...}}, found {type(record).__name__}.'
                )
            records.append(record)
    return pd.DataFrame.from_records(records)


def _read_json(path: Path, encoding: str) -> pd.DataFrame:
    try:
        payload = json.loads(path.read_text(encoding=encoding))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}, line {exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})."
            " If the file holds one object per line, name it .jsonl or set data.format=jsonl."
        ) from None
    if (
        isinstance(payload, dict)
        and len(payload) == 1
        and isinstance(next(iter(payload.values())), list)
    ):
        payload = next(iter(payload.values()))  # {"data": [...]}
    if isinstance(payload, list) and all(isinstance(r, dict) for r in payload):
        return pd.DataFrame.from_records(payload)
    if isinstance(payload, dict) and all(isinstance(v, list) for v in payload.values()):
        return pd.DataFrame(payload)
    raise DataError(
        f'{path}: expected a list of objects ([{{"text": ..., "label": ...}}, ...]) '
        "or an object of equal-length column lists."
    )


def _read_delimited(path: Path, sep: str, encoding: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().removeprefix("Error tokenizing data. C error: ")
        raise DataError(
            f"{path}: malformed {'CSV' if sep == ',' else 'TSV'} ({detail}). Fields that contain "
            f"the delimiter {sep!r}, quotes or line breaks must be enclosed in double quotes; "
            "fix that line or remove it."
        ) from None


def read_table(path: str | Path, fmt: str = "auto", encoding: str = "utf-8") -> pd.DataFrame:
    """Read one data file into a DataFrame, turning every failure into a clear DataError."""
    path = Path(path)
    if not path.exists():
        hint = ""
        if path.parent.exists():
            hint = did_you_mean(path.name, [p.name for p in path.parent.iterdir()])
        raise DataError(f"data file not found: {path} (looked in {path.resolve().parent}).{hint}")
    if path.is_dir():
        raise DataError(f"{path} is a directory; data.train/validation/test must name a file.")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes). Point to a file with a header and rows.")
    kind = detect_format(path, fmt)
    try:
        if kind == "csv":
            frame = _read_delimited(path, ",", encoding)
        elif kind == "tsv":
            frame = _read_delimited(path, "\t", encoding)
        elif kind == "jsonl":
            frame = _read_jsonl(path, encoding)
        elif kind == "json":
            frame = _read_json(path, encoding)
        else:
            try:
                frame = pd.read_parquet(path)
            except Exception as exc:  # pyarrow raises several types for a damaged file
                raise DataError(f"{path}: cannot read as Parquet ({exc}).") from None
    except UnicodeDecodeError:
        raise _encoding_error(path, encoding) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} holds no data (no header, no rows).") from None
    except LookupError:
        raise DataError(f"data.encoding `{encoding}` is not an encoding Python knows.") from None
    if frame.empty:
        raise DataError(f"{path} has a header ({', '.join(map(str, frame.columns))}) but no rows.")
    return frame
