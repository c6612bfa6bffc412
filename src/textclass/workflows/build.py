"""Stage 1 of a run: from prepared data to a tokenizer, a model and encoded splits.

One copy, used by `train`, `fit_and_evaluate`, `doctor` and the benchmarks, so what the doctor
checks is exactly what training builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from textclass.config.schema import RunConfig, WindowConfig
from textclass.config.tasks import SINGLE_LABEL, Task
from textclass.data.encode import EncodedTexts, encode, first_windows
from textclass.data.prepare import PreparedData, label_targets
from textclass.models.build import build_model, build_tokenizer


@dataclass
class Built:
    tokenizer: Any
    model: Any  # a transformers PreTrainedModel
    encoded: dict[str, EncodedTexts]  # train / validation / test
    stats: dict[str, Any] = field(default_factory=dict)  # token lengths, windows (data.json)

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id or 0


def training_texts(frame: pd.DataFrame) -> list[str]:
    """What a from-scratch tokenizer learns from: the texts and, for pairs, the second texts."""
    texts = frame["text"].tolist()
    return texts + frame["text_pair"].tolist() if "text_pair" in frame.columns else texts


def encode_split(
    tokenizer,
    frame: pd.DataFrame,
    labels: list[str],
    max_length: int,
    task: Task | str = SINGLE_LABEL,
    window: WindowConfig | None = None,
) -> EncodedTexts:
    """One split's texts (and pairs) as token ids, with the task's targets."""
    y = label_targets(frame, labels, task) if "label" in frame.columns else None
    pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
    return encode(tokenizer, frame["text"].tolist(), pairs, max_length, y, window)


def length_stats(lengths: np.ndarray, cap: int) -> dict[str, Any]:
    """Token counts per text (after truncation to `cap`, special tokens included)."""
    at_cap = int((lengths >= cap).sum())
    return {
        "mean": float(lengths.mean()),
        "p50": int(np.percentile(lengths, 50)),
        "p90": int(np.percentile(lengths, 90)),
        "p99": int(np.percentile(lengths, 99)),
        "max": int(lengths.max()),
        "at_cap": at_cap,
        "at_cap_share": at_cap / max(len(lengths), 1),
    }


def build(cfg: RunConfig, data: PreparedData) -> Built:
    """Tokenizer (pretrained, or learnt from the training texts), model with the task's head,
    and every split encoded (sliding windows when configured)."""
    tokenizer = build_tokenizer(cfg.model, training_texts(data.splits["train"]))
    model = build_model(cfg.model, data.labels, tokenizer, data.label_prior(), task=data.task)
    window, cap = cfg.model.window, cfg.model.max_length
    encoded = {
        name: encode_split(tokenizer, frame, data.labels, cap, data.task, window)
        for name, frame in data.splits.items()
    }
    stats: dict[str, Any] = {
        "token_lengths": {name: length_stats(enc.lengths, cap) for name, enc in encoded.items()}
    }
    if window.enabled:
        stats["windows"] = {name: enc.window_stats for name, enc in encoded.items()}
        if window.train == "first":
            encoded["train"] = first_windows(encoded["train"])
    return Built(tokenizer=tokenizer, model=model, encoded=encoded, stats=stats)
