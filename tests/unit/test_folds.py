"""k-fold assignments and fold splits: every row in exactly one fold, labels stratified, groups
never in two folds, the inner validation carved from the training folds only."""

import numpy as np
import pandas as pd
import pytest

from textclass.config.load import load_config
from textclass.data.split import kfold
from textclass.errors import DataError
from textclass.workflows.crossval import fold_splits


def frame(n=200, groups=None, seed=0):
    rng = np.random.default_rng(seed)
    out = pd.DataFrame(
        {"text": [f"text {i}" for i in range(n)], "label": rng.choice(["a", "b", "c"], n)}
    )
    if groups:
        out["group"] = rng.integers(0, groups, n).astype(str)
    return out


def test_every_row_is_in_exactly_one_fold_and_labels_are_stratified():
    data = frame(300)
    folds = kfold(data, 5, seed=1)
    assert sorted(set(folds)) == [1, 2, 3, 4, 5]
    assert np.bincount(folds)[1:].tolist() == [60] * 5  # 300 rows, 5 equal folds
    overall = data["label"].value_counts(normalize=True)
    for k in range(1, 6):
        share = data["label"][folds == k].value_counts(normalize=True)
        assert (share - overall).abs().max() < 0.03
    assert np.array_equal(folds, kfold(data, 5, seed=1))  # seeded
    assert not np.array_equal(folds, kfold(data, 5, seed=2))


def test_a_group_is_never_in_two_folds():
    data = frame(300, groups=40)
    folds = kfold(data, 5, seed=0)
    per_group = pd.Series(folds).groupby(data["group"]).nunique()
    assert per_group.max() == 1
    assert len(set(folds)) == 5


def test_multi_label_folds_are_iteratively_stratified():
    rng = np.random.default_rng(0)
    labels = [sorted({"x", *rng.choice(["y", "z", "w"], rng.integers(0, 3))}) for _ in range(240)]
    data = pd.DataFrame({"text": [f"t{i}" for i in range(240)], "label": labels})
    folds = kfold(data, 4, seed=0)
    rare = data["label"].map(lambda v: "w" in v)
    per_fold = [int(rare[folds == k].sum()) for k in range(1, 5)]
    assert max(per_fold) - min(per_fold) <= 2


def test_regression_folds_stratify_by_deciles():
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"text": [f"t{i}" for i in range(200)], "label": rng.normal(size=200)})
    folds = kfold(data, 4, seed=0)
    means = [data["label"][folds == k].mean() for k in range(1, 5)]
    assert max(means) - min(means) < 0.2


def test_too_few_groups_or_folds_are_explained():
    with pytest.raises(DataError, match="only 3 distinct groups for 5 folds"):
        kfold(frame(60, groups=3), 5, seed=0)
    with pytest.raises(DataError, match="at least 2 folds"):
        kfold(frame(60), 1, seed=0)


def test_fold_splits_keep_the_held_out_fold_out_of_training_and_validation():
    data = frame(400, groups=60)
    folds = kfold(data, 5, seed=0)
    cfg = load_config(base={"name": "t", "data": {"dataset": "rotten_tomatoes"}})
    seen = []
    for k in range(1, 6):
        parts = fold_splits(cfg, data, folds, k)
        held = set(parts["test"]["text"])
        seen += parts["test"]["text"].tolist()
        assert held == set(data["text"][folds == k])
        for name in ("train", "validation"):
            assert not held & set(parts[name]["text"])
            assert not set(parts["test"]["group"]) & set(parts[name]["group"])
        assert not set(parts["train"]["group"]) & set(parts["validation"]["group"])
        assert len(parts["train"]) + len(parts["validation"]) + len(held) == len(data)
        assert 0.12 < len(parts["validation"]) / (len(data) - len(held)) < 0.25
    assert sorted(seen) == sorted(data["text"])  # the held-out folds cover every row once
