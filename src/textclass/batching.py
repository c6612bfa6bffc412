"""From texts to padded tensor batches: tokenize once, batch by length, pad per batch.

Written by hand rather than with `DataCollatorWithPadding` because padding plain int lists with
NumPy is several times faster than `tokenizer.pad`, and because the length-grouped sampler must
be deterministic per (seed, epoch) so that a resumed run sees exactly the batches it would have.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

MEGA_BATCHES = 50  # batches per length-sorted block: random enough, little padding


class EncodedTexts(Dataset):
    """Token ids of every text (pair), kept unpadded, with optional integer labels."""

    def __init__(self, encoding: dict[str, list[list[int]]], labels: np.ndarray | None = None):
        self.encoding = encoding
        self.labels = labels
        self.lengths = np.fromiter((len(ids) for ids in encoding["input_ids"]), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> dict[str, object]:
        item: dict[str, object] = {key: values[i] for key, values in self.encoding.items()}
        if self.labels is not None:
            item["labels"] = self.labels[i]
        return item


def encode(
    tokenizer,
    texts: Sequence[str],
    pairs: Sequence[str] | None,
    max_length: int,
    labels: np.ndarray | None = None,
) -> EncodedTexts:
    """Tokenize all texts in one fast batched call; truncation only, padding comes later."""
    encoded = tokenizer(
        list(texts),
        list(pairs) if pairs is not None else None,
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
    )
    keep = {k: encoded[k] for k in ("input_ids", "token_type_ids") if k in encoded}
    return EncodedTexts(keep, labels)


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
