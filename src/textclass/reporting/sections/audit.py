"""The data audit's cheap checks (data.json `audit`): duplicates and near-duplicates within and
across splits, label conflicts, odd texts, and what `data.near_duplicates` / `data.leakage`
did. Its data is part of the data section's; its blocks are shown inside that section, and open
the audit report (`reporting/audit.py`)."""

from __future__ import annotations

from typing import Any

from textclass.reporting.format import Block, fmt, short

TEXT_CHECKS = {
    "near_empty": "near-empty (< 3 characters)",
    "url_only": "URLs only",
    "numbers_only": "numbers only",
    "mixed_script": "mixed-script words",
}
SHOWN = 5  # example pairs in the run report


def blocks(report: dict[str, Any]) -> list[Block]:
    audit = report["data"].get("audit")
    return summary_blocks(audit, SHOWN) if audit else []


def summary_blocks(audit: dict[str, Any], shown: int) -> list[Block]:
    s, stats = audit["settings"], audit["stats"]
    b: list[Block] = [
        ("h3", "Data audit"),
        (
            "p",
            f"Duplicates are texts equal up to case and spacing (exact) or with a Jaccard "
            f"similarity of at least {s['threshold']:g} between their character {s['shingle']}"
            f"-gram sets (near; MinHash LSH, every pair verified); {stats['distinct_texts']:,} "
            f"distinct texts checked in {stats['seconds']:.1f} s.",
        ),
        duplicates_table(audit),
        ("p", conflicts_line(audit["label_conflicts"])),
        ("p", texts_line(audit["texts"])),
    ]
    if audit.get("actions"):
        b.append(("p", actions_line(audit)))
    examples = audit.get("examples", {})
    if examples.get("leakage") and shown:
        b += [("p", "Training texts that (nearly) duplicate a held-out text:")]
        b.append(pairs_table(examples["leakage"][:shown]))
    return b


def duplicates_table(audit: dict[str, Any]) -> Block:
    within, leakage = audit["duplicates"], audit["leakage"]
    rows = []
    for split, w in within.items():
        leak = leakage.get(split) or {}
        rows.append(
            [
                split,
                f"{w['pairs']:,} ({w['exact']:,} exact)",
                f"{leak['pairs']:,} ({leak['exact']:,} exact)" if leak else "",
                fmt(leak.get("other_group")) if leak else "",
                fmt(leak.get("other_label")) if leak else "",
            ]
        )
    headers = ["split", "duplicate pairs within", "pairs with training", "of which in another "
               "group", "with another label"]  # fmt: skip
    return ("table", headers, rows)


def conflicts_line(conflicts: dict[str, Any]) -> str:
    if "skipped" in conflicts:
        return f"Label conflicts: not checked ({conflicts['skipped']})."
    return (
        f"Label conflicts (the same or a near-same text with another label): "
        f"{conflicts['pairs']:,} pair(s), {conflicts['exact']:,} exact, {conflicts['near']:,} "
        f"near; {conflicts['within_split']:,} within a split, {conflicts['across_splits']:,} "
        "across splits."
    )


def texts_line(texts: dict[str, dict[str, int]]) -> str:
    parts = [f"{TEXT_CHECKS[c]} {sum(v.values()):,}" for c, v in texts.items() if c in TEXT_CHECKS]
    return "Texts to look at (all splits): " + ", ".join(parts) + "."


def actions_line(audit: dict[str, Any]) -> str:
    a = audit["actions"]
    dropped = a["dropped"]
    leaking = audit["leakage"]["train_rows"]
    redundant = audit["redundant_train_rows"]
    leak = (
        f"data.leakage={a['leakage']}: {dropped['leakage']:,} training row(s) removed"
        if a["leakage"] == "drop"
        else f"data.leakage={a['leakage']}: {leaking:,} training row(s) that duplicate a "
        "held-out text kept"
    )
    near = (
        f"data.near_duplicates=drop: {dropped['near_duplicates']:,} training row(s) removed"
        if a["near_duplicates"] == "drop"
        else f"data.near_duplicates=keep: {redundant:,} training row(s) that duplicate an "
        "earlier one with the same label kept"
    )
    return (
        f"Actions: {leak}; {near} (training rows {a['train_rows_before']:,} -> "
        f"{a['train_rows_after']:,})."
    )


def pairs_table(pairs: list[dict[str, Any]]) -> Block:
    """Pairs with both texts, their splits and rows, labels, similarity and same group."""
    rows = [
        [
            f"{p['a']['split']} {p['a']['row']}",
            short(p["a"]["text"], 90),
            f"{p['b']['split']} {p['b']['row']}",
            short(p["b"]["text"], 90),
            f"{p['similarity']:.2f}",
            p["a"]["label"] if p["same_label"] else f"{p['a']['label']} / {p['b']['label']}",
            fmt(p["same_group"]),
        ]
        for p in pairs
    ]
    headers = ["row", "text", "other row", "other text", "similarity", "label(s)", "same group"]
    return ("table", headers, rows)
