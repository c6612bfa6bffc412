"""The data: texts per class (or label) and split, token lengths, long texts, cleaning, and the
data audit's cheap checks (duplicates, leakage, label conflicts, odd texts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textclass.config.tasks import MULTI_LABEL, get_task
from textclass.reporting.format import Block, fmt
from textclass.reporting.sections import audit, truncation, windows

if TYPE_CHECKING:
    from textclass.reporting.build import Run


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    counts = run.data.get("class_counts", {}).get("train", {})
    ratio = max(counts.values()) / max(min(counts.values()), 1) if counts else None
    return {"data": {**run.data, "imbalance_ratio": ratio}}


def blocks(report: dict[str, Any]) -> list[Block]:
    d = report["data"]
    b: list[Block] = [("h2", "Data"), *_counts(report)]
    b += _token_lengths(d.get("token_lengths", {}), report["model"]["max_length"])
    b += truncation.blocks(report)
    b += windows.blocks(report)
    b += _cleaning(d.get("cleaning", {}), d.get("cleaning_settings"))
    if d.get("audit"):
        return b + audit.blocks(report)
    overlap = d.get("cross_split_duplicates", {})  # a run from before the data audit
    b.append(
        (
            "p",
            "Texts of validation/test also found in training: "
            + ", ".join(f"{k} {v}" for k, v in overlap.items())
            + ".",
        )
    )
    return b


def _counts(report: dict[str, Any]) -> list[Block]:
    """Texts per class (multi-label: texts carrying each label) and split, with the total."""
    d, task = report["data"], get_task(report["task"])
    splits = list(d.get("sizes", {}))
    total = ["**total**"] + [f"{d['sizes'][s]:,}" for s in splits]
    if not task.has_labels:
        return [("table", ["", *splits], [total])]
    multi = task == MULTI_LABEL
    counts, sizes = d["class_counts"], d["sizes"]

    def share(s: str, label: str) -> str:
        count = counts[s].get(label, 0)
        return f"{count:,} ({count / max(sizes[s], 1):.1%})"

    rows = [[label] + [share(s, label) for s in splits] for label in report["labels"][:60]]
    rows.append(total)
    per_text = d.get("labels_per_text") or {}
    if multi and per_text:
        rows.append(["**labels per text (mean)**"] + [fmt(per_text.get(s)) for s in splits])
    kind = "label" if multi else "class"
    b: list[Block] = [("table", ["label (texts carrying it)" if multi else "class", *splits], rows)]
    if d.get("imbalance_ratio"):
        ratio = d["imbalance_ratio"]
        b.append(("p", f"Imbalance ratio (largest / smallest {kind} in training): {ratio:.2f}."))
    return b


def _token_lengths(tokens: dict[str, Any], max_length: int) -> list[Block]:
    if not tokens:
        return []
    headers = ["split", "mean tokens", "median", "p90", "p99", "max"]
    headers.append(f"at the {max_length}-token cap")
    rows = [
        [
            s,
            f"{t['mean']:.1f}",
            t["p50"],
            t["p90"],
            t["p99"],
            t["max"],
            f"{t['at_cap']:,} ({t['at_cap_share']:.1%})",
        ]
        for s, t in tokens.items()
    ]
    return [("table", headers, rows)]


def _cleaning(clean: dict[str, Any], settings: dict[str, Any] | None) -> list[Block]:
    b: list[Block] = []
    if clean:
        headers = ["source", "rows read", "empty/short dropped", "missing labels dropped"]
        headers += ["duplicates dropped", "kept"]
        keys = ("rows", "empty_or_short_texts", "missing_labels", "duplicates", "kept")
        rows = [[s, *(fmt(v.get(k)) for k in keys)] for s, v in clean.items()]
        b.append(("table", headers, rows))
        stripped = {s: v["labels_stripped"] for s, v in clean.items() if v.get("labels_stripped")}
        if stripped:
            where = ", ".join(f"{n:,} in {s}" for s, n in stripped.items())
            b.append(("p", f"Spaces around labels were removed ({where}): `pos ` is `pos`."))
        b += _changed(clean)
    if settings:
        on = [k for k, v in settings.items() if v is True and k != "enabled"]
        state = "on" if settings.get("enabled") else "off"
        b.append(
            (
                "p",
                f"Cleaning {state}: {', '.join(on)}; minimum length "
                f"{settings.get('min_length')} characters.",
            )
        )
    return b


def _changed(clean: dict[str, Any]) -> list[Block]:
    """Texts each cleaning rule changed (a rule that was off: "off"), per source read."""
    changed = {s: v["changed_by_cleaning"] for s, v in clean.items() if "changed_by_cleaning" in v}
    rules = list(dict.fromkeys(r for c in changed.values() for r in c if r != "any"))
    if not changed or not rules:
        return []
    rows = [
        [s, *(fmt(c.get(r, "off")) for r in rules), fmt(c.get("any"))] for s, c in changed.items()
    ]
    return [
        ("p", "Texts changed by each cleaning rule (a text changed by several counts in each):"),
        ("table", ["source", *rules, "any rule"], rows),
    ]
