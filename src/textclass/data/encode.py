"""From texts to padded tensor batches: tokenize once, batch by length, pad per batch.

Written by hand rather than with `DataCollatorWithPadding` because padding plain int lists with
NumPy is several times faster than `tokenizer.pad`, and because the length-grouped sampler must
be deterministic per (seed, epoch) so that a resumed run sees exactly the batches it would have.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from textclass.config.schema import WindowConfig
from textclass.data import length

MEGA_BATCHES = 50  # batches per length-sorted block: random enough, little padding


class EncodedTexts(Dataset):
    """Token ids of every text (pair), kept unpadded, with optional labels (class ids, or a
    0/1 matrix for multi-label data), one row per text.

    With sliding windows, a row is a window: `owner[row]` is the text it came from, `labels`
    stay one per text, and `predict_logits` aggregates the windows' logits per text
    (`aggregate`: mean or max).
    """

    def __init__(
        self,
        encoding: dict[str, list[list[int]]],
        labels: np.ndarray | None = None,
        owner: np.ndarray | None = None,
        aggregate: str = "mean",
    ):
        self.encoding = encoding
        self.labels = labels
        self.owner = owner
        self.aggregate = aggregate
        self.lengths = np.fromiter((len(ids) for ids in encoding["input_ids"]), dtype=np.int64)
        self.window_stats: dict[str, int] | None = None  # set by `encode` with windows
        self.cut_stats: dict[str, Any] | None = None  # set by `encode`: texts and tokens cut

    @property
    def num_texts(self) -> int:
        return len(self.lengths) if self.owner is None else int(self.owner.max(initial=-1) + 1)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> dict[str, object]:
        item: dict[str, object] = {key: values[i] for key, values in self.encoding.items()}
        if self.labels is not None:
            item["labels"] = self.labels[i if self.owner is None else self.owner[i]]
        return item

    def aggregate_rows(self, logits: np.ndarray) -> np.ndarray:
        """Per-row logits -> per-text logits (the identity without windows)."""
        if self.owner is None:
            return logits
        n = self.num_texts
        if self.aggregate == "max":
            out = np.full((n, logits.shape[1]), -np.inf, dtype=logits.dtype)
            np.maximum.at(out, self.owner, logits)
            return out
        out = np.zeros((n, logits.shape[1]), dtype=logits.dtype)
        np.add.at(out, self.owner, logits)
        return out / np.bincount(self.owner, minlength=n)[:, None]


def encode(
    tokenizer,
    texts: Sequence[str],
    pairs: Sequence[str] | None,
    max_length: int,
    labels: np.ndarray | None = None,
    window: WindowConfig | None = None,
    truncation: str = "head",
    head_tokens: int | None = None,
    tokens: list[list[int]] | None = None,
) -> EncodedTexts:
    """Tokenize all texts in one fast batched call; truncation only, padding comes later.

    `truncation`: head, tail or head+tail (the first `head_tokens` and the last) cut each text
    to `max_length` tokens, special tokens included (`textclass.data.length`); windows (or an
    enabled `window`) makes a longer text overlapping windows (`stride` tokens shared, at most
    `max_windows`), each framed by the special tokens. Text pairs are cut longest text first.
    The returned dataset's `cut_stats` counts the texts cut and the tokens they lost.
    `tokens`: the texts' whole token ids (no special tokens) when already at hand.
    """
    window = window or WindowConfig()
    if window.enabled:
        truncation = "windows"
    if pairs is not None:
        return _encode_pairs(tokenizer, texts, pairs, max_length, labels)
    whole = tokens if tokens is not None else length.tokenize(tokenizer, texts)
    prefix, suffix, types = _layout(tokenizer)
    specials = len(prefix) + len(suffix)
    full = np.fromiter((len(ids) + specials for ids in whole), dtype=np.int64, count=len(whole))
    keep = max_length - specials
    if truncation == "windows":
        dataset = _windows(tokenizer, texts, max_length, labels, window)
        step = keep - window.stride  # new tokens per further window
        covered = keep + (window.max_windows - 1) * step + specials
        dataset.cut_stats = length.cut_stats(full, max_length, np.minimum(full, covered))
        return dataset
    if truncation == "head+tail" and head_tokens is None:
        head_tokens = length.default_head(max_length)  # as `length.resolve` chooses it
    ids = [prefix + length.cut(t, keep, truncation, head_tokens) + suffix for t in whole]
    encoding = {"input_ids": ids}
    if types:
        encoding["token_type_ids"] = [[0] * len(row) for row in ids]
    dataset = EncodedTexts(encoding, labels)
    dataset.cut_stats = length.cut_stats(full, max_length, dataset.lengths)
    return dataset


def _layout(tokenizer) -> tuple[list[int], list[int], bool]:
    """Special tokens around a single text, and whether the model takes token_type_ids."""
    prefix, suffix = length.special_layout(tokenizer)
    return prefix, suffix, "token_type_ids" in tokenizer("a")


def _encode_pairs(tokenizer, texts, pairs, max_length, labels) -> EncodedTexts:
    encoded = tokenizer(
        list(texts),
        list(pairs),
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
    )
    keep = {k: encoded[k] for k in ("input_ids", "token_type_ids") if k in encoded}
    dataset = EncodedTexts(keep, labels)
    whole = tokenizer(
        list(texts), list(pairs), truncation=False, verbose=False, return_attention_mask=False
    )["input_ids"]
    full = np.fromiter((len(ids) for ids in whole), dtype=np.int64, count=len(whole))
    dataset.cut_stats = length.cut_stats(full, max_length, dataset.lengths)
    return dataset


def _windows(tokenizer, texts, max_length, labels, window: WindowConfig) -> EncodedTexts:
    encoded = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
        return_overflowing_tokens=True,
        stride=window.stride,
    )
    keep = {k: encoded[k] for k in ("input_ids", "token_type_ids") if k in encoded}
    owner = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)  # non-decreasing
    per_text = np.bincount(owner, minlength=len(texts))
    # Rank of each window within its text; windows past max_windows are dropped.
    rows = np.flatnonzero(
        np.arange(len(owner)) - np.searchsorted(owner, owner) < window.max_windows
    )
    keep = {k: [v[i] for i in rows] for k, v in keep.items()}
    dataset = EncodedTexts(keep, labels, owner[rows], window.aggregate)
    dataset.window_stats = {
        "texts": len(texts),
        "windows": len(rows),
        "longer_than_window": int((per_text > 1).sum()),  # split into several windows
        "truncated": int((per_text > window.max_windows).sum()),  # cut at max_windows
    }
    return dataset


def first_windows(dataset: EncodedTexts) -> EncodedTexts:
    """Only each text's first window: what plain truncation would have given."""
    if dataset.owner is None:
        return dataset
    rows = np.flatnonzero(np.r_[True, dataset.owner[1:] != dataset.owner[:-1]])
    encoding = {k: [v[i] for i in rows] for k, v in dataset.encoding.items()}
    return EncodedTexts(encoding, dataset.labels)


class Collator:
    """Pads a list of items to the longest in the batch and builds the attention mask."""

    def __init__(self, pad_id: int, multiple_of: int = 8):
        self.pad_id = pad_id
        self.multiple_of = multiple_of

    def __call__(self, items: list[dict[str, object]]) -> dict[str, torch.Tensor]:
        longest = max(len(item["input_ids"]) for item in items)  # type: ignore[arg-type]
        width = -(-longest // self.multiple_of) * self.multiple_of
        ids = np.full((len(items), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(items), width), dtype=np.int64)
        has_types = "token_type_ids" in items[0]
        types = np.zeros((len(items), width), dtype=np.int64) if has_types else None
        for row, item in enumerate(items):
            seq = item["input_ids"]
            ids[row, : len(seq)] = seq  # type: ignore[arg-type]
            mask[row, : len(seq)] = 1  # type: ignore[arg-type]
            if types is not None:
                types[row, : len(seq)] = item["token_type_ids"]  # type: ignore[index]
        batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        if types is not None:
            batch["token_type_ids"] = torch.from_numpy(types)
        if "labels" in items[0]:
            batch["labels"] = torch.as_tensor(np.array([item["labels"] for item in items]))
        return batch


class LengthGroupedBatches(Sampler[list[int]]):
    """Batches of indices, shuffled per epoch, grouped by length to cut padding.

    Shuffle, cut into blocks of `MEGA_BATCHES` batches, sort each block by length, cut into
    batches, shuffle the batch order. The order depends only on (seed, epoch): set `epoch` before
    iterating, and a resumed run can skip the batches it has already seen.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        group_by_length: bool = True,
    ):
        self.lengths = lengths
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.group_by_length = group_by_length
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def _cut(self, order: np.ndarray) -> list[np.ndarray]:
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:  # evaluation: longest first, so memory peaks at once, if at all
            order = (
                np.argsort(-self.lengths, kind="stable") if self.group_by_length else np.arange(n)
            )
            yield from (batch.tolist() for batch in self._cut(order))
            return
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n)
        if not self.group_by_length:
            yield from (batch.tolist() for batch in self._cut(order))
            return
        block = self.batch_size * MEGA_BATCHES
        batches: list[np.ndarray] = []
        for start in range(0, n, block):
            chunk = order[start : start + block]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches.extend(self._cut(chunk))
        for i in rng.permutation(len(batches)):
            yield batches[i].tolist()


class SiameseBatches(Sampler[list[int]]):
    """Anchor batches from `inner`, each followed by `k` sampled partners per anchor.

    A batch of B anchors yields B + B*k indices: the anchors, then anchor j's partners at
    B + j*k ... B + j*k + k-1. The first ceil(k/2) partners share the anchor's class, the
    rest are drawn from the other classes, so each epoch holds n*k pairs, balanced, instead of
    all n^2. Partners depend only on (seed, epoch, batch), so a resumed run sees the same.
    """

    def __init__(self, inner: LengthGroupedBatches, labels: np.ndarray, k: int):
        self.inner = inner
        self.k = k
        self.labels = np.asarray(labels)
        self._order = np.argsort(self.labels, kind="stable")  # rows grouped by class
        counts = np.bincount(self.labels)
        self._count = counts
        self._start = np.concatenate([[0], np.cumsum(counts)[:-1]])

    @property
    def epoch(self) -> int:
        return self.inner.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.inner.epoch = value

    def __len__(self) -> int:
        return len(self.inner)

    def partners(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(len(anchors), k) partner rows: same class first, then other classes."""
        y = self.labels[anchors]
        n_same = -(-self.k // 2)
        start, count = self._start[y][:, None], self._count[y][:, None]
        same = start + rng.integers(0, count, (len(y), n_same))
        others = len(self.labels) - count  # rows of the other classes, drawn uniformly
        r = rng.integers(0, np.maximum(others, 1), (len(y), self.k - n_same))
        other = np.where(r < start, r, r + count)
        return self._order[np.concatenate([same, other], axis=1)]

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.inner.seed, self.epoch, 1])
        for anchors in self.inner:
            partners = self.partners(np.asarray(anchors), rng)
            yield anchors + partners.reshape(-1).tolist()
