"""The perturbations: seeded, deterministic, and each changes a text as its description says."""

from __future__ import annotations

import re

import numpy as np
import pytest

from textclass.data import perturb as P
from textclass.data.perturb import PERTURBATIONS, parse_spec, parse_specs, perturb

RUNNABLE = [name for name, p in PERTURBATIONS.items() if not p.unavailable()]
EXAMPLES = [(name, a, b) for name, p in PERTURBATIONS.items() for a, b in p.examples]


@pytest.fixture(scope="module")
def texts(request) -> list[str]:
    from textclass.data import datasets

    return datasets.load("rotten_tomatoes")["text"].sample(300, random_state=0).tolist()


@pytest.mark.parametrize(("name", "before", "after"), EXAMPLES)
def test_documented_examples_are_what_seed_0_gives(name, before, after):
    assert perturb([before], name, seed=0) == [after]


@pytest.mark.parametrize("name", RUNNABLE)
def test_seeded_deterministic_and_independent_of_the_other_texts(name, texts):
    once = perturb(texts, name, seed=3)
    assert perturb(texts, name, seed=3) == once
    # A text is perturbed the same way wherever it sits and whatever comes with it.
    assert perturb(texts[::-1], name, seed=3) == once[::-1]
    assert perturb(texts[:7], name, seed=3) == once[:7]
    if name not in ("contractions",):  # deterministic by design: one way to rewrite a text
        assert perturb(texts, name, seed=4) != once


def _strip(text: str, pattern: str) -> str:
    return re.sub(pattern, "", text)


def test_typo_edits_one_inner_letter_of_one_long_word(texts):
    runs = re.compile(r"[^\W\d_]+|[\W\d_]+")  # letter runs and what lies between them
    changed = 0
    for before, after in zip(texts, perturb(texts, "typo"), strict=True):
        a, b = runs.findall(before), runs.findall(after)
        assert len(a) == len(b)
        diff = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
        if not re.search(r"[^\W\d_]{4,}", before):
            assert after == before
            continue
        changed += 1
        long_words = len(re.findall(r"[^\W\d_]{4,}", before))
        assert len(diff) == max(1, round(0.1 * long_words))  # the default rate, at least one
        for x, y in diff:
            assert len(x) >= 4 and y.isalpha() and abs(len(x) - len(y)) <= 1
            assert (x[0], x[-1]) == (y[0], y[-1])  # first and last letters stay
    assert changed >= 0.95 * len(texts)


def test_typo_rate_is_a_share_of_the_long_words():
    text = " ".join(["wonderful"] * 20)
    few = perturb([text], {"name": "typo", "rate": 0.1})[0]
    many = perturb([text], {"name": "typo", "rate": 0.5})[0]
    count = [sum(w != "wonderful" for w in t.split()) for t in (few, many)]
    assert count == [2, 10]


@pytest.mark.parametrize("mode", ["any", "lower", "upper", "title", "random"])
def test_case_changes_only_the_case(texts, mode):
    out = perturb(texts, {"name": "case", "mode": mode})
    assert all(a.lower() == b.lower() for a, b in zip(texts, out, strict=True))
    assert np.mean([a != b for a, b in zip(texts, out, strict=True)]) > 0.95
    if mode in ("lower", "upper"):
        assert all(getattr(b, f"is{mode}")() for b in out if re.search("[a-zA-Z]", b))


def test_punctuation_touches_punctuation_only(texts):
    out = perturb(texts, "punctuation")
    assert all(a != b for a, b in zip(texts, out, strict=True))
    assert all(_strip(a, r"[\W_]") == _strip(b, r"[\W_]") for a, b in zip(texts, out, strict=True))


def test_whitespace_touches_whitespace_only(texts):
    out = perturb(texts, "whitespace")
    assert all(a != b for a, b in zip(texts, out, strict=True))
    assert all(_strip(a, r"\s") == _strip(b, r"\s") for a, b in zip(texts, out, strict=True))


@pytest.mark.parametrize(
    ("direction", "before", "after"),
    [
        ("both", "It's not funny and I do not laugh.", "It is not funny and I don't laugh."),
        ("expand", "I'm sure it WON'T work.", "I am sure it WILL NOT work."),
        ("expand", "They’re late; I do not mind.", "They are late; I do not mind."),
        ("contract", "It is what you do not see.", "It's what you don't see."),
        ("contract", "I'm sure they are.", "I'm sure they're."),
        ("both", "A gripping film.", "A gripping film."),
    ],
)
def test_contractions_both_ways(direction, before, after):
    assert perturb([before], {"name": "contractions", "direction": direction}) == [after]


def test_append_adds_one_neutral_sentence(texts):
    for before, after in zip(texts, perturb(texts, "append"), strict=True):
        assert after.startswith(before.rstrip() + " ")
        assert after[len(before.rstrip()) + 1 :] in P._NEUTRAL


def test_negation_wraps_the_text_in_a_template(texts):
    out = perturb(["A gripping film.", "I loved it.", "NASA made it."], "negation", seed=1)
    wrapped = [o.split("that ", 1)[1] for o in out]
    assert wrapped == ["a gripping film.", "I loved it.", "NASA made it."]
    for before, after in zip(texts, perturb(texts, "negation"), strict=True):
        template = next(t for t in P._NEGATIONS if after.startswith(t.format("")))
        assert after[len(template.format("")) :].lower() == before.strip().lower()
    assert PERTURBATIONS["negation"].expected_flip


def test_synonyms_come_from_wordnet_and_keep_the_case(monkeypatch):
    table = {"film": ("movie", "picture"), "gripping": ("fascinating",)}
    monkeypatch.setattr(P, "wordnet_synonyms", lambda w: table.get(w.lower(), ()))
    rng = np.random.default_rng(0)
    out = P.synonym("Film: a gripping story.", rng, rate=1.0)
    assert out in {f"{a}: a fascinating story." for a in ("Movie", "Picture")}
    assert P.synonym("No synonyms here.", rng) == "No synonyms here."


def test_synonym_says_why_it_cannot_run_without_nltk(monkeypatch):
    import importlib.util

    P.wordnet_unavailable.cache_clear()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n: None if n == "nltk" else real(n))
    try:
        reason = P.wordnet_unavailable()
        assert "nltk is not installed" in reason and "nltk.downloader wordnet" in reason
        with pytest.raises(RuntimeError, match="unavailable: nltk is not installed"):
            perturb(["a film"], "synonym")
    finally:
        P.wordnet_unavailable.cache_clear()


def test_specs_name_the_valid_perturbations_and_settings():
    with pytest.raises(ValueError, match=r"unknown perturbation `tpyo`. Did you mean `typo`\?"):
        parse_spec("tpyo")
    with pytest.raises(ValueError, match="Valid: typo, case, punctuation"):
        parse_spec("nonsense")
    with pytest.raises(ValueError, match=r"`typo` settings: rate: .*less than or equal to 1"):
        parse_spec({"name": "typo", "rate": 2})
    with pytest.raises(ValueError, match=r"`case` settings: mod: Extra .* \(its settings: mode\)"):
        parse_spec({"name": "case", "mod": "upper"})
    with pytest.raises(ValueError, match="cannot augment"):
        parse_spec("negation", allow_expected_flip=False)
    with pytest.raises(ValueError, match="`typo` is listed twice"):
        parse_specs(["typo", "case", "typo"])
    spec = parse_spec({"name": "typo", "rate": 0.3})
    assert (spec.label, spec.to_config()) == ("typo (rate=0.3)", {"name": "typo", "rate": 0.3})


@pytest.mark.skipif(
    P.wordnet_unavailable() is not None, reason=f"WordNet: {P.wordnet_unavailable()}"
)
def test_synonym_with_the_installed_wordnet(texts):
    """Runs only where nltk and the WordNet data are installed (never required)."""
    assert "movie" in P.wordnet_synonyms("film")
    assert "grip" not in P.wordnet_synonyms("gripping")  # the word's own senses only
    out = perturb(texts, "synonym")
    assert perturb(texts, "synonym") == out
    runs = re.compile(r"[^\W\d_]+|[\W\d_]+")
    replaced = 0
    for before, after in zip(texts, out, strict=True):
        diff = [
            (a, b) for a, b in zip(runs.findall(before), runs.findall(after), strict=True) if a != b
        ]
        replaced += bool(diff)
        assert all(b.lower() in P.wordnet_synonyms(a) for a, b in diff)
    assert replaced > 0.8 * len(texts)
