"""Stage 1 of a run: from prepared data to a tokenizer, a model and encoded splits.

One copy, used by `train`, `fit_and_evaluate`, `doctor` and the benchmarks, so what the doctor
checks is exactly what training builds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from textclass.config.schema import ModelConfig, RunConfig, WindowConfig
from textclass.config.tasks import SINGLE_LABEL, Task
from textclass.data import length
from textclass.data.augment import augmented
from textclass.data.encode import EncodedTexts, encode, first_windows
from textclass.data.length import LengthChoice
from textclass.data.prepare import PreparedData, label_targets
from textclass.errors import TextclassError
from textclass.models.build import build_model, build_tokenizer

log = logging.getLogger(__name__)


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
    truncation: str = "head",
    head_tokens: int | None = None,
    tokens: list[list[int]] | None = None,
) -> EncodedTexts:
    """One split's texts (and pairs) as token ids, with the task's targets (`tokens`: the
    texts' whole ids, when already at hand)."""
    y = label_targets(frame, labels, task) if "label" in frame.columns else None
    pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
    return encode(
        tokenizer, frame["text"].tolist(), pairs, max_length, y, window, truncation, head_tokens,
        tokens,
    )  # fmt: skip


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


def training_lengths(
    tokenizer, frame: pd.DataFrame, tokens: list[list[int]] | None = None
) -> np.ndarray:
    """Each training text's (pair's) whole length in tokens, special tokens included
    (`tokens`: single texts' whole ids, when already at hand)."""
    if "text_pair" in frame.columns:
        ids = tokenizer(
            frame["text"].tolist(),
            frame["text_pair"].tolist(),
            truncation=False,
            verbose=False,
            return_attention_mask=False,
        )["input_ids"]
        return np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
    prefix, suffix = length.special_layout(tokenizer)
    whole = tokens if tokens is not None else length.tokenize(tokenizer, frame["text"].tolist())
    extra = len(prefix) + len(suffix)
    return np.fromiter((len(i) + extra for i in whole), dtype=np.int64, count=len(whole))


def choose_length(
    cfg: ModelConfig, tokenizer, model, train: pd.DataFrame, tokens: list[list[int]] | None = None
) -> LengthChoice:
    """`model.max_length` and `model.truncation` for this run (auto: from the training texts),
    logged with the reason."""
    limit = length.position_limit(
        tokenizer, model.config if cfg.architecture == "transformer" else None
    )
    choice = length.resolve(
        cfg,
        training_lengths(tokenizer, train, tokens),
        limit,
        "text_pair" in train.columns,
        cfg.name,
    )
    if choice.truncation == "windows" and cfg.window.stride > choice.max_length // 2:
        raise TextclassError(
            f"model.window.stride={cfg.window.stride} must be at most half of max_length "
            f"{choice.max_length} ({choice.reason}): lower model.window.stride or raise "
            "model.max_length"
        )
    log.info("input length: %s", choice.reason)
    return choice


def build(cfg: RunConfig, data: PreparedData) -> Built:
    """Tokenizer (pretrained, or learnt from the training texts), model with the task's head,
    input length and truncation (resolved into `cfg.model`, so the saved config reruns the
    same), and every split encoded."""
    tokenizer = build_tokenizer(cfg.model, training_texts(data.splits["train"]))
    model = build_model(cfg.model, data.labels, tokenizer, data.label_prior(), task=data.task)
    train = data.splits["train"]
    # Single texts are tokenized whole once: for the length choice and for encoding.
    whole = None if "text_pair" in train.columns else length.tokenize(tokenizer, train["text"])
    choice = choose_length(cfg.model, tokenizer, model, train, whole)
    # Resolved in place, as train.metric is: config.yaml, the report and the model read ints.
    cfg.model.max_length = choice.max_length
    cfg.model.truncation = choice.truncation
    cfg.model.head_tokens = choice.head_tokens
    tokenizer.model_max_length = choice.max_length
    window, cap = cfg.model.window, choice.max_length
    how = (window, choice.truncation, choice.head_tokens)
    encoded = {
        name: encode_split(
            tokenizer, frame, data.labels, cap, data.task, *how, whole if name == "train" else None
        )
        for name, frame in data.splits.items()
    }
    cuts = {name: enc.cut_stats for name, enc in encoded.items()}
    stats: dict[str, Any] = {
        "token_lengths": {name: length_stats(enc.lengths, cap) for name, enc in encoded.items()},
        "truncation": {**choice.record, "splits": cuts},
    }
    dropped = cuts["train"]["tokens_dropped_share"]
    if dropped > length.DROPPED_WARNING:
        log.warning(
            "%.0f%% of the training tokens are cut away (%s, max_length %d): see the report's "
            '"Input length and truncation"',
            100 * dropped,
            choice.truncation,
            cap,
        )
    if choice.truncation == "windows":
        stats["windows"] = {name: enc.window_stats for name, enc in encoded.items()}
        if window.train == "first":
            encoded["train"] = first_windows(encoded["train"])
    if cfg.train.augment.enabled:
        encoded["train"], stats["augment"] = augment_train(cfg, data, tokenizer, encoded, choice)
    return Built(tokenizer=tokenizer, model=model, encoded=encoded, stats=stats)


def augment_train(
    cfg: RunConfig,
    data: PreparedData,
    tokenizer,
    encoded: dict[str, EncodedTexts],
    choice: LengthChoice,
) -> tuple[EncodedTexts, dict[str, Any]]:
    """`train.augment`: the training split wrapped to perturb a share of its texts each epoch
    (`data/augment.py`); validation and test stay as encoded. What data.json records of it."""
    if choice.truncation == "windows":
        raise TextclassError(
            f"train.augment does not combine with sliding windows ({choice.reason}): a "
            "perturbed text may need another number of windows. Set model.truncation to head, "
            "tail or head+tail, or remove train.augment."
        )
    frame, aug = data.splits["train"], cfg.train.augment
    how = {"max_length": choice.max_length, "truncation": choice.truncation}
    how["head_tokens"] = choice.head_tokens
    pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
    wrapped, skipped = augmented(
        encoded["train"], frame["text"].tolist(), pairs, aug.specs(), aug.p, cfg.seed, tokenizer,
        how, cfg.data.cleaning,
    )  # fmt: skip
    if wrapped is encoded["train"]:
        log.warning("train.augment: every perturbation is unavailable here; training without")
    record = {"perturbations": [s.label for s in aug.specs()], "p": aug.p, "skipped": skipped}
    return wrapped, {**record, "applied": wrapped is not encoded["train"]}
