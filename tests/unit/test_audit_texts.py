"""The single-text checks of the data audit and the text comparison they rest on."""

import pytest

from textclass.audit.texts import (
    flag_texts,
    jaccard,
    mixed_script_words,
    near_empty,
    normalise,
    numbers_only,
    script,
    shingles,
    url_only,
)


def test_texts_are_compared_without_case_and_spacing():
    assert normalise("  Great\tFILM\n  indeed ") == "great film indeed"
    assert shingles("abcdef", 4) == {"abcd", "bcde", "cdef"}
    assert shingles("ab", 4) == {"ab"}  # a short text is its one shingle
    a, b = shingles("the film"), shingles("the films")
    assert jaccard(a, b) == len(a & b) / len(a | b)
    assert jaccard(a, a) == 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com/a?b=1", True),
        ("www.example.org , http://x.io/y", True),
        ("[URL]", True),  # what the cleaning leaves of a URL
        ("[URL] [EMAIL] !", True),
        ("see https://example.com", False),
        ("no link here", False),
        ("", False),
    ],
)
def test_url_only(text, expected):
    assert url_only(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("42", True), ("3.5/10", True), ("+1 555 0100", True), ("10 stars", False), ("...", False)],
)
def test_numbers_only(text, expected):
    assert numbers_only(text) is expected


def test_near_empty_is_under_three_characters():
    assert near_empty("ok") and near_empty(" a ") and not near_empty("yes")


def test_mixed_script_words():
    # "pаypal" with a Cyrillic а (U+0430) among Latin letters; "Μovie" with a Greek capital Mu
    assert mixed_script_words("log in to p\u0430ypal now") == ["p\u0430ypal"]
    assert mixed_script_words("\u039covie \u039c\u03bf\u03c5") == ["\u039covie"]
    assert mixed_script_words("Москва is big") == []  # a whole Cyrillic word is fine
    assert mixed_script_words("東京タワーへ行く") == []  # Han + Katakana + Hiragana: Japanese
    assert mixed_script_words("नमस्ते दुनिया") == []  # Devanagari with its vowel signs (marks)
    assert mixed_script_words("COVID-19 café") == []  # digits and accents are not scripts
    assert script("a") == "LATIN" and script("я") == "CYRILLIC" and script("1") is None


def test_flag_texts_gives_positions_per_check():
    flags = flag_texts(["fine text", "http://a.b", "12", "x", "ch\u0435ap"])
    assert flags == {"near_empty": [2, 3], "url_only": [1], "numbers_only": [2],
                     "mixed_script": [4]}  # fmt: skip
