"""Hold-out splits and k-fold assignments: stratified by label (deciles of a numeric target),
grouped when a group column is set, iteratively stratified for multi-label data; seeded."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold, MultilabelStratifiedShuffleSplit
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from textclass.config.schema import DataConfig
from textclass.config.tasks import MULTI_LABEL
from textclass.errors import DataError

log = logging.getLogger(__name__)


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
    y = MULTI_LABEL.targets(frame["label"], labels)
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    rest_idx, held_idx = next(splitter.split(np.zeros(len(frame)), y))
    return frame.iloc[np.sort(rest_idx)], frame.iloc[np.sort(held_idx)]


def _is_multilabel(frame: pd.DataFrame) -> bool:
    return bool(len(frame)) and isinstance(frame["label"].iloc[0], list)


def _strata(frame: pd.DataFrame) -> np.ndarray:
    """What a split stratifies by: the label, or deciles of a numeric (regression) target."""
    labels = frame["label"].to_numpy()
    if labels.dtype.kind == "f":
        labels = pd.qcut(frame["label"], q=10, labels=False, duplicates="drop").to_numpy()
    return labels


def split_off(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out about `fraction` of the rows, stratified by label and (if present) grouped."""
    if _is_multilabel(frame):
        return _split_off_multilabel(frame, fraction, seed)
    labels = _strata(frame)
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
        train, test = split_off(train, test_fraction, seed)
    else:
        test_fraction = 0.0
    if validation is None:
        train, validation = split_off(train, val_fraction / (1 - test_fraction), seed + 1)
    return {
        "train": train.reset_index(drop=True),
        "validation": validation.reset_index(drop=True),
        "test": test.reset_index(drop=True),
    }


def kfold(frame: pd.DataFrame, k: int, seed: int) -> np.ndarray:
    """The fold (1..k) of every row of `frame`: stratified by label (deciles of a numeric
    target), grouped when it has a `group` column (no group in two folds), iteratively
    stratified for multi-label data (Sechidis et al. 2011); shuffled with `seed`."""
    if k < 2:
        raise DataError(f"--folds {k}: cross-validation needs at least 2 folds.")
    if len(frame) < k:
        raise DataError(f"--folds {k}: only {len(frame)} rows to divide into {k} folds.")
    grouped = "group" in frame.columns
    if grouped and frame["group"].nunique() < k:
        raise DataError(
            f"data.group_column: only {frame['group'].nunique()} distinct groups for {k} folds "
            "(no group may be in two folds). Use fewer folds or a finer group column."
        )
    x = np.zeros(len(frame))
    groups = frame["group"].to_numpy() if grouped else None
    if _is_multilabel(frame):
        if grouped:
            log.warning("multi-label data with groups: folds by group without stratification")
            splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
        else:
            labels = sorted({v for values in frame["label"] for v in values})
            y = MULTI_LABEL.targets(frame["label"], labels)
            splitter = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            return _fold_ids(splitter.split(x, y), len(frame))
        return _fold_ids(splitter.split(x, groups=groups), len(frame))
    y = _strata(frame)
    if grouped:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        return _fold_ids(splitter.split(x, y, groups), len(frame))
    if pd.Series(y).value_counts().min() < k:
        log.warning("a label has fewer than %d examples: folds without stratification", k)
        return _fold_ids(KFold(n_splits=k, shuffle=True, random_state=seed).split(x), len(frame))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return _fold_ids(splitter.split(x, y), len(frame))


def _fold_ids(splits, n: int) -> np.ndarray:
    folds = np.zeros(n, dtype=np.int64)
    for fold, (_, held) in enumerate(splits, start=1):
        folds[held] = fold
    return folds
