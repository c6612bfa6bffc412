"""Texts as the audit compares them, and the checks of single texts.

Two texts are compared by their character n-gram sets ("shingles") after `normalise`
(lowercase, whitespace runs collapsed): `Great  film` and `great film` are the same text.
Single-text checks flag texts a person should look at, each a pure function of the texts:

- near-empty: fewer than NEAR_EMPTY characters (after the run's cleaning; empty texts are
  already dropped and counted by the cleaning);
- URL-only: nothing but web addresses (or the cleaning's `[URL]` / `[EMAIL]` placeholders),
  spaces and punctuation;
- numbers-only: digits, but no letter;
- mixed-script: a word whose letters come from two scripts (`pаypal` with a Cyrillic `а`):
  look-alike spellings, OCR or encoding damage. A letter's script is the first word of its
  Unicode name (LATIN, CYRILLIC, GREEK, ...); Han, Hiragana and Katakana count as one script
  (Japanese writes words with all three), and marks, modifier letters, digits and symbols
  have none.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

SHINGLE = 4  # characters per shingle (measured against 3 and 5 in docs/audit.md)
NEAR_EMPTY = 3  # characters
PAIR_JOIN = " \x1f "  # a text and its pair, compared as one text

_SPACE = re.compile(r"\s+")
_URL = re.compile(r"(?:https?://|www\.)\S+|\[URL\]|\[EMAIL\]", re.IGNORECASE)
_PUNCT_OR_SPACE = re.compile(r"[\W_]*")
_JAPANESE = {"CJK", "HIRAGANA", "KATAKANA"}


def normalise(text: str) -> str:
    """Lowercase, whitespace runs as one space, no spaces at the ends."""
    return _SPACE.sub(" ", text.lower()).strip()


def shingles(text: str, n: int = SHINGLE) -> set[str]:
    """The set of character n-grams of a normalised text (a shorter text is its one shingle)."""
    if len(text) <= n:
        return {text}
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    common = len(a & b)
    return common / (len(a) + len(b) - common) if a or b else 1.0


def near_empty(text: str) -> bool:
    return len(text.strip()) < NEAR_EMPTY


def url_only(text: str) -> bool:
    """At least one URL (or `[URL]`/`[EMAIL]` placeholder) and nothing else but punctuation."""
    rest, found = _URL.subn(" ", text)
    return found > 0 and _PUNCT_OR_SPACE.fullmatch(rest) is not None


def numbers_only(text: str) -> bool:
    """Digits and no letter (`42`, `3.5/10`, `+1 555 0100`)."""
    return any(c.isdigit() for c in text) and not any(c.isalpha() for c in text)


@lru_cache(maxsize=65536)
def script(char: str) -> str | None:
    """The script of a letter (`LATIN`, `CYRILLIC`, `CJK` for Han, Hiragana and Katakana);
    None for anything that is not a letter, a modifier letter (`ʼ`, `ー`: used across
    scripts), or a letter without a name."""
    category = unicodedata.category(char)
    if not category.startswith("L") or category == "Lm":
        return None
    name = unicodedata.name(char, "")
    first = name.split(" ", 1)[0].split("-", 1)[0] if name else None
    return "CJK" if first in _JAPANESE else first


def mixed_script_words(text: str) -> list[str]:
    """The words of `text` whose letters come from more than one script."""
    out = []
    for word in text.split():
        if word.isascii():  # one script, or none
            continue
        scripts = {s for s in map(script, word) if s is not None}
        if len(scripts) > 1:
            out.append(word)
    return out


SINGLE_TEXT_CHECKS = {
    "near_empty": near_empty,
    "url_only": url_only,
    "numbers_only": numbers_only,
    "mixed_script": lambda text: bool(mixed_script_words(text)),
}


def flag_texts(texts: Iterable[str]) -> dict[str, list[int]]:
    """Per single-text check, the positions of the texts it flags."""
    flagged: dict[str, list[int]] = {name: [] for name in SINGLE_TEXT_CHECKS}
    for i, text in enumerate(texts):
        for name, check in SINGLE_TEXT_CHECKS.items():
            if check(text):
                flagged[name].append(i)
    return flagged
