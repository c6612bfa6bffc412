"""Likely label errors: cleanlab on out-of-fold TF-IDF probabilities finds labels planted wrong
in real TREC questions (precision computed here from the planted rows), and a cross-validation
run's out-of-fold file is matched to the rows by text or refused with the reason."""

import numpy as np
import pandas as pd
import pytest

from tests.conftest import load_script
from textclass.audit import labels
from textclass.config.tasks import MULTI_LABEL, SINGLE_LABEL
from textclass.data import datasets
from textclass.errors import DataError
from textclass.workflows import rundir


@pytest.fixture(scope="module")
def trec_flipped():
    """1,200 real TREC questions (coarse classes) with 5% of the labels flipped (seeded)."""
    planting = load_script("_planting", folder="benchmarks")
    trec = datasets.load("trec").drop_duplicates("text").sample(n=1200, random_state=0)
    frame = pd.DataFrame({"text": trec["text"].to_numpy(), "label": trec["coarse"].to_numpy()})
    noisy, flipped = planting.plant_flips(frame["label"].tolist(), 0.05, seed=1)
    return frame.assign(label=noisy), flipped, sorted(set(frame["label"]))


def test_planted_flips_are_ranked_first(trec_flipped):
    frame, flipped, classes = trec_flipped
    probs = labels.tfidf_oof(frame, classes, SINGLE_LABEL, seed=0)
    assert probs.shape == (len(frame), len(classes))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    found = labels.label_issues(frame, classes, SINGLE_LABEL, probs, labels.TFIDF)
    k = len(flipped)
    top = set(found.ranked[:k].tolist())
    precision = len(top & set(flipped.tolist())) / k  # recomputed from the planted rows
    assert precision >= 0.5, precision  # chance: 0.05
    # the ranking is by the probability of the given label, lowest first
    y = np.array([classes.index(v) for v in frame["label"]])
    given = probs[np.arange(len(frame)), y]
    assert np.all(np.diff(given[found.ranked]) >= -1e-12)
    # what cleanlab flags is often planted (chance: 0.05), each suggestion the likeliest class
    flagged = found.flagged.tolist()
    assert len(set(flagged) & set(flipped.tolist())) / len(flagged) >= 0.2
    assert all(found.suggested[i] == classes[int(probs[i].argmax())] for i in flagged)


def test_multilabel_data_uses_cleanlabs_multilabel_variant():
    trec = datasets.load("trec_multilabel").drop_duplicates("text").head(300)
    frame = pd.DataFrame({"text": trec["text"], "label": trec["labels"].str.split("|")})
    classes = sorted({v for row in frame["label"] for v in row})
    probs = labels.tfidf_oof(frame, classes, MULTI_LABEL, seed=0)
    found = labels.label_issues(frame, classes, MULTI_LABEL, probs, "test")
    assert probs.shape == (len(frame), len(classes)) and len(found.quality) == len(frame)
    assert all(set(s.split("|")) <= set(classes) for s in found.suggested if s)


def oof_file(tmp_path, frame, classes, probs, gold=None):
    out = pd.DataFrame({"row": np.arange(len(frame)), "fold": 1, "text": frame["text"],
                        "gold": gold if gold is not None else frame["label"]})  # fmt: skip
    for i, c in enumerate(classes):
        out[f"prob_{c}"] = probs[:, i]
    out = out.sample(frac=1, random_state=0)  # another order: matched by text
    (tmp_path / "cv").mkdir()
    out.to_csv(tmp_path / "cv" / rundir.OOF_PREDICTIONS, index=False)
    return tmp_path / "cv"


def test_a_cross_validation_run_is_matched_by_text(tmp_path, trec_flipped):
    frame, _, classes = trec_flipped
    probs = np.random.default_rng(0).dirichlet(np.ones(len(classes)), size=len(frame))
    cv_dir = oof_file(tmp_path, frame, classes, probs)
    np.testing.assert_allclose(labels.read_oof(cv_dir, frame, classes, SINGLE_LABEL), probs)


def test_other_rows_or_labels_are_refused(tmp_path, trec_flipped):
    frame, _, classes = trec_flipped
    probs = np.full((len(frame), len(classes)), 1 / len(classes))
    cv_dir = oof_file(tmp_path, frame.iloc[:-3], classes, probs[:-3])
    with pytest.raises(DataError, match="3 of these texts are not in it"):
        labels.read_oof(cv_dir, frame, classes, SINGLE_LABEL)
    other = frame["label"].where(frame.index != 7, "XX")
    (tmp_path / "other").mkdir()
    cv_dir = oof_file(tmp_path / "other", frame, classes, probs, gold=other)
    with pytest.raises(DataError, match="1 rows have another label"):
        labels.read_oof(cv_dir, frame, classes, SINGLE_LABEL)
    with pytest.raises(DataError, match="no oof_predictions.csv"):
        labels.read_oof(tmp_path, frame, classes, SINGLE_LABEL)
