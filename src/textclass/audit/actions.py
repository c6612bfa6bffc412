"""What a run does about the duplicates it found: `data.near_duplicates` and `data.leakage`.

Only training rows are ever removed (validation and test stay as given, so metrics stay
comparable), every removal is counted in data.json `audit.actions` and said on the console, and
`data.leakage: error` stops the run naming a few pairs and the fix.

    splits, done = apply_actions(splits, findings, cfg.data)
    done["dropped"]   # {"leakage": 12, "near_duplicates": 30}
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from textclass.audit.checks import Findings, leakage_pairs, pair_records
from textclass.config.schema import DataConfig
from textclass.errors import DataError

log = logging.getLogger(__name__)

NAMED = 3  # pairs named in the error of data.leakage=error


def apply_actions(
    splits: dict[str, pd.DataFrame], found: Findings, cfg: DataConfig
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The splits with the training rows the settings remove removed, and what was done."""
    leaking, redundant = set(found.leaking.tolist()), set(found.redundant.tolist())
    if leaking and cfg.leakage == "error":
        raise DataError(leakage_error(found, splits))
    drop_leaking = leaking if cfg.leakage == "drop" else set()
    drop_redundant = (redundant - drop_leaking) if cfg.near_duplicates == "drop" else set()
    done = {
        "near_duplicates": cfg.near_duplicates,
        "leakage": cfg.leakage,
        "dropped": {"leakage": len(drop_leaking), "near_duplicates": len(drop_redundant)},
        "train_rows_before": len(splits["train"]),
    }
    _say(found, cfg, drop_leaking, drop_redundant)
    drop = sorted(drop_leaking | drop_redundant)
    if not drop:
        return splits, done | {"train_rows_after": len(splits["train"])}
    train = splits["train"].drop(index=np.asarray(drop)).reset_index(drop=True)
    if train.empty:
        raise DataError(
            "data.leakage / data.near_duplicates would remove every training row: check the "
            "data files (are validation and test copies of training?)."
        )
    return {**splits, "train": train}, done | {"train_rows_after": len(train)}


def _say(found: Findings, cfg: DataConfig, drop_leaking: set, drop_redundant: set) -> None:
    leaking = len(found.leaking)
    if drop_leaking:
        log.warning(
            "data.leakage=drop: removed %d training row(s) equal or near to a validation/test text",
            len(drop_leaking),
        )
    elif leaking:
        log.warning(
            "%d training text(s) equal or near to a validation/test text (they inflate the "
            "metrics): set data.leakage=drop to remove them; `textclass audit` lists them",
            leaking,
        )
    if drop_redundant:
        log.info(
            "data.near_duplicates=drop: removed %d training row(s) that duplicate an earlier "
            "one with the same label (threshold %g)",
            len(drop_redundant),
            cfg.near_duplicate_threshold,
        )


def leakage_error(found: Findings, splits: dict[str, pd.DataFrame]) -> str:
    """data.leakage=error's message: how many, a few pairs with their texts, and the fix."""
    pairs = pair_records(found.duplicates, leakage_pairs(found.duplicates), splits, NAMED)
    named = "; ".join(
        f"train row {p['a']['row']} {_short(p['a']['text'])} ~ {p['b']['split']} row "
        f"{p['b']['row']} {_short(p['b']['text'])} (similarity {p['similarity']:.2f})"
        for p in pairs
    )
    return (
        f"data.leakage=error: {len(found.leaking)} training text(s) equal or near-duplicate "
        f"a validation or test text, e.g. {named}. Remove them from the data files, set "
        "data.leakage=drop to remove those training rows, or data.leakage=warn to train with "
        "them; `textclass audit CONFIG` lists every pair."
    )


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= n else text[: n - 1] + "…")
