"""Long texts split into sliding windows: how many texts did not fit one window (data.json
`windows`, written when model.truncation is windows). Its data is part of the data section's;
its blocks are shown inside that section."""

from __future__ import annotations

from typing import Any

from textclass.reporting.format import Block, fmt


def blocks(report: dict[str, Any]) -> list[Block]:
    return window_blocks(report["data"].get("windows"), report["configuration"]["model"])


def window_blocks(windows: dict[str, Any] | None, model: dict[str, Any]) -> list[Block]:
    w = model.get("window") or {}
    if not windows and not w.get("enabled") and model.get("truncation") != "windows":
        return []
    b: list[Block] = [("h3", "Long texts (sliding windows)")]
    if not windows:
        return [*b, ("p", "Windows are set, but data.json records no window counts.")]
    b.append(
        (
            "p",
            f"Texts longer than one window of {model.get('max_length')} tokens were split into "
            f"windows sharing {w.get('stride')} tokens, their logits aggregated by "
            f"{w.get('aggregate')}; texts that needed more than {w.get('max_windows')} windows "
            "were truncated after the last one. "
            + "; ".join(
                f"{s}: {v['longer_than_window']:,} of {v['texts']:,} texts "
                f"({v['longer_than_window'] / max(v['texts'], 1):.1%}) split, "
                f"{v['truncated']:,} truncated"
                for s, v in windows.items()
            )
            + ".",
        )
    )
    keys = ("texts", "longer_than_window", "windows", "truncated")
    b.append(
        (
            "table",
            ["split", "texts", "longer than one window (split)", "windows", "truncated"],
            [[s, *(fmt(v[k]) for k in keys)] for s, v in windows.items()],
        )
    )
    return b
