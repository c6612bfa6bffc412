"""Reading tables: CSV, TSV, JSON, JSONL, Parquet (and compressed CSV/TSV/JSON/JSONL), with
errors that name the file, line or column and the fix.

One reader for every command: `read_table` reads a whole file (training, `evaluate`),
`read_chunks` streams it a chunk of rows at a time (`predict`, group summaries) and
`read_columns` reads only its header; all three raise the same `DataError` messages.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import functools
import gzip
import hashlib
import io
import json
import logging
import lzma
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from textclass.errors import DataError, did_you_mean

log = logging.getLogger(__name__)

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
SPREADSHEET_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".ods")
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def detect_format(path: Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    if suffixes and suffixes[-1] in SPREADSHEET_SUFFIXES:
        raise DataError(
            f"{path}: spreadsheets are not read directly. Save the sheet as CSV (Excel: File >"
            ' Save As > "CSV UTF-8") and point to that file.'
        )
    raise DataError(
        f"{path}: cannot tell the format from the extension `{''.join(path.suffixes) or '(none)'}`."
        f" Use one of {', '.join(sorted(_SUFFIXES))}, or name the format: data.format=csv (tsv,"
        " json, jsonl, parquet)."
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- errors


def _existing_file(path: str | Path) -> Path:
    """`path`, checked to be a file with something in it."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise DataError(
            f"{path} is a link to {path.readlink()}, which does not exist; point the link (or "
            "the command) at the data file itself."
        )
    if not path.exists():
        hint = ""
        if path.parent.exists():
            hint = did_you_mean(path.name, [p.name for p in path.parent.iterdir()])
        raise DataError(f"data file not found: {path} (looked in {path.resolve().parent}).{hint}")
    if path.is_dir():
        raise DataError(
            f"{path} is a directory; name a data file (CSV, TSV, JSON, JSONL or Parquet)."
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes). Point to a file with a header and rows.")
    return path


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int, str] | None:
    """(line, column, byte) of the first bytes that do not decode; pandas reports offsets
    relative to an internal buffer, so the file is re-read line by line to say where."""
    if path.suffix.lower() in _COMPRESSED:
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
        f"{path}: not valid {encoding} text{at}. Save the file as UTF-8, or name its encoding: "
        "data.encoding=... in a config, --encoding ... on the command line (e.g. latin-1 or "
        "cp1252)."
    )


@contextlib.contextmanager
def _reading(path: Path, kind: str, encoding: str) -> Iterator[None]:
    """Turn what pandas, pyarrow and the codecs raise while reading into one DataError."""
    try:
        yield
    except DataError:
        raise
    except UnicodeDecodeError:
        raise _encoding_error(path, encoding) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} holds no data (no header, no rows).") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().removeprefix("Error tokenizing data. C error: ")
        sep = "," if kind == "csv" else "\\t"
        raise DataError(
            f"{path}: malformed {kind.upper()} ({detail}). Fields that contain the delimiter "
            f"'{sep}', quotes or line breaks must be enclosed in double quotes; fix that line "
            "or remove it."
        ) from None
    except LookupError:
        raise DataError(f"encoding `{encoding}` is not an encoding Python knows.") from None
    except ImportError as exc:  # .zst without the zstandard package
        raise DataError(
            f"{path}: reading it needs a package that is not installed ({exc}); "
            "`pip install zstandard`, or decompress the file first."
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raise DataError(f"{path}: cannot read it ({exc}).") from None
    except Exception as exc:  # pyarrow raises several types for a damaged Parquet file
        if kind != "parquet":
            raise
        raise DataError(f"{path}: cannot read as Parquet ({exc}).") from None


# ---------------------------------------------------------------- sniffing

_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed", ".gz"),
    (b"BZh", "bzip2-compressed", ".bz2"),
    (b"\xfd7zXZ\x00", "xz-compressed", ".xz"),
    (b"PK\x03\x04", "a ZIP archive", ".zip"),
    (b"PAR1", "a Parquet file", ".parquet"),
)


def _check_content(path: Path, kind: str) -> None:
    """A file whose bytes say another format than its name (a gzip or Parquet file saved as
    .csv, JSON saved as .csv) gets a message naming what it is, instead of a decoding error."""
    if path.suffix.lower() in _COMPRESSED or kind == "parquet":
        return
    with open(path, "rb") as fh:
        raw = fh.read(1 << 12)
    for magic, what, suffix in _MAGIC:
        if raw.startswith(magic):
            if suffix == ".zip" and (b"[Content_Types].xml" in raw or b"xl/" in raw):
                raise DataError(
                    f"{path} is an Excel workbook, not {kind.upper()} text. Save the sheet as "
                    'CSV (Excel: File > Save As > "CSV UTF-8") and point to that file.'
                )
            fix = (
                f"name it {path.stem}.parquet (or set data.format=parquet)"
                if suffix == ".parquet"
                else f"name it {path.name}{suffix} (it is then read as {kind.upper()})"
            )
            raise DataError(f"{path} is {what}, not {kind.upper()} text; {fix}.")
    start = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if kind in ("csv", "tsv") and start in (b"[", b"{") and b'":' in raw:
        raise DataError(
            f"{path} holds JSON, not {kind.upper()}; name it .json (one document) or .jsonl "
            "(one object per line), or set data.format=json (jsonl)."
        )


_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_OTHER_SEPARATORS = (";", "\t", "|")
_FIELD_QUOTE = re.compile(r'(?:^|\t)"', re.MULTILINE)
_QUOTED_FIELD = re.compile(r'"(?:[^"]|"")*"(?=\t|\r?\n|$)')


def _head(path: Path, size: int = 1 << 16) -> bytes:
    """The first bytes of the file's content (decompressed where its name says so)."""
    suffix = path.suffix.lower()
    try:
        if suffix in _OPENERS:
            with _OPENERS[suffix](path, "rb") as fh:
                return fh.read(size)
        if suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                names = _zip_members(archive)
                return archive.open(names[0], "r").read(size) if len(names) == 1 else b""
        with open(path, "rb") as fh:
            return fh.read(size)
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError):
        return b""  # the read itself reports it


def _zip_members(archive: zipfile.ZipFile) -> list[str]:
    """The files of an archive, without folders and the `__MACOSX/` entries Finder adds."""
    return [n for n in archive.namelist() if not n.endswith("/") and not n.startswith("__MACOSX/")]


def _encoding(path: Path, encoding: str) -> str:
    """A byte-order mark decides the encoding when the user left the default: Excel's
    "Unicode text" is UTF-16 with a BOM, its "CSV UTF-8" starts with a UTF-8 BOM."""
    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return encoding
    head = _head(path, 4)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return encoding


def _sample(path: Path, encoding: str) -> str:
    """The file's first MiB as text, decoded once for the sniffers that look at it."""
    stat = path.stat()
    return _decoded_head(str(path), stat.st_mtime_ns, stat.st_size, encoding)


@functools.lru_cache(maxsize=4)
def _decoded_head(path: str, mtime: int, size: int, encoding: str) -> str:
    try:
        return _head(Path(path), 1 << 20).decode(encoding, errors="replace").lstrip("\ufeff")
    except LookupError:
        return ""


_SEP_LINE = re.compile(r"^sep=(.)$")


def _first_line(path: Path, encoding: str) -> str:
    """The file's first line (split from the sample's start, not the whole sample)."""
    return next(iter(_sample(path, encoding)[: 1 << 16].splitlines()), "")


def _sep_line(path: Path, kind: str, encoding: str) -> str | None:
    """The separator a first line `sep=;` names (Excel writes and reads that line), or None."""
    line = _first_line(path, encoding) if kind in ("csv", "tsv") else ""
    found = _SEP_LINE.match(line.strip('"'))
    return found.group(1) if found else None


def _separator(path: Path, kind: str, encoding: str) -> str:
    """`,` for CSV and a tab for TSV, unless a .csv file's header has no comma but another
    common separator (European Excel writes `;`): then that one, said on the console. A first
    line `sep=X` (from Excel) names it, and is skipped."""
    sep = "," if kind == "csv" else "\t"
    named = _sep_line(path, kind, encoding)
    if named:
        log.info("%s: the first line `sep=%s` names the separator; read as such.", path, named)
        return named
    header = _first_line(path, encoding)
    if kind != "csv" or not header or "," in header:
        return sep
    found = [c for c in _OTHER_SEPARATORS if c in header]
    if len(found) == 1:
        log.info("%s: the header has no comma but %r: read as %r-separated.", path, *found * 2)
        return found[0]
    return sep


def _quoting(path: Path, kind: str, encoding: str) -> int:
    """How quotes are read. CSV: as quotes (the convention). TSV files are usually written
    without quoting, so a field that only starts with a quote (a tweet: `"Wow" he said`)
    would lose its quotes or, unbalanced, swallow the following rows. In a TSV, quotes are
    read as quotes only where every field that starts with one is a whole quoted field (which
    may hold tabs and line breaks); else as plain characters, as the GLUE TSV readers do, and
    said on the console."""
    if kind != "tsv":
        return csv.QUOTE_MINIMAL
    sample = _sample(path, encoding)
    whole = len(sample) < (1 << 19)  # a sample cut short may end inside a quoted field
    for start in _FIELD_QUOTE.finditer(sample):
        at = start.end() - 1
        if not _QUOTED_FIELD.match(sample, at) and (whole or len(sample) - at > 100_000):
            log.info("%s: quotes in fields are read as plain characters (not as quoting).", path)
            return csv.QUOTE_NONE
    return csv.QUOTE_MINIMAL


# ---------------------------------------------------------------- formats


def _open_text(path: Path, encoding: str) -> IO[str]:
    """The file as text, decompressed where its name says so (.gz, .bz2, .xz, .zip)."""
    suffix = path.suffix.lower()
    if suffix in _OPENERS:
        return _OPENERS[suffix](path, "rt", encoding=encoding)
    if suffix == ".zip":
        archive = zipfile.ZipFile(path)
        names = _zip_members(archive)
        if len(names) != 1:
            listed = f": {', '.join(names[:5])}" if names else ""
            raise DataError(
                f"{path}: a .zip must hold exactly one data file; it holds {len(names)}{listed}. "
                "Unpack it and point to the file."
            )
        return io.TextIOWrapper(archive.open(names[0], "r"), encoding=encoding)
    if suffix in _COMPRESSED:
        raise DataError(
            f"{path}: decompress it first; JSON and JSONL are read plain or from .gz, .bz2, "
            ".xz or .zip."
        )
    return open(path, encoding=encoding)


def _jsonl_records(path: Path, encoding: str) -> Iterator[dict]:
    with _open_text(path, encoding) as fh:
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
                whole = " If the file is one JSON array of objects, name it .json." * (
                    number == 1 and line.lstrip().startswith("[")
                )
                raise DataError(
                    f"{path}, line {number}: expected a JSON object like "
                    f'{{"text": ..., "label": ...}}, found {type(record).__name__}.{whole}'
                )
            yield record


def _jsonl_chunks(path: Path, encoding: str, size: int | None) -> Iterator[pd.DataFrame]:
    records: list[dict] = []
    for record in _jsonl_records(path, encoding):
        records.append(record)
        if size is not None and len(records) == size:
            yield _records_frame(records)
            records = []
    if records or size is None:
        yield _records_frame(records)


def _records_frame(records: list[dict]) -> pd.DataFrame:
    """JSON objects as rows, each value as parsed (object columns): a number column with a
    gap would otherwise turn `1` into `1.0` and a large integer into a rounded float."""
    return pd.DataFrame(records, dtype=object)


def _read_json(path: Path, encoding: str) -> pd.DataFrame:
    try:
        with _open_text(path, encoding) as fh:
            payload = json.loads(fh.read())
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
        return _records_frame(payload)
    if isinstance(payload, dict) and all(isinstance(v, list) for v in payload.values()):
        try:
            return pd.DataFrame(payload)
        except ValueError:
            pass  # lists of different lengths: the message below
    raise DataError(
        f'{path}: expected a list of objects ([{{"text": ..., "label": ...}}, ...]) '
        "or an object of equal-length column lists."
    )


def _csv_options(path: Path, kind: str, encoding: str) -> dict[str, Any]:
    """How pandas reads this CSV/TSV: separator, quoting, a `sep=` line skipped, all cells str."""
    return {
        "sep": _separator(path, kind, encoding),
        "dtype": str,
        "keep_default_na": False,
        "encoding": encoding,
        "quoting": _quoting(path, kind, encoding),
        "skiprows": 1 if _sep_line(path, kind, encoding) else 0,
        "index_col": False,  # never take the first column for an index: _check_first_rows
    }


def _csv_source(path: Path, encoding: str) -> Path | IO[str]:
    """What pandas reads: the path, or for a .zip its one data file (pandas would count
    Finder's `__MACOSX/` entries as files)."""
    return _open_text(path, encoding) if path.suffix.lower() == ".zip" else path


def _delimited(path: Path, kind: str, encoding: str, size: int | None) -> Iterator[pd.DataFrame]:
    options = _csv_options(path, kind, encoding)
    _check_first_rows(path, kind, encoding, options)
    source = _csv_source(path, encoding)
    if size is None:
        frame = pd.read_csv(source, **options)
        if kind == "tsv" and options["quoting"] != csv.QUOTE_NONE and _swallowed(frame) is not None:
            log.warning("%s: a quote ran over several rows: read again with quotes as text.", path)
            frame = pd.read_csv(
                _csv_source(path, encoding),
                **(options | {"quoting": csv.QUOTE_NONE}),
            )
        yield frame
        return
    rows = 0
    with pd.read_csv(source, chunksize=size, **options) as reader:
        for frame in reader:
            row = _swallowed(frame) if kind == "tsv" else None
            if row is not None:
                raise DataError(
                    f"{path}, data row {rows + row + 1}: a quote at the start of a field runs "
                    "over the following rows (the field holds tabs and line breaks). Remove that "
                    "quote, or quote the whole field and double the quotes inside it."
                )
            rows += len(frame)
            yield frame


def _swallowed(frame: pd.DataFrame) -> int | None:
    """The position of the first row holding a cell with both a tab and a line break: in a TSV
    that is rows taken in by an unbalanced quote (a real field rarely holds both)."""
    for column in frame.columns:
        cells = frame[column]
        if not pd.api.types.is_string_dtype(cells):
            continue
        cells = cells.astype(str)
        hit = cells.str.contains("\t", regex=False) & cells.str.contains("\n", regex=False)
        if hit.any():
            return int(np.flatnonzero(hit.to_numpy())[0])
    return None


def _check_first_rows(path: Path, kind: str, encoding: str, options: dict) -> None:
    """A first data row with more fields than the header would make pandas take the first
    column for an index (shifting every text into the label column) or drop the extra fields:
    a DataError names the line instead."""
    sample = _sample(path, encoding)
    quoting = options["quoting"]
    lines = sample.splitlines()[options["skiprows"] :][:50]
    if len(sample) >= (1 << 20):
        lines = lines[:-1]  # the last line of a cut sample may be partial
    reader = csv.reader(lines, delimiter=options["sep"], quoting=quoting)
    try:
        header = next(reader, None)
        for number, record in enumerate(reader, start=2 + options["skiprows"]):
            if header is not None and len(record) > len(header):
                raise DataError(
                    f"{path}: malformed {kind.upper()} (expected {len(header)} fields in line "
                    f"{number}, saw {len(record)}; the header is {', '.join(header)}). Fields "
                    f"that contain the delimiter {options['sep']!r}, quotes or line breaks must "
                    "be enclosed in double quotes; fix that line or remove it."
                )
    except csv.Error:
        return  # pandas reports malformed quoting with its own line number


def _parquet(path: Path, size: int | None) -> Iterator[pd.DataFrame]:
    if size is None:
        yield pd.read_parquet(path)
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=size):
        yield batch.to_pandas()


def _frames(path: Path, kind: str, encoding: str, size: int | None) -> Iterator[pd.DataFrame]:
    if kind in ("csv", "tsv"):
        yield from _delimited(path, kind, encoding, size)
    elif kind == "jsonl":
        yield from _jsonl_chunks(path, encoding, size)
    elif kind == "json":
        yield _read_json(path, encoding)  # one document: read whole
    elif kind == "parquet":
        yield from _parquet(path, size)
    else:
        raise DataError(
            f"format `{kind}`: use one of {', '.join(sorted(set(_SUFFIXES.values())))}."
        )


def _stream(path: Path, kind: str, encoding: str, size: int | None) -> Iterator[pd.DataFrame]:
    rows, columns = 0, []
    with _reading(path, kind, encoding):
        for frame in _frames(path, kind, encoding, size):
            columns = columns or [str(c) for c in frame.columns]
            rows += len(frame)
            if len(frame) or size is None:
                yield frame
    if rows == 0:
        if not columns:
            raise DataError(f"{path} holds no rows.")
        raise DataError(f"{path} has a header ({', '.join(columns)}) but no rows.")


# ---------------------------------------------------------------- the readers


def read_chunks(
    path: str | Path, fmt: str = "auto", encoding: str = "utf-8", chunk_size: int = 10_000
) -> Iterator[pd.DataFrame]:
    """Stream a data file as DataFrames of at most `chunk_size` rows (a JSON document comes
    whole). The file is checked before this returns; the rows, as they are read. CSV and TSV
    cells are strings, empty cells "" (never NaN)."""
    path = _existing_file(path)
    kind = detect_format(path, fmt)
    _check_content(path, kind)
    return _stream(path, kind, _encoding(path, encoding), chunk_size)


def read_table(path: str | Path, fmt: str = "auto", encoding: str = "utf-8") -> pd.DataFrame:
    """Read one data file into a DataFrame, turning every failure into a clear DataError."""
    path = _existing_file(path)
    kind = detect_format(path, fmt)
    _check_content(path, kind)
    (frame,) = _stream(path, kind, _encoding(path, encoding), None)
    return frame


def read_columns(path: str | Path, fmt: str = "auto", encoding: str = "utf-8") -> list[str] | None:
    """The column names of a data file from its start; None where that is not cheap (a JSON
    document is read whole, so its columns are checked when it is read)."""
    path = _existing_file(path)
    kind = detect_format(path, fmt)
    _check_content(path, kind)
    encoding = _encoding(path, encoding)
    with _reading(path, kind, encoding):
        if kind in ("csv", "tsv"):
            options = _csv_options(path, kind, encoding)
            header = pd.read_csv(_csv_source(path, encoding), nrows=0, **options)
            return [str(c) for c in header.columns]
        if kind == "jsonl":
            first = next(_jsonl_records(path, encoding), None)
            return None if first is None else [str(c) for c in first]
        if kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(path).schema_arrow.names)
    return None
