"""The cheap checks: everything but label errors, run at the start of every training run.

`cheap_checks` finds the duplicates (exact and near, within and across splits), the label
conflicts among them, and the texts a single-text check flags; `record` turns the findings into
data (data.json `audit`, and the start of audit.json), with the texts of up to `limit` examples
of each kind. Nothing here changes the data: `textclass.audit.actions` does, counted.

    found = cheap_checks(splits, threshold=0.5, task=data.task)
    record(found, splits)["leakage"]["test"]["pairs"]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from textclass.audit import duplicates as dup
from textclass.audit.texts import SINGLE_TEXT_CHECKS, flag_texts, mixed_script_words
from textclass.config.tasks import Task, get_task

EXAMPLES = 10  # examples of each kind kept in data.json
HELD_OUT = ("validation", "test")


@dataclass
class Findings:
    """What the cheap checks found in the splits as prepared (positions are rows of them)."""

    duplicates: dup.Duplicates
    flags: dict[str, dict[str, list[int]]]  # split -> single-text check -> rows
    redundant: np.ndarray  # training rows equal or near to an earlier one with the same label
    leaking: np.ndarray  # training rows equal or near to a validation or test text
    has_labels: bool  # False (regression): no label conflicts


def cheap_checks(splits: dict[str, pd.DataFrame], threshold: float, task: Task | str) -> Findings:
    task = get_task(task)
    found = dup.find_duplicates(splits, threshold)
    return Findings(
        duplicates=found,
        flags={name: flag_texts(frame["text"]) for name, frame in splits.items()},
        redundant=dup.redundant_train_rows(found, compare_labels=task.has_labels),
        leaking=dup.leaking_train_rows(found),
        has_labels=task.has_labels,
    )


def pair_records(
    found: dup.Duplicates, pairs: pd.DataFrame, splits: dict[str, pd.DataFrame], limit: int | None
) -> list[dict[str, Any]]:
    """Pairs with both texts: split, row, text, label and group of each side, the similarity,
    whether the match is exact, and whether the two share a group and a label."""
    rows = found.rows
    out = []
    for a, b, similarity, exact in pairs.head(limit).itertuples(index=False):
        sides = [_side(rows.iloc[i], splits) for i in (a, b)]
        groups = [s.get("group") for s in sides]
        out.append(
            {
                "similarity": round(float(similarity), 4),
                "exact": bool(exact),
                "a": sides[0],
                "b": sides[1],
                "same_label": sides[0]["label"] == sides[1]["label"],
                "same_group": None if None in groups else groups[0] == groups[1],
            }
        )
    return out


def _side(row: pd.Series, splits: dict[str, pd.DataFrame]) -> dict[str, Any]:
    frame = splits[row["split"]]
    side = {"split": row["split"], "row": int(row["row"])}
    side["text"] = str(frame["text"].iat[int(row["row"])])
    if "text_pair" in frame.columns:
        side["text_pair"] = str(frame["text_pair"].iat[int(row["row"])])
    side["label"] = row["label"]
    group = row.get("group")
    side["group"] = None if group is None or pd.isna(group) else str(group)
    return side


def leakage_pairs(found: dup.Duplicates) -> pd.DataFrame:
    """Pairs of a training text and a validation or test text, most similar first."""
    pairs = found.across()
    splits = found.split_of(pairs["a"])
    return pairs[splits == "train"].sort_values("similarity", ascending=False, kind="stable")


def conflict_pairs(found: dup.Duplicates) -> pd.DataFrame:
    return dup.conflicts(found).sort_values("similarity", ascending=False, kind="stable")


def within_pairs(found: dup.Duplicates) -> pd.DataFrame:
    return found.within().sort_values("similarity", ascending=False, kind="stable")


def record(
    found: Findings, splits: dict[str, pd.DataFrame], limit: int = EXAMPLES
) -> dict[str, Any]:
    """The findings as data: counts, and the texts of up to `limit` examples of each kind."""
    d = found.duplicates
    leak, within = leakage_pairs(d), within_pairs(d)
    out: dict[str, Any] = {
        "settings": d.settings,
        "stats": d.stats,
        "duplicates": _within_counts(d, within),
        "redundant_train_rows": len(found.redundant),
        "leakage": _leakage_counts(d, leak) | {"train_rows": len(found.leaking)},
        "texts": {
            check: {name: len(flags[check]) for name, flags in found.flags.items()}
            for check in SINGLE_TEXT_CHECKS
        },
    }
    examples: dict[str, Any] = {
        "leakage": pair_records(d, leak, splits, limit),
        "near_duplicates": pair_records(d, within, splits, limit),
        "texts": _flagged_texts(found.flags, splits, limit),
    }
    if found.has_labels:
        conflicts = conflict_pairs(d)
        same = d.split_of(conflicts["a"]) == d.split_of(conflicts["b"])
        out["label_conflicts"] = {
            "pairs": len(conflicts),
            "exact": int(conflicts["exact"].sum()),
            "near": int((~conflicts["exact"]).sum()),
            "within_split": int(same.sum()),
            "across_splits": int((~same).sum()),
        }
        examples["label_conflicts"] = pair_records(d, conflicts, splits, limit)
    else:
        out["label_conflicts"] = {"skipped": "regression: the targets are numbers, not classes"}
    return out | {"examples": examples}


def _within_counts(d: dup.Duplicates, within: pd.DataFrame) -> dict[str, dict[str, int]]:
    split = d.split_of(within["a"])
    out = {}
    for name in dict.fromkeys(d.rows["split"]):
        mine = within[split == name]
        out[name] = {
            "pairs": len(mine),
            "exact": int(mine["exact"].sum()),
            "near": int((~mine["exact"]).sum()),
            "texts_with_earlier_duplicate": int(mine["b"].nunique()),
        }
    return out


def _leakage_counts(d: dup.Duplicates, leak: pd.DataFrame) -> dict[str, Any]:
    """Per held-out split: pairs with training, exact and near, in another group, with
    another label; and validation-test pairs (both held out: no training leak)."""
    other = d.split_of(leak["b"])
    labels, groups = d.rows["label"].to_numpy(), d.rows["group"].to_numpy()
    out: dict[str, Any] = {}
    for name in HELD_OUT:
        mine = leak[other == name]
        a, b = mine["a"].to_numpy(), mine["b"].to_numpy()
        known = pd.notna(groups[a]) & pd.notna(groups[b])
        out[name] = {
            "pairs": len(mine),
            "exact": int(mine["exact"].sum()),
            "near": int((~mine["exact"]).sum()),
            "held_out_texts": int(mine["b"].nunique()),
            "other_group": int((known & (groups[a] != groups[b])).sum()) if known.any() else None,
            "other_label": int((labels[a] != labels[b]).sum()),
        }
    across = d.across()
    out["validation_test_pairs"] = int((d.split_of(across["a"]) == "validation").sum())
    return out


def _flagged_texts(
    flags: dict[str, dict[str, list[int]]], splits: dict[str, pd.DataFrame], limit: int | None
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {check: [] for check in SINGLE_TEXT_CHECKS}
    for name, by_check in flags.items():
        for check, rows in by_check.items():
            for row in rows:
                if limit is not None and len(out[check]) >= limit:
                    break
                text = str(splits[name]["text"].iat[row])
                item = {"split": name, "row": int(row), "text": text}
                if check == "mixed_script":
                    item["words"] = mixed_script_words(text)
                out[check].append(item)
    return out
