"""data.leakage and data.near_duplicates at the start of a run: what they remove is exactly what
the audit found (counted), `error` names the pairs, nothing else changes."""

import pandas as pd
import pytest
from pydantic import ValidationError

from textclass.audit import duplicates as dup
from textclass.config.load import load_config
from textclass.config.schema import DataConfig
from textclass.data.prepare import prepare_data
from textclass.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def frames(rotten) -> dict[str, pd.DataFrame]:
    """Real snippets in three given splits; test holds 6 edited copies of training texts and
    validation 2 exact copies (one in other case), train 3 near-copies of its own rows."""
    pool = rotten.drop_duplicates("text").sample(n=600, random_state=5).reset_index(drop=True)
    pool = pool[pool["text"].str.split().str.len() >= 8].reset_index(drop=True)
    train, validation, test = pool[:300].copy(), pool[300:360].copy(), pool[360:420].copy()
    copies = train.iloc[:6].copy()
    copies["text"] = copies["text"].str.replace(r"^(\S+)", r"\1 really", regex=True)
    test = pd.concat([test, copies], ignore_index=True)
    exact = train.iloc[10:12].copy()
    exact["text"] = [exact["text"].iat[0], exact["text"].iat[1].upper()]
    validation = pd.concat([validation, exact], ignore_index=True)
    again = train.iloc[20:23].copy()
    again["text"] = again["text"] + " Indeed."
    train = pd.concat([train, again], ignore_index=True)
    return {"train": train, "validation": validation, "test": test}


def prepared(frames, **data):
    cfg = DataConfig(dataset="rotten_tomatoes", group_column="movie_name", **data)
    return prepare_data(cfg, seed=0, frames={k: v.copy() for k, v in frames.items()})


def test_warn_keeps_every_row_and_counts_the_leaks(frames):
    data = prepared(frames)
    audit = data.stats["audit"]
    assert len(data.splits["train"]) == len(frames["train"])  # nothing removed
    assert audit["actions"]["dropped"] == {"leakage": 0, "near_duplicates": 0}
    # the planted leaks, at least: 6 near copies in test, 2 exact ones in validation
    assert audit["leakage"]["test"]["held_out_texts"] >= 6
    assert audit["leakage"]["validation"]["exact"] >= 2
    assert audit["redundant_train_rows"] >= 3


def test_drop_removes_exactly_the_leaking_training_rows(frames):
    before = prepared(frames)
    data = prepared(frames, leakage="drop")
    splits = before.splits
    leaking = dup.leaking_train_rows(dup.find_duplicates(splits, 0.5))  # found independently
    assert set(range(6)) | {10, 11} <= set(leaking.tolist())
    audit = data.stats["audit"]
    assert audit["actions"]["dropped"]["leakage"] == len(leaking)
    assert len(data.splits["train"]) == len(splits["train"]) - len(leaking)
    expected = splits["train"].drop(index=leaking)["text"].tolist()
    assert data.splits["train"]["text"].tolist() == expected  # those rows, in order, no other
    for name in ("validation", "test"):  # held-out splits are never changed
        assert data.splits[name]["text"].tolist() == splits[name]["text"].tolist()
    again = dup.find_duplicates(data.splits, 0.5)
    assert len(dup.leaking_train_rows(again)) == 0


def test_near_duplicates_drop_keeps_the_first_of_each(frames):
    before = prepared(frames)
    data = prepared(frames, near_duplicates="drop")
    redundant = dup.redundant_train_rows(dup.find_duplicates(before.splits, 0.5))
    assert {300, 301, 302} <= set(redundant.tolist())  # the planted " Indeed." copies
    assert data.stats["audit"]["actions"]["dropped"]["near_duplicates"] == len(redundant)
    assert len(data.splits["train"]) == len(before.splits["train"]) - len(redundant)
    kept = set(data.splits["train"]["text"])
    assert {before.splits["train"]["text"][i] for i in (20, 21, 22)} <= kept  # the firsts stay


def test_error_stops_naming_pairs_and_the_fix(frames):
    with pytest.raises(DataError) as caught:
        prepared(frames, leakage="error")
    message = str(caught.value)
    assert "data.leakage=error" in message and "data.leakage=drop" in message
    assert "train row" in message and "similarity" in message
    assert any(text[:30] in message for text in frames["train"]["text"][:12])


def test_the_new_keys_are_validated():
    with pytest.raises(ConfigError) as caught:
        load_config(base={"data": {"dataset": "trec", "leakage": "remove"}})
    assert "data.leakage" in str(caught.value) and "drop" in str(caught.value)
    with pytest.raises(ConfigError):
        load_config(base={"data": {"dataset": "trec", "near_duplicates": "yes"}})
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ConfigError) as caught:
            load_config(base={"data": {"dataset": "trec", "near_duplicate_threshold": bad}})
        assert "near_duplicate_threshold" in str(caught.value)
    with pytest.raises(ValidationError):
        DataConfig(dataset="trec", leakage="maybe")
    cfg = load_config(base={"data": {"dataset": "trec"}}, overrides=["data.leakage=drop"])
    assert (cfg.data.leakage, cfg.data.near_duplicates) == ("drop", "keep")
    assert cfg.data.near_duplicate_threshold == 0.5
