"""Training-text augmentation (`train.augment`): each epoch, a share `p` of the training texts is
perturbed afresh and re-tokenized, on the fly.

The splits are tokenized once, before training (`data/encode.py`); augmentation swaps in new
token ids for the drawn rows only, at the start of each epoch (`AugmentedTexts.set_epoch`,
called by the training loop where it sets the epoch of the batch sampler). That is the seam
because it is where the epoch is known and before the sampler orders the batches by length:
the perturbed texts' lengths count, and everything depends on (seed, epoch) alone, so a
resumed run re-draws exactly the texts an uninterrupted one had. A collator-level seam would
re-tokenize every batch and see no epoch. Validation and test are never wrapped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from textclass.config.schema import CleaningConfig
from textclass.data.clean import clean_texts
from textclass.data.encode import EncodedTexts, encode
from textclass.data.perturb import Spec, perturb

log = logging.getLogger(__name__)

STREAM = 7  # the augmentation's own random stream: (seed, epoch, STREAM)


class AugmentedTexts(EncodedTexts):
    """The training split with, in each epoch, a drawn share of its texts perturbed: one
    perturbation each (drawn from `specs`), cleaned as all texts are, re-tokenized. A row whose
    text the perturbation left unchanged keeps its token ids."""

    def __init__(
        self,
        base: EncodedTexts,
        texts: Sequence[str],
        pairs: Sequence[str] | None,
        specs: list[Spec],
        p: float,
        seed: int,
        tokenizer: Any,
        how: dict[str, Any],
        cleaning: CleaningConfig,
    ):
        if base.owner is not None:
            raise ValueError("augmentation needs one row per text (no sliding windows)")
        super().__init__({k: list(v) for k, v in base.encoding.items()}, base.labels)
        self.base, self.texts, self.pairs = base, list(texts), pairs
        self.specs, self.p, self.seed = specs, p, seed
        self.tokenizer, self.how, self.cleaning = tokenizer, how, cleaning  # how: encode's settings
        self.cut_stats = base.cut_stats
        self.skipped: dict[str, str] = {}  # perturbations left out, and why
        self._touched = np.zeros(0, dtype=np.int64)

    def describe(self) -> dict[str, Any]:
        """The settings, as history.json records them (`epochs` filled by the loop)."""
        return {
            "perturbations": [s.label for s in self.specs],
            "p": self.p,
            "texts": len(self.texts),
            "skipped": self.skipped,
            "epochs": {},
        }

    def _restore(self) -> None:
        """Last epoch's perturbed rows back to their original token ids."""
        for i in self._touched:
            for key, rows in self.encoding.items():
                rows[i] = self.base.encoding[key][i]
        self.lengths[self._touched] = self.base.lengths[self._touched]
        self._touched = np.zeros(0, dtype=np.int64)

    def set_epoch(self, epoch: int) -> dict[str, Any]:
        """Draw and perturb this epoch's texts (a function of seed and epoch only); the counts:
        texts drawn, changed by their perturbation, and per perturbation."""
        self._restore()
        rng = np.random.default_rng([self.seed, epoch, STREAM])
        drawn = np.flatnonzero(rng.random(len(self.texts)) < self.p)
        which = rng.integers(len(self.specs), size=len(drawn))
        rows, new, per = [], [], {}
        for k, spec in enumerate(self.specs):
            mine = drawn[which == k]
            old = [self.texts[i] for i in mine]
            out = clean_texts(perturb(old, spec, seed=[self.seed, epoch]), self.cleaning)
            changed = [(i, t) for i, a, t in zip(mine, old, out, strict=True) if t != a]
            per[spec.label] = {"drawn": len(mine), "changed": len(changed)}
            rows += [int(i) for i, _ in changed]
            new += [t for _, t in changed]
        if rows:
            self._swap_in(np.asarray(rows), new)
        return {"drawn": len(drawn), "changed": len(rows), "by": per}

    def _swap_in(self, rows: np.ndarray, texts: list[str]) -> None:
        pairs = [self.pairs[i] for i in rows] if self.pairs is not None else None
        fresh = encode(self.tokenizer, texts, pairs, **self.how)
        for j, i in enumerate(rows):
            for key, values in self.encoding.items():
                values[i] = fresh.encoding[key][j]
        self.lengths[rows] = fresh.lengths  # in place: the batch sampler holds this array
        self._touched = rows


def augmented(
    base: EncodedTexts,
    texts: Sequence[str],
    pairs: Sequence[str] | None,
    specs: list[Spec],
    p: float,
    seed: int,
    tokenizer: Any,
    how: dict[str, Any],
    cleaning: CleaningConfig,
) -> tuple[EncodedTexts, dict[str, str]]:
    """The training split wrapped for augmentation, and the perturbations left out (name:
    why, e.g. WordNet not installed; logged). All left out: the split as it was."""
    skipped = {s.label: why for s in specs if (why := s.perturbation.unavailable())}
    for label, why in skipped.items():
        log.warning("train.augment: %s skipped: %s", label, why)
    usable = [s for s in specs if s.label not in skipped]
    if not usable:
        return base, skipped
    wrapped = AugmentedTexts(base, texts, pairs, usable, p, seed, tokenizer, how, cleaning)
    wrapped.skipped = skipped
    return wrapped, skipped
