"""Exact and near-duplicate texts, within a split and across splits (leakage), and the label
conflicts among them.

Exact duplicates are texts equal after `texts.normalise` (case and spacing ignored). Near
duplicates are distinct texts whose character-shingle sets have a Jaccard similarity of at least
`data.near_duplicate_threshold`. Candidates come from MinHash signatures (datasketch, 128
permutations) cut into LSH bands; each candidate is checked by the
signatures' estimate, then by the exact Jaccard of the two shingle sets, so no pair listed is
below the threshold. LSH can miss a pair: the bands are chosen (`lsh_bands`) so that a pair at
the threshold is a candidate with probability at least 0.99, more above it (measured recall:
docs/audit.md).

Built to scale: exact duplicates are merged first (`pandas.factorize`), so MinHash runs once per
distinct text, one text at a time (`MinHash.generator`). The band index is a sort of 64-bit
band hashes, one band at a time (numpy), not datasketch's `MinHashLSH`, which keeps a Python set
per bucket: on 30,000 distinct texts its inserts and queries alone took 7.5 s and a 560 MB peak,
the sort with verification 3.0 s and 243 MB (benchmarks/results/audit_scale.json `index`);
the sort needs the signatures (512 bytes per text). A bucket of more than BUCKET_CAP texts (a
band of very common shingles) is not expanded into pairs; its texts are counted (`crowded`),
and a true pair among them is found through its other bands.

    found = find_duplicates(splits, threshold=0.5)
    found.pairs          # a, b (rows of found.rows), similarity, exact
    found.rows           # split, row, key (id of the normalised text), label, group
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from textclass.audit.texts import PAIR_JOIN, SHINGLE, jaccard, normalise, shingles

NUM_PERM = 128  # MinHash permutations
SEED = 1  # of the MinHash permutations: the same candidates on every run
CHUNK = 20_000  # candidate pairs whose estimates are computed at a time
CANDIDATE_PROBABILITY = 0.99  # of a pair exactly at the threshold becoming a candidate
ESTIMATE_MARGIN = 0.15  # candidates whose estimate is this far below the threshold are dropped
BUCKET_CAP = 500  # texts sharing one band value beyond which the bucket is not paired
SPLIT_ORDER = {"train": 0, "validation": 1, "test": 2}


def lsh_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows per band) of the LSH index: the most rows per band (the fewest chance
    candidates) with which a pair of similarity `threshold` is a candidate with probability
    at least CANDIDATE_PROBABILITY (1 - (1 - t^r)^b)."""
    for rows in range(num_perm // 2, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= CANDIDATE_PROBABILITY:
            return bands, rows
    return num_perm, 1


@dataclass
class NearPairs:
    """Verified pairs of distinct texts, and what finding them took."""

    pairs: list[tuple[int, int, float]]  # (earlier text, later text, Jaccard), each pair once
    candidates: int  # pairs that shared a band
    verified: int  # of those, checked by exact Jaccard (the estimate was close enough)
    crowded: int  # texts in a bucket of more than BUCKET_CAP (not paired in that band)
    bands: int
    rows_per_band: int


def signatures(texts: list[str], num_perm: int = NUM_PERM) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures (texts x num_perm, uint32) and shingle-set sizes of `texts`, one text
    at a time (`MinHash.generator`): no shingle set outlives its signature."""
    from datasketch import MinHash

    sig = np.empty((len(texts), num_perm), dtype=np.uint32)
    sizes = np.empty(len(texts), dtype=np.int32)

    def encoded():
        for row, text in enumerate(texts):
            shingle_set = shingles(text)
            sizes[row] = len(shingle_set)
            yield [s.encode("utf-8") for s in shingle_set]

    # crc32: a fast, fixed hash of each shingle (MinHash mixes it before its permutations)
    hashed = MinHash.generator(encoded(), num_perm=num_perm, seed=SEED, hashfunc=zlib.crc32)
    for row, minhash in enumerate(hashed):
        sig[row] = minhash.hashvalues
    return sig, sizes


def band_candidates(sig: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, int]:
    """Pairs (i < j, as i * n + j) that share the value of at least one band, and the number
    of texts left unpaired in buckets over BUCKET_CAP."""
    n = len(sig)
    found, crowded = [], 0
    for band in range(bands):
        h = np.zeros(n, dtype=np.uint64)
        for column in sig[:, band * rows : (band + 1) * rows].T:  # a 64-bit hash of the band
            h = h * np.uint64(0x100000001B3) + column.astype(np.uint64)
        order = np.argsort(h, kind="stable")
        starts = np.flatnonzero(np.r_[True, h[order][1:] != h[order][:-1]])
        sizes = np.diff(np.r_[starts, n])
        two = starts[sizes == 2]
        found.append(order[two] * n + order[two + 1])  # stable: order[two] < order[two + 1]
        for s, size in zip(starts[sizes > 2], sizes[sizes > 2], strict=True):
            if size > BUCKET_CAP:
                crowded += int(size)
                continue
            members = order[s : s + size]
            i, j = np.triu_indices(size, k=1)
            found.append(members[i] * n + members[j])
    pairs = np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)
    return pairs, crowded


def near_pairs(texts: list[str], threshold: float, num_perm: int = NUM_PERM) -> NearPairs:
    """Pairs of `texts` (normalised, distinct) whose shingle sets have Jaccard >= threshold."""
    bands, rows = lsh_bands(threshold, num_perm)
    sig, sizes = signatures(texts, num_perm)
    coded, crowded = band_candidates(sig, bands, rows)
    i, j = np.divmod(coded, max(len(texts), 1))
    close = np.minimum(sizes[i], sizes[j]) >= threshold * np.maximum(sizes[i], sizes[j])
    i, j = i[close], j[close]
    estimate = np.concatenate(
        [(sig[i[k : k + CHUNK]] == sig[j[k : k + CHUNK]]).mean(axis=1)
         for k in range(0, len(i), CHUNK)] or [np.empty(0)]
    )  # fmt: skip
    keep = estimate >= threshold - ESTIMATE_MARGIN
    pairs = []
    for a, b in zip(i[keep].tolist(), j[keep].tolist(), strict=True):
        similarity = jaccard(shingles(texts[a]), shingles(texts[b]))
        if similarity >= threshold:
            pairs.append((a, b, similarity))
    return NearPairs(pairs, len(coded), int(keep.sum()), crowded, bands, rows)


def label_text(value: Any) -> str:
    """A label cell as one comparable string: a multi-label list joined with `|`, a number
    in its shortest form."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return "|".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def row_table(splits: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per text of every split, train first: split, row (position in its split),
    key (the normalised text, and pair), label (as `label_text`), group (or None)."""
    parts = []
    for name in sorted(splits, key=lambda s: SPLIT_ORDER.get(s, 9)):
        frame = splits[name]
        key = frame["text"].map(normalise)
        if "text_pair" in frame.columns:
            key = key + PAIR_JOIN + frame["text_pair"].map(normalise)
        labels = frame["label"].map(label_text).to_numpy() if "label" in frame.columns else ""
        part = pd.DataFrame(
            {"split": name, "row": np.arange(len(frame)), "key": key.to_numpy(), "label": labels}
        )
        part["group"] = frame["group"].to_numpy() if "group" in frame.columns else None
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


@dataclass
class Duplicates:
    """Every text (`rows`) and every duplicate pair among them (`pairs`)."""

    rows: pd.DataFrame  # split, row, key (id of the normalised text), label, group
    pairs: pd.DataFrame  # a, b (indices into rows; a first by split, then row), similarity, exact
    key_pairs: list[tuple[int, int, float]]  # near pairs of distinct keys
    settings: dict[str, Any]  # threshold, shingle, num_perm, bands, rows_per_band
    stats: dict[str, Any]  # distinct texts, candidates verified, seconds

    def across(self) -> pd.DataFrame:
        """Pairs in two different splits (train with validation or test, or those two)."""
        return self.pairs[self.split_of(self.pairs["a"]) != self.split_of(self.pairs["b"])]

    def within(self) -> pd.DataFrame:
        return self.pairs[self.split_of(self.pairs["a"]) == self.split_of(self.pairs["b"])]

    def split_of(self, index: pd.Series) -> np.ndarray:
        return self.rows["split"].to_numpy()[index.to_numpy()]


def find_duplicates(splits: dict[str, pd.DataFrame], threshold: float) -> Duplicates:
    """Exact and near-duplicate pairs within and across `splits` (see the module docstring)."""
    started = time.perf_counter()
    rows = row_table(splits)
    codes, keys = pd.factorize(rows["key"])
    rows["key"] = codes
    near = near_pairs(list(keys), threshold)
    pairs = pd.concat([_exact_pairs(rows), _near_row_pairs(rows, near.pairs)], ignore_index=True)
    pairs = _oriented(rows, pairs).sort_values(["a", "b"], kind="stable").reset_index(drop=True)
    settings = {
        "threshold": threshold,
        "shingle": SHINGLE,
        "num_perm": NUM_PERM,
        "bands": near.bands,
        "rows_per_band": near.rows_per_band,
    }
    stats = {
        "texts": len(rows),
        "distinct_texts": len(keys),
        "candidates": near.candidates,
        "verified": near.verified,
        "crowded": near.crowded,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return Duplicates(rows, pairs, near.pairs, settings, stats)


def _exact_pairs(rows: pd.DataFrame) -> pd.DataFrame:
    """Each text equal to an earlier one paired with the first of its kind (a star, not every
    pair: linear in the number of texts)."""
    first = rows.groupby("key", sort=False).cumcount() == 0
    first_row = pd.Series(np.flatnonzero(first.to_numpy()), index=rows["key"][first].to_numpy())
    later = np.flatnonzero(~first.to_numpy())
    a = first_row.loc[rows["key"].to_numpy()[later]].to_numpy()
    return pd.DataFrame({"a": a, "b": later, "similarity": 1.0, "exact": True})


def _near_row_pairs(rows: pd.DataFrame, pairs: list[tuple[int, int, float]]) -> pd.DataFrame:
    """Near pairs of keys as pairs of rows: the first row of each key in each split."""
    columns = {"a": [], "b": [], "similarity": [], "exact": []}
    if not pairs:
        return pd.DataFrame(columns).astype({"a": int, "b": int, "similarity": float})
    first = rows.reset_index().drop_duplicates(["key", "split"])[["key", "index"]]
    keyed = pd.DataFrame(pairs, columns=["ka", "kb", "similarity"])
    out = keyed.merge(first.rename(columns={"key": "ka", "index": "a"}), on="ka")
    out = out.merge(first.rename(columns={"key": "kb", "index": "b"}), on="kb")
    return out.assign(exact=False)[list(columns)]


def _oriented(rows: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs with `a` the earlier row (train before validation before test, then by row)."""
    order = rows["split"].map(SPLIT_ORDER).fillna(9).to_numpy() * 1e12 + rows["row"].to_numpy()
    swap = order[pairs["a"].to_numpy()] > order[pairs["b"].to_numpy()]
    a, b = pairs["a"].to_numpy().copy(), pairs["b"].to_numpy().copy()
    a[swap], b[swap] = pairs["b"].to_numpy()[swap], pairs["a"].to_numpy()[swap]
    return pairs.assign(a=a, b=b)


# ---------------------------------------------------------------- what the pairs mean


def leaking_keys(found: Duplicates) -> set[int]:
    """Keys of training texts equal or near to a validation or test text."""
    rows = found.rows
    held_out = set(rows.loc[rows["split"] != "train", "key"])
    in_train = set(rows.loc[rows["split"] == "train", "key"])
    leaking = held_out & in_train
    for a, b, _ in found.key_pairs:
        if a in held_out and b in in_train:
            leaking.add(b)
        if b in held_out and a in in_train:
            leaking.add(a)
    return leaking


def leaking_train_rows(found: Duplicates) -> np.ndarray:
    """Positions (in the training split) of the training texts equal or near to a validation or
    test text: what `data.leakage: drop` removes."""
    rows = found.rows[found.rows["split"] == "train"]
    return rows.loc[rows["key"].isin(leaking_keys(found)), "row"].to_numpy()


def redundant_train_rows(found: Duplicates, compare_labels: bool = True) -> np.ndarray:
    """Positions (in the training split) of the training texts equal or near to an earlier
    training text with the same label that is kept: what `data.near_duplicates: drop` removes
    (keeping the first of each). Texts with another label are conflicts, not duplicates, and
    stay; `compare_labels` false (regression) drops them whatever their targets."""
    rows = found.rows[found.rows["split"] == "train"]
    neighbours: dict[int, list[int]] = {}
    for a, b, _ in found.key_pairs:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    kept: dict[int, set[str]] = {}
    redundant = []
    labels = rows["label"] if compare_labels else pd.Series("", index=rows.index)
    for row, key, label in zip(rows["row"], rows["key"], labels, strict=True):
        near = (kept.get(n, ()) for n in neighbours.get(key, ()))
        if label in kept.get(key, ()) or any(label in seen for seen in near):
            redundant.append(row)
        else:
            kept.setdefault(key, set()).add(label)
    return np.asarray(redundant, dtype=np.int64)


def conflicts(found: Duplicates) -> pd.DataFrame:
    """The pairs whose two texts have different labels (exact or near, any splits)."""
    labels = found.rows["label"].to_numpy()
    pairs = found.pairs
    return pairs[labels[pairs["a"].to_numpy()] != labels[pairs["b"].to_numpy()]]
