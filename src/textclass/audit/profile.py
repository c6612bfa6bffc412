"""The shape of the data: classes per split, and text lengths against the model's input length.

class_balance(splits, task)                  per split: texts per class (or label), shares
text_lengths(lengths_by_split, 128, "tokens") per split: distribution, texts cut, share lost
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from textclass.config.tasks import MULTI_LABEL, Task, get_task


def class_balance(splits: dict[str, pd.DataFrame], task: Task | str) -> dict[str, Any]:
    """Per split: texts per class (multi-label: texts carrying each label) and their shares;
    the imbalance ratio (largest / smallest class) of each split; classes of training missing
    from another split. Regression: the target's quantiles per split instead."""
    task = get_task(task)
    if not task.has_labels:
        return {"targets": {name: _quantiles(f["label"]) for name, f in splits.items()}}
    counts = {}
    for name, frame in splits.items():
        values = frame["label"].explode().dropna() if task is MULTI_LABEL else frame["label"]
        counts[name] = {str(k): int(v) for k, v in values.value_counts().sort_index().items()}
    train = set(counts.get("train", {}))
    return {
        "counts": counts,
        "shares": {
            name: {k: v / max(len(splits[name]), 1) for k, v in c.items()}
            for name, c in counts.items()
        },
        "imbalance_ratio": {
            name: max(c.values()) / min(c.values()) if c else None for name, c in counts.items()
        },
        "missing": {name: sorted(train - set(c)) for name, c in counts.items() if name != "train"},
    }


def _quantiles(values: pd.Series) -> dict[str, float]:
    q = values.astype(float).quantile([0.0, 0.25, 0.5, 0.75, 1.0]).tolist()
    return dict(zip(("min", "p25", "median", "p75", "max"), q, strict=True))


def text_lengths(
    lengths: dict[str, np.ndarray], max_length: int | None, unit: str
) -> dict[str, Any]:
    """Per split: the length distribution (in `unit`: tokens of a tokenizer, or words) and,
    against `max_length` (None: the model reads whole texts), the texts longer than it and the
    share of all `unit`s beyond it (what truncation at the end would drop)."""
    out: dict[str, Any] = {"unit": unit, "max_length": max_length, "splits": {}}
    for name, values in lengths.items():
        values = np.asarray(values, dtype=np.int64)
        if not len(values):
            continue
        record: dict[str, Any] = {
            "texts": len(values),
            "mean": float(values.mean()),
            "p50": int(np.percentile(values, 50)),
            "p95": int(np.percentile(values, 95)),
            "max": int(values.max()),
        }
        if max_length is not None:
            longer = values > max_length
            lost = int(np.maximum(values - max_length, 0).sum())
            record |= {
                "longer": int(longer.sum()),
                "longer_share": float(longer.mean()),
                "lost_share": lost / max(int(values.sum()), 1),
            }
        out["splits"][name] = record
    return out
