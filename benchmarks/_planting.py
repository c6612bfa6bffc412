"""Planted problems for measuring the data audit (benchmarks/audit_bench.py, tests/unit/
test_audit_*.py): near-duplicates made by 1-3 word edits or reordered clauses, and label flips.

Each planted near-duplicate is an edited copy of one source text: `substitute`, `insert` or
`delete` changes 1-3 words (a substituted or inserted word is drawn from the corpus' own words),
with at most one edited word per `words_per_edit` words of the source (so a 5-word text gets
one edit, a 15-word text up to three); `reorder` moves the clauses after a clause boundary
(`,` `;` `:`) to the front, or swaps the two halves of a text without one. Seeded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

KINDS = ("substitute", "insert", "delete", "reorder")
WORDS_PER_EDIT = 5
_CLAUSE = re.compile(r"(?<=[,;:])\s+")


@dataclass(frozen=True)
class Planted:
    source: int  # position of the source text
    text: str  # the edited copy
    kind: str  # one of KINDS
    edits: int  # words changed (0 for reorder)


def word_edit(text: str, kind: str, edits: int, rng: np.random.Generator, vocab: list[str]) -> str:
    words = text.split()
    for _ in range(edits):
        i = int(rng.integers(len(words)))
        if kind == "substitute":
            words[i] = vocab[int(rng.integers(len(vocab)))]
        elif kind == "insert":
            words.insert(int(rng.integers(len(words) + 1)), vocab[int(rng.integers(len(vocab)))])
        elif kind == "delete" and len(words) > 1:
            del words[i]
    return " ".join(words)


def reorder(text: str, rng: np.random.Generator) -> str:
    clauses = _CLAUSE.split(text)
    if len(clauses) > 1:
        cut = int(rng.integers(1, len(clauses)))
        return " ".join(clauses[cut:] + clauses[:cut])
    words = text.split()
    half = len(words) // 2
    return " ".join(words[half:] + words[:half])


def plant_near_duplicates(
    texts: list[str], n: int, seed: int, words_per_edit: int = WORDS_PER_EDIT
) -> list[Planted]:
    """`n` edited copies of distinct source texts with at least `words_per_edit` words (and
    4 words for a reorder), kinds in turn."""
    rng = np.random.default_rng(seed)
    vocab = sorted({w for t in texts for w in t.split()})
    lengths = np.array([len(t.split()) for t in texts])
    eligible = np.flatnonzero(lengths >= max(words_per_edit, 4))
    sources = rng.choice(eligible, size=n, replace=False)
    out = []
    for k, source in enumerate(sources.tolist()):
        kind = KINDS[k % len(KINDS)]
        text = texts[source]
        if kind == "reorder":
            out.append(Planted(source, reorder(text, rng), kind, 0))
            continue
        edits = int(min(rng.integers(1, 4), lengths[source] // words_per_edit))
        out.append(Planted(source, word_edit(text, kind, edits, rng, vocab), kind, edits))
    return out


def plant_flips(labels: list[str], rate: float, seed: int) -> tuple[list[str], np.ndarray]:
    """Labels with `rate` of them (rounded) changed to another class drawn uniformly, and the
    positions changed (sorted)."""
    rng = np.random.default_rng(seed)
    classes = sorted(set(labels))
    flipped = sorted(rng.choice(len(labels), size=round(rate * len(labels)), replace=False))
    out = list(labels)
    for i in flipped:
        others = [c for c in classes if c != out[i]]
        out[i] = others[int(rng.integers(len(others)))]
    return out, np.asarray(flipped, dtype=np.int64)
