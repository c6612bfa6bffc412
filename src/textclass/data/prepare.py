"""Preparing labelled text: files or DataFrames in, clean train/validation/test frames out.

Every frame that leaves this module has the columns `text`, `label` (a string; for multi-label
data a sorted list of strings, possibly empty) and, where configured, `text_pair` and `group`.
Problems with the input raise `DataError` naming the file, line or column and the fix.
"""

from __future__ import annotations

import ast
import copy
import json
import logging
import numbers
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from textclass.audit.actions import apply_actions
from textclass.audit.checks import cheap_checks, record
from textclass.config.schema import CleaningConfig, DataConfig
from textclass.config.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task, get_task
from textclass.data import datasets
from textclass.data.clean import clean_and_count
from textclass.data.read import read_table, sha256_file
from textclass.data.split import make_splits
from textclass.errors import DataError, did_you_mean

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


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


# ---------------------------------------------------------------- columns, cleaning


def find_column(frame: pd.DataFrame, name: str, key: str, where: str) -> str:
    """The column called `name`; else the one column whose name differs only in case or
    surrounding spaces (` Label ` for `label`, said on the console); else a DataError that
    names the columns, a likely text column and, for a file without a header, the fix."""
    if name in frame.columns:
        return name
    have = [str(c) for c in frame.columns]
    loose = [c for c in have if c.strip().casefold() == name.strip().casefold()]
    if len(loose) == 1:
        log.info("%s: using column `%s` for %s=%s", where, loose[0], key, name)
        return loose[0]
    hint = did_you_mean(name, have)
    if any(len(c) > 40 for c in have):
        hint += (
            " The first row looks like data, not a header: add a header line naming the"
            " columns (e.g. `text,label`)."
        )
    elif not hint and key in ("data.text_column", "--text-column"):
        hint = _likely_text_column(frame)
    raise DataError(
        f"{where}: no column `{name}` ({key}).{hint} The columns are: {', '.join(have)}. "
        f"Set {key}=<name> to use another column."
    )


def _likely_text_column(frame: pd.DataFrame) -> str:
    lengths = {
        str(c): frame[c].head(1000).map(lambda v: len(v) if isinstance(v, str) else 0).mean()
        for c in frame.columns
    }
    best = max(lengths, key=lengths.get, default=None)
    return f" The column with the longest texts is `{best}`." if best and lengths[best] else ""


CONFIG_KEYS = {
    "text": "data.text_column",
    "text_pair": "data.text_pair_column",
    "label": "data.label_column",
    "group": "data.group_column",
}


def _resolve_columns(
    frame: pd.DataFrame, columns: Columns, where: str, need_label: bool, keys: dict[str, str]
) -> Columns:
    """`columns` with each configured name replaced by the frame's column it refers to."""
    fields = [f for f in ("text", "text_pair", "group", "label") if need_label or f != "label"]
    found = {
        field: find_column(frame, getattr(columns, field), keys.get(field, field), where)
        for field in fields
        if getattr(columns, field)
    }
    return replace(columns, **found)


def as_text(values: pd.Series, name: str, where: str, first_row: int = 1) -> pd.Series:
    """Cells as texts, "" where missing: numbers as written, bytes decoded as UTF-8. A list or
    an object (a JSON array, a Parquet list or struct column) is not one text, and writing it
    as `['a', 'b']` would change it unseen: a DataError names its row."""

    def one(row: int, value: Any) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return ""
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                problem = "bytes that are not UTF-8"
        elif _is_list(value) or isinstance(value, dict):
            problem = f"a {'list' if _is_list(value) else 'JSON object'} ({str(value)[:60]})"
        else:
            return str(value)
        raise DataError(
            f"{where}, row {row}: column `{name}` holds {problem}, not a text. Store each text "
            "as one string (join a list of words or sentences into one), or name a column of "
            "texts."
        )

    return pd.Series(
        [one(first_row + i, v) for i, v in enumerate(values)], index=values.index, dtype=object
    )


def _is_missing(value: Any) -> bool:
    return value is None or (not _is_list(value) and bool(pd.isna(value)))


def label_text(value: Any) -> str:
    """A label cell as its label string ("" when missing). Strings are kept exactly as written
    (`007`, `1.0`, `True`, `NA` are labels like any other); typed cells from JSON, Parquet or a
    DataFrame take the text JSON gives them: integral numbers without a decimal part (`1`,
    also for the 1.0 that a number column with gaps holds), other numbers in their shortest
    form (`0.5`), booleans as `true` / `false`."""
    if _is_missing(value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _literal_list(value: Any) -> list | None:
    """A text cell that writes a list (`["a", "b"]` from json.dumps, `['a', 'b']` from a
    pandas DataFrame of lists saved as CSV) as that list; None for any other cell."""
    if not isinstance(value, str) or not value.strip().startswith("["):
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            parsed = parse(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(parsed, list) and not any(isinstance(v, (list, dict)) for v in parsed):
            return parsed
    return None


def looks_multi_label(values: pd.Series) -> bool:
    """True when label cells are lists (JSON arrays, Parquet list columns), or every filled
    label cell is a text that writes a list (`["a", "b"]`: a list column saved as CSV)."""
    if values.map(_is_list).any():
        return True
    filled = values[values.map(lambda v: isinstance(v, str) and bool(v.strip()))]
    if filled.empty or not filled.str.lstrip().str.startswith("[").all():
        return False
    return bool(filled.map(lambda v: _literal_list(v) is not None).all())


_EDGES = re.compile(r"^[\s\u200b\u200c\u200d\u2060\ufeff]+|[\s\u200b\u200c\u200d\u2060\ufeff]+$")


def _strip_label(label: str) -> str:
    """A label without the spaces and invisible characters (zero-width space, joiners, BOM)
    around it, which make `pos\u200b` another class than `pos` though both print as `pos`."""
    return _EDGES.sub("", label)


def _label_list(value: Any, delimiter: str | None) -> list[str] | None:
    if _is_missing(value):
        return None
    literal = _literal_list(value)
    if _is_list(value) or literal is not None:
        items = [label_text(v) for v in (value if literal is None else literal)]
    elif delimiter:
        items = str(value).split(delimiter)
    else:
        items = [label_text(value)]
    return sorted({_strip_label(item) for item in items if _strip_label(item)})


def standardise(
    frame: pd.DataFrame,
    columns: Columns,
    where: str,
    cleaning,
    need_label: bool = True,
    task: str = SINGLE_LABEL.name,
    label_delimiter: str | None = None,
    keys: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Select and rename the configured columns, clean texts, drop unusable rows (counted).

    Multi-label cells may be lists, texts that write a list (`["a", "b"]`) or
    `label_delimiter`-separated strings; an empty cell is a text with no labels (kept), a
    missing one (null) is dropped. `keys` names the setting for each column in messages
    (default: the config keys, `data.text_column`, ...).
    """
    columns = _resolve_columns(frame, columns, where, need_label, keys or CONFIG_KEYS)
    out = pd.DataFrame({"text": as_text(frame[columns.text], columns.text, where)})
    if columns.text_pair:
        out["text_pair"] = as_text(frame[columns.text_pair], columns.text_pair, where)
    if need_label:
        _no_objects(frame[columns.label], columns.label, where)
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
        out["label"], stripped = _stripped_labels(frame[columns.label].map(label_text), where)
    if columns.group:
        out["group"] = as_text(frame[columns.group], columns.group, where)
    out.index = pd.RangeIndex(len(out))
    counts: dict[str, Any] = {"rows": len(out)}
    if need_label and task == SINGLE_LABEL:
        counts["labels_stripped"] = stripped
    counts["changed_by_cleaning"] = _clean_columns(out, where, cleaning)
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


def _no_objects(labels: pd.Series, name: str, where: str) -> None:
    """A label cell holding a JSON object (`{"name": "pos"}`) is an error naming its row: as a
    class it would be the text of the whole object."""
    objects = labels.map(lambda v: isinstance(v, dict))
    if objects.any():
        row = int(np.flatnonzero(objects.to_numpy())[0])
        raise DataError(
            f"{where}, row {row + 1}: column `{name}` holds a JSON object "
            f"({str(labels.iloc[row])[:60]}), not a label. Write the label itself there "
            '(e.g. "label": "pos").'
        )


def _stripped_labels(labels: pd.Series, where: str) -> tuple[pd.Series, int]:
    """Labels without surrounding spaces or invisible characters (`pos ` and `pos\u200b` are
    `pos`), counted on the console; labels that then differ only in case (`Positive`,
    `positive`) are kept apart and warned about."""
    stripped = labels.map(_strip_label)
    changed = int((stripped != labels).sum())
    if changed:
        log.warning(
            "%s: removed spaces (or invisible characters) around %d label(s) (e.g. %r)",
            where,
            changed,
            labels[stripped != labels].iloc[0],
        )
    variants: dict[str, set[str]] = {}
    for label in stripped.unique():
        if label:
            variants.setdefault(label.casefold(), set()).add(label)
    clashes = [sorted(v) for v in variants.values() if len(v) > 1]
    if clashes:
        log.warning(
            "%s: labels that differ only in case are different classes: %s. If they mean the "
            "same, write them one way in the file.",
            where,
            "; ".join(" / ".join(c) for c in clashes[:5]),
        )
    return stripped, changed


def _clean_columns(out: pd.DataFrame, where: str, cleaning: CleaningConfig) -> dict[str, int]:
    """Clean the text (and pair) column in place; per rule, the texts it changed, and `any`
    (a pair's two texts count apart). Logged: nothing is changed without saying so."""
    changed: dict[str, int] = {}
    for column in ("text", "text_pair"):
        if column in out.columns:
            out[column], counts = clean_and_count(out[column], cleaning)
            changed = {rule: changed.get(rule, 0) + n for rule, n in counts.items()}
    if cleaning.enabled:
        by_rule = ", ".join(f"{rule} {n:,}" for rule, n in changed.items() if n and rule != "any")
        texts = len(out) * (2 if "text_pair" in out.columns else 1)
        log.info(
            "%s: cleaning changed %s of %s texts%s",
            where, f"{changed['any']:,}", f"{texts:,}", f" ({by_rule})" if by_rule else "",
        )  # fmt: skip
    return changed


def _numbers(column: pd.Series, name: str, where: str) -> pd.Series:
    """A regression target as floats; empty cells become NaN (dropped and counted later), any
    other cell that is not a number is an error naming its row."""
    text = as_text(column, name, where).str.strip()
    values = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = values.isna() & (text != "") | ~np.isfinite(values.fillna(0.0))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{where}, row {row + 1}: column `{name}` holds {text.iloc[row]!r}, which is not a "
            f"number ({int(bad.sum())} such row(s)); a regression target must be numeric."
            f"{_number_hint(text.iloc[row])} Fix those cells, or set data.task to single_label "
            "if the values are classes."
        )
    return values.astype(np.float64)


def _number_hint(cell: str) -> str:
    """What makes a number-like cell unreadable, where that is plain."""
    if re.fullmatch(r"[-+]?[\d.]*\d,[\d,.]+", cell):
        return (
            " Write decimals with a point and no thousands separators (3.5 not 3,5; 5000 not"
            " 5,000)."
        )
    if re.fullmatch(r"[-+]?[\d.,]+\s*%", cell):
        return " Write percentages without the % sign (35 or 0.35)."
    return ""


# ---------------------------------------------------------------- the whole step


def split_stats(splits: dict[str, pd.DataFrame], task: str) -> dict[str, Any]:
    """Sizes, class counts (or target statistics) and cross-split duplicates of the splits."""
    stats: dict[str, Any] = {"sizes": {name: len(frame) for name, frame in splits.items()}}
    if task == REGRESSION:
        stats["target_stats"] = {n: _target_stats(frame["label"]) for n, frame in splits.items()}
        stats["class_counts"] = {name: {} for name in splits}
    else:
        stats["class_counts"] = {n: _class_counts(frame, task) for n, frame in splits.items()}
    stats["cross_split_duplicates"] = _cross_split_duplicates(splits)
    if task == MULTI_LABEL:
        stats["labels_per_text"] = {
            name: float(frame["label"].map(len).mean()) for name, frame in splits.items()
        }
    return stats


def with_splits(data: PreparedData, splits: dict[str, pd.DataFrame]) -> PreparedData:
    """`data` with other splits (a cross-validation fold): same labels, columns, task and
    cleaning record; sizes and class counts of the new splits."""
    splits = {name: frame.reset_index(drop=True) for name, frame in splits.items()}
    stats = copy.deepcopy(data.stats) | split_stats(splits, data.task)
    return replace(data, splits=splits, stats=stats)


def _cross_split_duplicates(splits: dict[str, pd.DataFrame]) -> dict[str, int]:
    seen = set(splits["train"]["text"])
    return {name: int(splits[name]["text"].isin(seen).sum()) for name in ("validation", "test")}


def prepare_data(
    cfg: DataConfig,
    seed: int,
    frames: dict[str, pd.DataFrame] | None = None,
    audit: bool = True,
) -> PreparedData:
    """Read (or take) the data, clean it, split it, and check the labels.

    `frames` lets Python callers pass DataFrames for "train" (and optionally "validation",
    "test") instead of files. With `audit`, the cheap checks of the data audit run on the
    splits (stats `audit`) and `data.near_duplicates` / `data.leakage` act on them; without,
    the splits are as split (`textclass audit` reports on them, and what the actions would do).
    """
    use_dataset = frames is None and cfg.train is None
    columns = Columns.from_config(cfg, use_dataset)
    raw, sources, hashes = _read_sources(cfg, frames, use_dataset)
    task, delimiter = _task(cfg, raw["train"], columns, use_dataset)
    stats: dict[str, Any] = {"sources": sources, "cleaning": {}, "task": task}
    clean: dict[str, pd.DataFrame | None] = dict.fromkeys(SPLITS)
    for name, frame in raw.items():
        use_columns = columns if name == "train" else Columns(**{**columns.__dict__, "group": None})
        if name != "train":
            _same_columns(frame, use_columns, sources[name], sources["train"])
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
    if audit:
        found = cheap_checks(splits, cfg.near_duplicate_threshold, task)
        stats["audit"] = record(found, splits)
        splits, stats["audit"]["actions"] = apply_actions(splits, found, cfg)
    stats |= split_stats(splits, task)
    return PreparedData(
        splits=splits,
        labels=labels,
        columns=columns,
        stats=stats,
        file_hashes=hashes,
        task=task,
        label_delimiter=delimiter,
    )


def _same_columns(frame: pd.DataFrame, columns: Columns, where: str, train: str) -> None:
    """A validation or test file has the columns the training file's settings name: one
    setting (data.text_column, ...) names the column in every file, so a file that calls its
    columns otherwise is told to rename them (setting another name would break training)."""
    wanted = [c for c in (columns.text, columns.text_pair, columns.label) if c]
    have = {str(c).strip().casefold() for c in frame.columns}
    missing = [c for c in wanted if c.strip().casefold() not in have]
    if missing:
        raise DataError(
            f"{where}: no column(s) {', '.join(f'`{c}`' for c in missing)}; its columns are "
            f"{', '.join(map(str, frame.columns))}. The column settings apply to every file, so "
            f"it must use the names {train} uses ({', '.join(wanted)}): rename its columns."
        )


def _read_sources(
    cfg: DataConfig, frames: dict[str, pd.DataFrame] | None, use_dataset: bool
) -> tuple[dict[str, pd.DataFrame], dict[str, str], dict[str, str]]:
    """The raw frames per split, where each came from, and the SHA-256 of each file read."""
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

    return raw, sources, hashes


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
