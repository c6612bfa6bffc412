"""Batch samplers (textclass.data.encode): Siamese pair sampling over length-grouped batches."""

import numpy as np

from textclass.data.encode import LengthGroupedBatches, SiameseBatches


def _siamese(n: int, k: int = 4, seed: int = 0) -> SiameseBatches:
    labels = np.arange(n) % 3
    inner = LengthGroupedBatches(np.ones(n, dtype=np.int64), 16, seed=seed)
    return SiameseBatches(inner, labels, k)


def test_siamese_pairs_are_balanced_and_bounded():
    batches = _siamese(300)
    labels = batches.labels
    same = total = rows = 0
    for batch in batches:
        b = len(batch) // 5
        anchors, partners = np.array(batch[:b]), np.array(batch[b:]).reshape(b, 4)
        assert len(batch) == 5 * b
        # The first ceil(k/2) partners share the anchor's class, the rest never do.
        assert (labels[partners[:, :2]] == labels[anchors][:, None]).all()
        assert (labels[partners[:, 2:]] != labels[anchors][:, None]).all()
        same += (labels[partners] == labels[anchors][:, None]).sum()
        total += partners.size
        rows += len(batch)
    assert same / total == 0.5
    assert rows == 300 * (1 + 4)  # n * (1 + k) texts per epoch: linear, never n^2


def test_siamese_pair_count_grows_linearly_and_is_deterministic():
    sizes = {n: sum(len(b) for b in _siamese(n)) for n in (200, 800)}
    assert sizes[800] == 4 * sizes[200]
    first, again = list(_siamese(200, seed=3)), list(_siamese(200, seed=3))
    assert first == again
    other = _siamese(200, seed=3)
    other.epoch = 1
    assert list(other) != first
