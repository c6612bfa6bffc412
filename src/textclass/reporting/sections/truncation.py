"""How much of each text the model read: the input length and truncation chosen (data.json
`truncation`: setting, resolved value and why) and, per split, the texts cut and the tokens
they lost. Its data is part of the data section's; its blocks are shown inside that section."""

from __future__ import annotations

from typing import Any

from textclass.reporting.format import Block, fmt

READS = {
    "head": "the first tokens of a longer text",
    "tail": "the last tokens of a longer text",
    "head+tail": "the first {head} and the last {tail} tokens of a longer text",
    "windows": "all of a longer text, in overlapping windows (up to the window limit)",
}


def blocks(report: dict[str, Any]) -> list[Block]:
    t = report["data"].get("truncation")
    if not t:
        return []
    strategy, cap = t["strategy"], t["max_length"]
    head = t.get("head_tokens") or 0
    reads = READS.get(strategy, strategy).format(head=head, tail=cap - head - 2)
    b: list[Block] = [("h3", "Input length and truncation")]
    b.append(
        (
            "p",
            f"The model reads {cap} tokens per text (special tokens included), "
            f"model.max_length={t['max_length_setting']}; model.truncation="
            f"{t['strategy_setting']} gives {strategy}: {reads}. Why: {t['reason']}.",
        )
    )
    splits = t.get("splits") or {}
    rows = [
        [
            s,
            fmt(v["texts"]),
            f"{v['texts_longer']:,} ({v['texts_longer_share']:.1%})",
            fmt(v["tokens"]),
            f"{v['tokens_dropped']:,} ({v['tokens_dropped_share']:.1%})",
        ]
        for s, v in splits.items()
        if v
    ]
    if rows:
        headers = ["split", "texts", f"longer than {cap} tokens", "tokens", "tokens not read"]
        b.append(("table", headers, rows))
    return b
