"""Exact and near-duplicates within and across splits, on real Rotten Tomatoes snippets with
planted edits: recall computed here from the planted pairs, and every pair reported checked
against its exact Jaccard similarity."""

import pandas as pd
import pytest

from tests.conftest import load_script
from textclass.audit import duplicates as dup
from textclass.audit.texts import jaccard, normalise, shingles

THRESHOLD = 0.5


@pytest.fixture(scope="module")
def planting():
    return load_script("_planting", folder="benchmarks")


@pytest.fixture(scope="module")
def snippets(rotten) -> pd.DataFrame:
    """2,000 distinct real snippets (seeded), with label and film."""
    frame = rotten.drop_duplicates("text").sample(n=2000, random_state=3).reset_index(drop=True)
    return frame.rename(columns={"movie_name": "group"})[["text", "label", "group"]]


def test_bands_make_a_pair_at_the_threshold_a_likely_candidate():
    for threshold in (0.3, 0.5, 0.7, 0.9, 1.0):
        bands, rows = dup.lsh_bands(threshold)
        assert bands * rows <= dup.NUM_PERM
        assert 1 - (1 - threshold**rows) ** bands >= dup.CANDIDATE_PROBABILITY
        if rows < dup.NUM_PERM // 2:  # one more row per band would miss the probability
            more = dup.NUM_PERM // (rows + 1)
            assert 1 - (1 - threshold ** (rows + 1)) ** more < dup.CANDIDATE_PROBABILITY


def test_planted_near_duplicates_are_found_across_splits(snippets, planting):
    planted = planting.plant_near_duplicates(snippets["text"].tolist(), 200, seed=0)
    test = pd.DataFrame(
        {"text": [p.text for p in planted], "label": snippets["label"].to_numpy()[
            [p.source for p in planted]]}
    )  # fmt: skip
    splits = {"train": snippets, "test": test}
    found = dup.find_duplicates(splits, THRESHOLD)
    rows = found.rows
    leak = found.across()
    pairs = set(zip(rows["row"].to_numpy()[leak["a"]], rows["row"].to_numpy()[leak["b"]],
                    strict=True))  # fmt: skip
    # A planted copy counts as found when the pair (its source, it) is reported, unless the
    # edit took it below the threshold (then no method that honours the threshold finds it).
    similar = [
        (p.source, k)
        for k, p in enumerate(planted)
        if jaccard(shingles(normalise(p.text)), shingles(normalise(snippets["text"][p.source])))
        >= THRESHOLD
    ]
    recall = sum(pair in pairs for pair in similar) / len(similar)
    assert len(similar) >= 190  # the edits are small: nearly all stay above the threshold
    assert recall >= 0.99, recall
    # every reported pair is at or above the threshold, by the exact Jaccard recomputed here
    texts = {(r.split, r.row): normalise(splits[r.split]["text"][r.row]) for r in rows.itertuples()}
    for a, b, similarity, exact in found.pairs.itertuples(index=False):
        ta, tb = (texts[tuple(rows.loc[i, ["split", "row"]])] for i in (a, b))
        assert similarity == pytest.approx(jaccard(shingles(ta), shingles(tb)))
        assert similarity >= THRESHOLD and exact == (ta == tb)


def test_exact_duplicates_ignore_case_and_spacing_and_are_paired_to_the_first():
    train = pd.DataFrame({"text": ["A fine film.", "a  FINE film.", "Other words entirely here.",
                                   "a fine film."], "label": ["p", "p", "n", "n"]})  # fmt: skip
    found = dup.find_duplicates({"train": train}, THRESHOLD)
    exact = found.pairs[found.pairs["exact"]]
    assert sorted(zip(exact["a"], exact["b"], strict=True)) == [(0, 1), (0, 3)]  # a star
    # row 1 repeats row 0 with the same label: redundant; row 3 has another label: a conflict
    assert dup.redundant_train_rows(found).tolist() == [1]
    conflicts = dup.conflicts(found)
    assert sorted(zip(conflicts["a"], conflicts["b"], strict=True)) == [(0, 3)]
    # regression (no classes): a repeat is redundant whatever its target
    assert dup.redundant_train_rows(found, compare_labels=False).tolist() == [1, 3]


def test_leaking_rows_are_the_training_rows_near_a_held_out_text():
    train = pd.DataFrame(
        {"text": ["The acting alone is worth the price of admission.", "Dull and far too long.",
                  "dull and FAR too long.", "Nothing alike at all, a third text."],
         "label": ["p", "n", "n", "n"]}
    )  # fmt: skip
    near = "The acting alone is worth the price of the admission."
    test = pd.DataFrame({"text": [near, "Dull and far too long."], "label": ["p", "n"]})
    found = dup.find_duplicates({"train": train, "test": test}, THRESHOLD)
    assert dup.leaking_train_rows(found).tolist() == [0, 1, 2]  # near; exact; exact up to case
    assert dup.redundant_train_rows(found).tolist() == [2]


def test_no_pairs_among_distinct_texts(snippets):
    found = dup.find_duplicates({"train": snippets.head(50)}, 1.0)
    assert found.pairs.empty or found.pairs["similarity"].eq(1.0).all()
    assert found.stats["distinct_texts"] == 50
