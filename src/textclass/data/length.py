"""How much of each text the model reads: `model.max_length` and `model.truncation`.

`auto` resolves both from the training texts' token lengths (special tokens included):

- max_length covers `model.length_percentile` % of the training texts, rounded up to a multiple
  of 8 (at least 16) and capped by the encoder's position limit;
- truncation is `head` when those texts fit, `windows` when the median text is more than twice
  max_length (most of the text would be lost by any cut), else `head+tail` (Sun et al. 2019,
  "How to Fine-Tune BERT for Text Classification?": the first and last tokens of long reviews
  beat the first alone).

`head`, `tail` and `head+tail` are cut here, from the untruncated token ids, because tokenizers
only cut the head (`truncation_side` gives the tail, nothing gives both); windows are the
tokenizer's overflowing tokens (`encode`). Every split records how many texts were cut and how
many tokens they lost (data.json `truncation`), which the report and the diagnosis read.

    choice = resolve(cfg.model, train_lengths, limit=512)
    choice.max_length, choice.truncation, choice.reason
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textclass.errors import TextclassError

ROUND_TO = 8  # tensor-friendly lengths
MIN_LENGTH = 16
LONG = 2.0  # median text over LONG x max_length: windows
BILSTM_CAP = 512  # no position limit, but time grows linearly with length
DROPPED_WARNING = 0.2  # share of training tokens cut away that earns a warning


@dataclass
class LengthChoice:
    """The resolved input length and truncation, and why."""

    max_length: int
    truncation: str  # head | tail | head+tail | windows
    head_tokens: int | None  # head+tail: tokens kept from the start
    reason: str
    record: dict[str, Any] = field(default_factory=dict)  # data.json `truncation`


def special_layout(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens a single text is framed with: ([CLS], [SEP]) for BERT, ([], [])
    for a tokenizer that adds none. Found by tokenizing a probe with and without them."""
    probe = "hello world"
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return list(full[:start]), list(full[start + len(bare) :])
    raise TextclassError(
        f"cannot tell where {type(tokenizer).__name__} puts its special tokens; use "
        "model.truncation=head"
    )


def tokenize(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each whole text, without special tokens (one batched call)."""
    if not len(texts):
        return []
    return tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)[
        "input_ids"
    ]


def cut(ids: list[int], keep: int, strategy: str, head: int | None = None) -> list[int]:
    """At most `keep` of `ids`: the first (head), the last (tail), or the first `head` and
    the last `keep - head` (head+tail)."""
    if len(ids) <= keep:
        return ids
    if strategy == "head":
        return ids[:keep]
    if strategy == "tail":
        return ids[len(ids) - keep :]
    if strategy == "head+tail":
        first = keep // 4 if head is None else min(head, keep)
        return ids[:first] + ids[len(ids) - (keep - first) :]
    raise ValueError(f"unknown truncation {strategy!r}")


def default_head(max_length: int) -> int:
    """head+tail's head when model.head_tokens is null: a quarter (128 of 512, as Sun et al.)."""
    return max(1, max_length // 4)


def position_limit(tokenizer, model_config: Any | None) -> int:
    """The longest input the encoder takes: its position embeddings (less RoBERTa's padding
    offset), else the tokenizer's declared limit; the BiLSTM (no positions) gets BILSTM_CAP."""
    if model_config is None:
        return BILSTM_CAP
    positions = getattr(model_config, "max_position_embeddings", None)
    if positions:
        offset = 2 if getattr(model_config, "model_type", "") in ("roberta", "xlm-roberta") else 0
        return int(positions) - offset
    declared = getattr(tokenizer, "model_max_length", None)
    return int(declared) if declared and declared < 1_000_000 else 512


def auto_truncation(lengths: np.ndarray, max_length: int, percentile: float) -> tuple[str, str]:
    """The strategy `truncation: auto` picks for texts of these token lengths, and why."""
    if not len(lengths):
        return "head", "no training texts"
    covered = float(np.percentile(lengths, percentile))
    median = float(np.median(lengths))
    if covered <= max_length:
        return "head", (
            f"{percentile:g}% of the training texts fit in {max_length} tokens "
            f"(p{percentile:g} {covered:.0f}), so cutting the rest at the end loses little"
        )
    if median > LONG * max_length:
        return "windows", (
            f"the median training text ({median:.0f} tokens) is over {LONG:g}x max_length "
            f"{max_length}: any cut would drop most of the text, windows read all of it"
        )
    return "head+tail", (
        f"the training texts are long (p{percentile:g} {covered:.0f} tokens > max_length "
        f"{max_length}; median {median:.0f}): the first and last tokens are kept"
    )


def resolve(
    cfg: Any, lengths: np.ndarray, limit: int, pairs: bool = False, model_name: str = ""
) -> LengthChoice:
    """`cfg` (a ModelConfig) with `auto` resolved from the training texts' token `lengths`
    (special tokens included); `limit` is the encoder's position limit."""
    p = cfg.length_percentile
    auto_length = cfg.max_length == "auto"
    if auto_length:
        want = float(np.percentile(lengths, p)) if len(lengths) else MIN_LENGTH
        rounded = int(-(-want // ROUND_TO) * ROUND_TO)
        max_length = max(MIN_LENGTH, min(rounded, limit))
        how = (
            f"max_length {max_length}: covers p{p:g} of the training texts ({want:.0f} tokens)"
            if rounded <= limit
            else f"max_length {max_length}: the position limit of {model_name or 'the encoder'} "
            f"(p{p:g} of the training texts is {want:.0f} tokens)"
        )
    else:
        max_length = int(cfg.max_length)
        if max_length > limit:
            raise TextclassError(
                f"model.max_length={max_length} is longer than {model_name or 'the encoder'} "
                f"takes ({limit} positions): set model.max_length={limit} or lower, or auto "
                "(model.truncation=windows reads longer texts)"
            )
        how = f"max_length {max_length} (set)"
    if cfg.windows:
        truncation, why = "windows", "set"
    elif pairs:
        truncation, why = "head", "text pairs are cut longest text first"
    elif cfg.truncation == "auto":
        truncation, why = auto_truncation(lengths, max_length, p)
    else:
        truncation, why = cfg.truncation, "set"
    head = None
    if truncation == "head+tail":
        head = cfg.head_tokens if cfg.head_tokens is not None else default_head(max_length)
        if head >= max_length - 2:
            raise TextclassError(
                f"model.head_tokens={head} leaves no room for the tail within "
                f"max_length={max_length}: lower it or leave it null"
            )
    reason = f"{how}; {truncation}: {why}"
    record = {
        "max_length": max_length,
        "max_length_setting": cfg.max_length,
        "strategy": truncation,
        "strategy_setting": "windows" if cfg.windows else cfg.truncation,
        "head_tokens": head,
        "percentile": p,
        "position_limit": limit,
        "reason": reason,
    }
    return LengthChoice(max_length, truncation, head, reason, record)


def cut_stats(full_lengths: np.ndarray, max_length: int, kept: np.ndarray) -> dict[str, Any]:
    """Per split: texts longer than max_length and tokens they lost (special tokens included
    in the lengths; `kept` is how many of each text's tokens the model reads)."""
    n = len(full_lengths)
    total = int(full_lengths.sum())
    dropped = int(np.maximum(full_lengths - kept, 0).sum())
    longer = int((full_lengths > max_length).sum())
    return {
        "texts": n,
        "texts_longer": longer,
        "texts_longer_share": longer / max(n, 1),
        "tokens": total,
        "tokens_dropped": dropped,
        "tokens_dropped_share": dropped / max(total, 1),
    }
