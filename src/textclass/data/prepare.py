"""Reading labelled text: files or DataFrames in, clean train/validation/test frames out.

Every frame that leaves this module has the columns `text`, `label` (a string; for multi-label
data a sorted list of strings, possibly empty) and, where configured, `text_pair` and `group`.
Problems with the input raise `DataError` naming the file, line or column and the fix.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, train_test_split

from textclass.config.schema import DataConfig
from textclass.config.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task, get_task
from textclass.data import datasets
from textclass.data.clean import clean_texts
from textclass.errors import DataError, did_you_mean

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
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


@dataclass(frozen=True)
class Columns:
    """Where text, pair, label and group live in the user's data."""

    text: str = "text"
    label: str = "label"
    text_pair: str | None = None
    group: str | None = None

    @classmethod
    def from_config(cls, cfg: DataConfig, use_dataset: bool) -> Columns:
        spec = datasets.get(cfg.dataset) if use_dataset and cfg.dataset else None
        return cls(
            text=cfg.text_column or (spec.text_column if spec else "text"),
            label=cfg.label_column or (spec.label_column if spec else "label"),
            text_pair=cfg.text_pair_column,
            group=cfg.group_column or (spec.group_column if spec else None),
        )


@dataclass
class PreparedData:
    """Clean splits plus everything the run needs to record about them."""

    splits: dict[str, pd.DataFrame]
    labels: list[str]
    columns: Columns
    stats: dict[str, Any] = field(default_factory=dict)
    file_hashes: dict[str, str] = field(default_factory=dict)
    task: str = SINGLE_LABEL.name
    label_delimiter: str | None = None

    def targets(self, split: str) -> np.ndarray:
        """Class ids (single-label), a 0/1 matrix (multi-label) or values (regression)."""
        return label_targets(self.splits[split], self.labels, self.task)

    def label_prior(self) -> np.ndarray | None:
        """Multi-label: each label's share of the training texts (None for single-label)."""
        return self.targets("train").mean(axis=0) if self.task == MULTI_LABEL else None


def label_targets(frame: pd.DataFrame, labels: list[str], task: Task | str) -> np.ndarray:
    """The `label` column as the task's targets: class ids (int64), a float32 0/1 matrix
    (multi-label) or float32 values (regression)."""
    return get_task(task).targets(frame["label"], labels)


# ---------------------------------------------------------------- reading


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


# ---------------------------------------------------------------- columns, cleaning


def _check_columns(frame: pd.DataFrame, columns: Columns, where: str, need_label: bool) -> None:
    wanted = {"data.text_column": columns.text}
    if need_label:
        wanted["data.label_column"] = columns.label
    if columns.text_pair:
        wanted["data.text_pair_column"] = columns.text_pair
    if columns.group:
        wanted["data.group_column"] = columns.group
    have = [str(c) for c in frame.columns]
    for key, name in wanted.items():
        if name not in frame.columns:
            hint = did_you_mean(name, have)
            raise DataError(
                f"{where}: no column `{name}` ({key}).{hint} The columns are: {', '.join(have)}. "
                f"Set {key}=<name> to use another column."
            )


def _as_text(values: pd.Series) -> pd.Series:
    return values.map(
        lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
    )


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def looks_multi_label(values: pd.Series) -> bool:
    """True when label cells are lists (JSON arrays, Parquet list columns)."""
    return bool(values.map(_is_list).any())


def _label_list(value: Any, delimiter: str | None) -> list[str] | None:
    if _is_missing(value):
        return None
    if _is_list(value):
        items = [str(v) for v in value if not _is_missing(v)]
    elif delimiter:
        items = str(value).split(delimiter)
    else:
        items = [str(value)]
    return sorted({item.strip() for item in items if item.strip()})


def standardise(
    frame: pd.DataFrame,
    columns: Columns,
    where: str,
    cleaning,
    need_label: bool = True,
    task: str = SINGLE_LABEL.name,
    label_delimiter: str | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Select and rename the configured columns, clean texts, drop unusable rows (counted).

    Multi-label cells may be lists or `label_delimiter`-separated strings; an empty cell is a
    text with no labels (kept), a missing one (null) is dropped.
    """
    _check_columns(frame, columns, where, need_label)
    out = pd.DataFrame({"text": _as_text(frame[columns.text])})
    if columns.text_pair:
        out["text_pair"] = _as_text(frame[columns.text_pair])
    if need_label and task == MULTI_LABEL:
        out["label"] = [_label_list(v, label_delimiter) for v in frame[columns.label]]
    elif need_label and task == REGRESSION:
        out["label"] = _numbers(frame[columns.label], columns.label, where)
    elif need_label:
        lists = frame[columns.label].map(_is_list)
        if lists.any():
            row = int(np.flatnonzero(lists.to_numpy())[0])
            raise DataError(
                f"{where}, row {row + 1}: column `{columns.label}` holds a list of labels, but "
                "the task is single-label. Set data.task=multi_label."
            )
        out["label"] = _as_text(frame[columns.label]).str.strip()
    if columns.group:
        out["group"] = _as_text(frame[columns.group])
    out.index = pd.RangeIndex(len(out))
    counts = {"rows": len(out)}

    out["text"] = clean_texts(out["text"], cleaning)
    if columns.text_pair:
        out["text_pair"] = clean_texts(out["text_pair"], cleaning)
    too_short = out["text"].str.len() < max(cleaning.min_length if cleaning.enabled else 1, 1)
    counts["empty_or_short_texts"] = int(too_short.sum())
    if too_short.all():
        raise DataError(
            f"{where}: all {len(out)} texts in column `{columns.text}` are empty"
            + (
                f" or shorter than data.cleaning.min_length={cleaning.min_length}"
                if cleaning.min_length > 1
                else ""
            )
            + ". Check data.text_column."
        )
    if too_short.any():
        log.warning("%s: dropped %d empty or too-short text(s)", where, int(too_short.sum()))
    out = out[~too_short]
    if need_label:
        missing = out["label"].isna() if task != SINGLE_LABEL else out["label"] == ""
        counts["missing_labels"] = int(missing.sum())
        if missing.all():
            raise DataError(f"{where}: every row lacks a label in column `{columns.label}`.")
        if missing.any():
            log.warning("%s: dropped %d row(s) without a label", where, int(missing.sum()))
        out = out[~missing]
        if task == MULTI_LABEL:
            counts["no_labels"] = int((out["label"].map(len) == 0).sum())
    counts["duplicates"] = 0
    if cleaning.enabled and cleaning.drop_duplicates:
        key = ["text", "text_pair"] if columns.text_pair else ["text"]
        dup = out.duplicated(subset=key, keep="first")
        counts["duplicates"] = int(dup.sum())
        out = out[~dup]
    counts["kept"] = len(out)
    return out.reset_index(drop=True), counts


def _numbers(column: pd.Series, name: str, where: str) -> pd.Series:
    """A regression target as floats; empty cells become NaN (dropped and counted later), any
    other cell that is not a number is an error naming its row."""
    text = _as_text(column).str.strip()
    values = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = values.isna() & (text != "") | ~np.isfinite(values.fillna(0.0))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{where}, row {row + 1}: column `{name}` holds {text.iloc[row]!r}, which is not a "
            f"number ({int(bad.sum())} such row(s)); a regression target must be numeric. Fix "
            "those cells, or set data.task to single_label if the values are classes."
        )
    return values.astype(np.float64)


# ---------------------------------------------------------------- splitting


def _split_off_multilabel(
    frame: pd.DataFrame, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Iterative stratification (Sechidis et al. 2011, `iterative-stratification`): every
    label, rare ones included, keeps about the same share in both parts. With groups, a plain
    grouped split (no multi-label splitter keeps groups together and strata balanced)."""
    if "group" in frame.columns:
        log.warning("multi-label data with groups: splitting by group without stratification")
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        rest_idx, held_idx = next(splitter.split(frame, groups=frame["group"]))
        return frame.iloc[rest_idx], frame.iloc[held_idx]
    labels = sorted({v for values in frame["label"] for v in values})
    y = label_targets(frame, labels, MULTI_LABEL)
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    rest_idx, held_idx = next(splitter.split(np.zeros(len(frame)), y))
    return frame.iloc[np.sort(rest_idx)], frame.iloc[np.sort(held_idx)]


def _split_off(
    frame: pd.DataFrame, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out about `fraction` of the rows, stratified by label and (if present) grouped."""
    if len(frame) and isinstance(frame["label"].iloc[0], list):
        return _split_off_multilabel(frame, fraction, seed)
    labels = frame["label"].to_numpy()
    if labels.dtype.kind == "f":  # regression: stratify by deciles of the target
        labels = pd.qcut(frame["label"], q=10, labels=False, duplicates="drop").to_numpy()
    if "group" in frame.columns:
        n_splits = max(2, round(1 / fraction))
        if frame["group"].nunique() < n_splits:
            raise DataError(
                f"data.group_column: only {frame['group'].nunique()} distinct groups; "
                f"at least {n_splits} are needed to hold out {fraction:.0%} by group."
            )
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        rest_idx, held_idx = next(splitter.split(frame, labels, groups=frame["group"]))
        return frame.iloc[rest_idx], frame.iloc[held_idx]
    counts = pd.Series(labels).value_counts()
    stratify = labels if counts.min() >= 2 else None
    if stratify is None:
        log.warning("label(s) with a single example: splitting without stratification")
    rest, held = train_test_split(frame, test_size=fraction, random_state=seed, stratify=stratify)
    return rest, held


def make_splits(
    train: pd.DataFrame,
    validation: pd.DataFrame | None,
    test: pd.DataFrame | None,
    cfg: DataConfig,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """Use the given splits; carve the missing ones out of `train` (70/15/15 by default)."""
    test_fraction, val_fraction = cfg.split.test, cfg.split.validation
    if test is None:
        train, test = _split_off(train, test_fraction, seed)
    else:
        test_fraction = 0.0
    if validation is None:
        train, validation = _split_off(train, val_fraction / (1 - test_fraction), seed + 1)
    return {
        "train": train.reset_index(drop=True),
        "validation": validation.reset_index(drop=True),
        "test": test.reset_index(drop=True),
    }


# ---------------------------------------------------------------- the whole step


def _cross_split_duplicates(splits: dict[str, pd.DataFrame]) -> dict[str, int]:
    seen = set(splits["train"]["text"])
    return {name: int(splits[name]["text"].isin(seen).sum()) for name in ("validation", "test")}


def prepare_data(
    cfg: DataConfig,
    seed: int,
    frames: dict[str, pd.DataFrame] | None = None,
) -> PreparedData:
    """Read (or take) the data, clean it, split it, and check the labels.

    `frames` lets Python callers pass DataFrames for "train" (and optionally "validation",
    "test") instead of files.
    """
    use_dataset = frames is None and cfg.train is None
    columns = Columns.from_config(cfg, use_dataset)
    raw: dict[str, pd.DataFrame] = {}
    sources: dict[str, str] = {}
    hashes: dict[str, str] = {}
    if frames is not None:
        if "train" not in frames:
            raise DataError("pass at least a `train` DataFrame (and optionally validation, test).")
        raw = dict(frames)
        sources = {name: f"DataFrame `{name}`" for name in frames}
    elif use_dataset:
        path = datasets.path(cfg.dataset)
        raw["train"] = datasets.load(cfg.dataset)
        sources["train"] = f"bundled dataset `{cfg.dataset}`"
        hashes[f"dataset:{cfg.dataset}"] = sha256_file(path)
    else:
        for name in SPLITS:
            path = getattr(cfg, name)
            if path is not None:
                raw[name] = read_table(path, cfg.format, cfg.encoding)
                sources[name] = str(path)
                hashes[str(path)] = sha256_file(Path(path))

    task, delimiter = _task(cfg, raw["train"], columns, use_dataset)
    stats: dict[str, Any] = {"sources": sources, "cleaning": {}, "task": task}
    clean: dict[str, pd.DataFrame | None] = dict.fromkeys(SPLITS)
    for name, frame in raw.items():
        use_columns = columns if name == "train" else Columns(**{**columns.__dict__, "group": None})
        clean[name], stats["cleaning"][name] = standardise(
            frame, use_columns, sources[name], cfg.cleaning, task=task, label_delimiter=delimiter
        )

    train = clean["train"]
    if cfg.max_samples and len(train) > cfg.max_samples:
        train = train.sample(n=cfg.max_samples, random_state=seed).sort_index()
    if task == REGRESSION:
        labels = [columns.label]  # the target's name: what the single output predicts
    elif task == MULTI_LABEL:
        labels = sorted({v for values in train["label"] for v in values})
        if not labels:
            raise DataError(
                f"{sources['train']}: no training row has a label (column `{columns.label}`)."
            )
    else:
        labels = sorted(train["label"].unique())
    if task == SINGLE_LABEL and len(labels) < 2:
        raise DataError(
            f"{sources['train']}: every training row has the label `{labels[0]}`; a classifier "
            f"needs at least two classes. Check data.label_column (now `{columns.label}`)."
        )
    splits = make_splits(train, clean["validation"], clean["test"], cfg, seed)
    for name in ("validation", "test") if task != REGRESSION else ():
        unseen = sorted(_label_set(splits[name], task) - set(labels))
        if unseen:
            where = sources.get(name, f"the {name} split")
            raise DataError(
                f"{where}: label(s) {', '.join(map(repr, unseen[:10]))} never occur in training "
                f"(training labels: {', '.join(labels[:20])}). Fix the labels, or add training "
                "examples of them."
            )
    stats["sizes"] = {name: len(frame) for name, frame in splits.items()}
    if task == REGRESSION:
        stats["target"] = {name: _target_stats(frame["label"]) for name, frame in splits.items()}
        stats["class_counts"] = {name: {} for name in splits}
    else:
        stats["class_counts"] = {n: _class_counts(frame, task) for n, frame in splits.items()}
    stats["cross_split_duplicates"] = _cross_split_duplicates(splits)
    if task == MULTI_LABEL:
        stats["labels_per_text"] = {
            name: float(frame["label"].map(len).mean()) for name, frame in splits.items()
        }
    return PreparedData(
        splits=splits,
        labels=labels,
        columns=columns,
        stats=stats,
        file_hashes=hashes,
        task=task,
        label_delimiter=delimiter,
    )


def _task(
    cfg: DataConfig, train: pd.DataFrame, columns: Columns, use_dataset: bool
) -> tuple[str, str | None]:
    """The task and label delimiter: as configured, the bundled dataset's, or detected (label
    cells that are lists, or a configured delimiter, mean multi-label)."""
    spec = datasets.get(cfg.dataset) if use_dataset and cfg.dataset else None
    delimiter = cfg.label_delimiter or (spec.label_delimiter if spec else None)
    if cfg.task != "auto":
        return cfg.task, delimiter
    if spec and spec.task == REGRESSION:
        return REGRESSION.name, None
    if delimiter or (spec and spec.task == MULTI_LABEL):
        return MULTI_LABEL.name, delimiter
    if columns.label in train.columns and looks_multi_label(train[columns.label]):
        return MULTI_LABEL.name, delimiter
    return SINGLE_LABEL.name, delimiter


def _label_set(frame: pd.DataFrame, task: str) -> set[str]:
    if task == MULTI_LABEL:
        return {v for values in frame["label"] for v in values}
    return set(frame["label"])


def _class_counts(frame: pd.DataFrame, task: str) -> dict[str, int]:
    """Texts per class; multi-label: texts carrying each label."""
    values = frame["label"].explode().dropna() if task == MULTI_LABEL else frame["label"]
    return {k: int(v) for k, v in values.value_counts().sort_index().items()}


def _target_stats(values: pd.Series) -> dict[str, float]:
    """A regression target's distribution in one split."""
    q = values.quantile([0.0, 0.25, 0.5, 0.75, 1.0]).tolist()
    return {"mean": float(values.mean()), "std": float(values.std(ddof=0))} | dict(
        zip(("min", "p25", "median", "p75", "max"), map(float, q), strict=True)
    )
