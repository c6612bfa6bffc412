"""train.augment: per-epoch perturbed training texts, seeded, re-tokenized; the config checks."""

from __future__ import annotations

import numpy as np
import pytest

from textclass.config.load import load_config
from textclass.config.schema import CleaningConfig
from textclass.data.augment import AugmentedTexts, augmented
from textclass.data.clean import clean_texts
from textclass.data.encode import encode
from textclass.data.perturb import parse_specs, perturb
from textclass.errors import ConfigError

HOW = {"max_length": 48, "truncation": "head", "head_tokens": None}


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from textclass.models.build import resolve

    return AutoTokenizer.from_pretrained(resolve("minilm-l6"))


@pytest.fixture(scope="module")
def texts() -> list[str]:
    from textclass.data import datasets

    raw = datasets.load("rotten_tomatoes")["text"].sample(400, random_state=1).tolist()
    return clean_texts(raw, CleaningConfig())  # training texts are cleaned before encoding


def _wrap(tokenizer, texts, seed=42, names=("typo", "case", "append"), p=0.3):
    base = encode(tokenizer, texts, None, labels=np.zeros(len(texts), dtype=np.int64), **HOW)
    specs = parse_specs(list(names), allow_expected_flip=False)
    cleaning = CleaningConfig()
    return base, AugmentedTexts(base, texts, None, specs, p, seed, tokenizer, HOW, cleaning)


def _ids(data) -> list[list[int]]:
    return [list(row) for row in data.encoding["input_ids"]]


def test_each_epoch_perturbs_a_fresh_seeded_share(tokenizer, texts):
    base, data = _wrap(tokenizer, texts)
    original, lengths = _ids(base), data.lengths
    counts = data.set_epoch(0)
    first = _ids(data)
    # Recomputed independently: the drawn rows' texts perturbed with (seed, epoch), the others
    # as they were, all encoded afresh, give exactly the epoch's token ids.
    expected = [_perturbed(data, i, 0) for i in range(len(texts))]
    assert _ids(encode(tokenizer, expected, None, **HOW)) == first
    changed = sum(a != b for a, b in zip(texts, expected, strict=True))
    assert counts["changed"] == changed and 0.2 < changed / len(texts) < 0.4
    assert counts["drawn"] >= counts["changed"]
    assert sum(c["changed"] for c in counts["by"].values()) == counts["changed"]
    assert data.lengths is lengths  # the batch sampler's array, updated in place
    assert data.lengths.tolist() == [len(row) for row in first]
    assert _ids(base) == original  # the encoded split itself is never changed

    second = data.set_epoch(1)
    assert _ids(data) != first and second != counts
    assert data.set_epoch(0) == counts and _ids(data) == first  # epoch 0 again: the same
    _, twin = _wrap(tokenizer, texts)
    assert twin.set_epoch(0) == counts and _ids(twin) == first  # another run, same seed
    _, other = _wrap(tokenizer, texts, seed=43)
    other.set_epoch(0)
    assert _ids(other) != first


def _perturbed(data: AugmentedTexts, row: int, epoch: int) -> str:
    """Row `row`'s text as `set_epoch(epoch)` leaves it, recomputed from the draw."""
    rng = np.random.default_rng([data.seed, epoch, 7])
    drawn = np.flatnonzero(rng.random(len(data.texts)) < data.p)
    which = rng.integers(len(data.specs), size=len(drawn))
    if row not in drawn:
        return data.texts[row]
    spec = data.specs[int(which[np.searchsorted(drawn, row)])]
    text = perturb([data.texts[row]], spec, seed=[data.seed, epoch])
    return clean_texts(text, data.cleaning)[0]


def test_unavailable_perturbations_are_left_out_and_said(tokenizer, texts, monkeypatch):
    from textclass.data import perturb as P

    monkeypatch.setattr(P, "wordnet_unavailable", lambda: "no WordNet here")
    monkeypatch.setitem(
        P.PERTURBATIONS,
        "synonym",
        P.Perturbation("synonym", "", P.synonym, unavailable=lambda: "no WordNet here"),
    )
    base = encode(tokenizer, texts[:20], None, labels=np.zeros(20, dtype=np.int64), **HOW)
    specs = parse_specs(["synonym"], allow_expected_flip=False)
    clean = CleaningConfig()
    same, skipped = augmented(base, texts[:20], None, specs, 0.5, 0, tokenizer, HOW, clean)
    assert same is base and skipped == {"synonym": "no WordNet here"}


def test_config_checks_augment_settings_at_load_time():
    base = ["data.dataset=rotten_tomatoes"]
    given = "train.augment.perturbations=[typo, {name: case, mode: upper}]"
    cfg = load_config(overrides=[*base, given])
    assert [s.label for s in cfg.train.augment.specs()] == ["typo", "case (mode=upper)"]
    assert not load_config(overrides=base).train.augment.enabled  # off by default
    bad = {
        "train.augment.perturbations=[tpyo]": r"unknown perturbation `tpyo`. Did you mean `typo`",
        "train.augment.perturbations=[negation]": "cannot augment training texts",
        "train.augment.p=0": r"`train.augment.p`: Input should be greater than 0",
        "eval.robustness_perturbations=[typo, casing]": r"Valid: typo, case, punctuation",
    }
    for override, message in bad.items():
        with pytest.raises(ConfigError, match=message):
            load_config(overrides=[*base, override])
    for other, message in {
        "model.architecture=linear": "train.augment.perturbations .one fit on fixed TF-IDF",
        "model.truncation=windows": "does not combine with sliding windows",
    }.items():
        with pytest.raises(ConfigError, match=message):
            load_config(overrides=[*base, other, "train.augment.perturbations=[typo]"])
