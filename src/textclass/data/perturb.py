"""Seeded text perturbations, looked up by name: robustness checks and training augmentation.

A perturbation is a pure function `(text, rng, **params) -> text` registered with
`@perturbation(...)`; its keyword parameters, typed, are its settings (`{name: typo, rate: 0.3}`
in a config is checked against the signature). `perturb(texts, spec, seed)` applies one to many
texts: each text draws from its own generator, seeded by (seed, the perturbation's name, the
text itself), so a text is perturbed the same way wherever it sits in a file and whatever else
is perturbed with it.

For "A gripping, beautifully shot film." (seed 0, or as noted):

    typo          A griplping, beautifully shot film.   (swap, drop, insert or replace a key)
    case          A Gripping, Beautifully Shot Film.    (lower, upper, title or random case)
    punctuation   A gripping, beautifully shot film..   (drop, repeat or add marks)
    whitespace    A gripping, bea utifully shot film.   (run together, split, extra spaces)
    contractions  It's not funny and I do not laugh. -> It is not funny and I don't laugh.
    append        A gripping, beautifully shot film. This note was added afterwards.
    synonym       A gripping, beautifully shot movie.   (WordNet, only where it is installed)
    negation      I do not think that a gripping, beautifully shot film.
                  (changes the meaning: an expected-flip check, never an augmentation)

(`PERTURBATIONS[name].examples` holds each one's examples; the unit tests check them.)
Pure Python, NumPy and pydantic: the config imports this module to check perturbation names.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import re
import typing
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, ValidationError, create_model

from textclass.errors import did_you_mean

Rate = Annotated[float, Field(gt=0, le=1)]


@dataclass(frozen=True)
class Perturbation:
    name: str
    description: str  # one line: what it does to a text
    function: Callable[..., str]  # (text, rng, **params) -> text
    examples: tuple[tuple[str, str], ...] = ()  # (before, after) at seed 0, default params
    expected_flip: bool = False  # changes the meaning: a prediction *should* change
    # Why it cannot run here (a missing optional package or its data), or None.
    unavailable: Callable[[], str | None] = lambda: None

    @functools.cached_property
    def params_model(self) -> Any:
        """The keyword parameters as a pydantic model (unknown keys refused)."""
        hints = typing.get_type_hints(self.function, include_extras=True)
        fields = {
            name: (hints[name], p.default)
            for name, p in inspect.signature(self.function).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        config = ConfigDict(extra="forbid")
        return create_model(f"{self.name}_params", __config__=config, **fields)


PERTURBATIONS: dict[str, Perturbation] = {}  # in the order they were registered


def perturbation(
    name: str,
    description: str,
    examples: tuple[tuple[str, str], ...] = (),
    expected_flip: bool = False,
    unavailable: Callable[[], str | None] | None = None,
) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Register `function(text, rng, *, **params) -> text` under `name`."""

    def register(function: Callable[..., str]) -> Callable[..., str]:
        if name in PERTURBATIONS:
            raise ValueError(f"perturbation {name!r} is registered twice")
        PERTURBATIONS[name] = Perturbation(
            name, description, function, examples, expected_flip, unavailable or (lambda: None)
        )
        return function

    return register


# ---------------------------------------------------------------- specs: a name and its settings


@dataclass(frozen=True)
class Spec:
    """A perturbation with its settings, as a config names it: `typo` or `{name: typo, rate:
    0.3}`."""

    name: str
    params: dict[str, Any]

    @property
    def perturbation(self) -> Perturbation:
        return PERTURBATIONS[self.name]

    @property
    def label(self) -> str:
        """How tables name it: `typo`, or `typo (rate=0.3)` with settings."""
        given = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name} ({given})" if given else self.name

    def to_config(self) -> str | dict[str, Any]:
        return {"name": self.name, **self.params} if self.params else self.name


def parse_spec(entry: str | dict[str, Any], allow_expected_flip: bool = True) -> Spec:
    """A config entry as a `Spec`; ValueError naming the valid perturbations or settings."""
    if isinstance(entry, str):
        name, params = entry, {}
    elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
        name, params = entry["name"], {k: v for k, v in entry.items() if k != "name"}
    else:
        raise ValueError(
            f"{entry!r}: give a perturbation's name (`typo`) or a mapping with `name` and its "
            "settings (`{name: typo, rate: 0.3}`)"
        )
    valid = [n for n, p in PERTURBATIONS.items() if allow_expected_flip or not p.expected_flip]
    if name not in PERTURBATIONS:
        raise ValueError(
            f"unknown perturbation `{name}`.{did_you_mean(name, valid)} Valid: {', '.join(valid)}"
        )
    found = PERTURBATIONS[name]
    if name not in valid:
        raise ValueError(
            f"`{name}` changes the meaning of a text (an expected-flip check), so it cannot "
            f"augment training texts whose labels stay; remove it (valid: {', '.join(valid)})"
        )
    try:
        checked = found.params_model(**params)
    except ValidationError as exc:
        why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        settings = ", ".join(found.params_model.model_fields) or "none"
        raise ValueError(f"`{name}` settings: {why} (its settings: {settings})") from None
    return Spec(name, {k: getattr(checked, k) for k in params})


def parse_specs(
    entries: Sequence[str | dict[str, Any]], allow_expected_flip: bool = True
) -> list[Spec]:
    """Every entry parsed; every problem at once (one per line), duplicates refused."""
    specs, problems = [], []
    for entry in entries:
        try:
            specs.append(parse_spec(entry, allow_expected_flip))
        except ValueError as exc:
            problems.append(str(exc))
    labels = [s.label for s in specs]
    problems += [
        f"`{x}` is listed twice" for x in sorted({x for x in labels if labels.count(x) > 1})
    ]
    if problems:
        raise ValueError("\n".join(problems))
    return specs


def _key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def text_rng(seed: int | Sequence[int], name: str, text: str) -> np.random.Generator:
    """The generator that perturbs `text`: from the seed(s), the perturbation and the text."""
    seeds = [seed] if isinstance(seed, int) else list(seed)
    return np.random.default_rng([*seeds, _key(name), zlib.crc32(text.encode("utf-8"))])


def perturb(
    texts: Sequence[str], spec: Spec | str | dict[str, Any], seed: int | Sequence[int] = 0
) -> list[str]:
    """Each text perturbed by `spec`, deterministically given `seed` (a text the perturbation
    cannot change, e.g. no word long enough for a typo, comes back unchanged)."""
    spec = spec if isinstance(spec, Spec) else parse_spec(spec)
    reason = spec.perturbation.unavailable()
    if reason:
        raise RuntimeError(f"perturbation `{spec.name}` is unavailable: {reason}")
    fn, params = spec.perturbation.function, spec.params
    return [fn(text, text_rng(seed, spec.name, text), **params) for text in texts]


# ---------------------------------------------------------------- helpers

_WORD = re.compile(r"[^\W\d_]{4,}")  # letters only, length > 3: what typos and synonyms change
_PUNCT = re.compile(r"[.,;:!?\"'()\-]")


def _pick(rng: np.random.Generator, n: int, rate: float) -> list[int]:
    """max(1, round(rate * n)) of n positions, in order (none when n is 0)."""
    if n == 0:
        return []
    k = min(n, max(1, round(rate * n)))
    return sorted(rng.choice(n, size=k, replace=False).tolist())


def _replace_spans(text: str, edits: list[tuple[int, int, str]]) -> str:
    """`text` with each (start, end) span replaced, edits in increasing order."""
    out, last = [], 0
    for start, end, new in edits:
        out += [text[last:start], new]
        last = end
    return "".join([*out, text[last:]])


def _match_case(like: str, word: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _keyboard() -> dict[str, str]:
    """QWERTY neighbours of each letter: what a slipped finger types instead."""
    rows = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    out = {}
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            near = [row[j] for j in (c - 1, c + 1) if 0 <= j < len(row)]
            for other in (rows[r - 1] if r else "", rows[r + 1] if r < 2 else ""):
                near += [other[j] for j in (c - 1, c, c + 1) if 0 <= j < len(other)]
            out[ch] = "".join(dict.fromkeys(near))
    return out


_KEYBOARD = _keyboard()


def _neighbour(ch: str, rng: np.random.Generator) -> str | None:
    near = _KEYBOARD.get(ch.lower())
    if not near:
        return None
    new = near[int(rng.integers(len(near)))]
    return new.upper() if ch.isupper() else new


# ---------------------------------------------------------------- the perturbations


def _typo_in(word: str, rng: np.random.Generator) -> str:
    """One keyboard slip inside a word (its first and last letters stay): swap two adjacent
    letters, drop one, insert a neighbouring key, or replace one with a neighbouring key."""
    i = int(rng.integers(1, len(word) - 1))  # an inner letter
    ops = ["drop"]
    if i < len(word) - 2 and word[i] != word[i + 1]:
        ops.append("swap")
    if word[i].lower() in _KEYBOARD:
        ops += ["insert", "replace"]
    op = ops[int(rng.integers(len(ops)))]
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == "drop":
        return word[:i] + word[i + 1 :]
    key = _neighbour(word[i], rng) or ""
    return word[: i + 1] + key + word[i + 1 :] if op == "insert" else word[:i] + key + word[i + 1 :]


@perturbation(
    "typo",
    "keyboard typos: in a `rate` share of the words of 4+ letters (at least one), swap two "
    "adjacent letters, drop one, or insert or replace one with a neighbouring key",
    examples=(
        ("A gripping, beautifully shot film.", "A griplping, beautifully shot film."),
        ("What a mess!", "Waht a mess!"),
    ),
)
def typo(text: str, rng: np.random.Generator, *, rate: Rate = 0.1) -> str:
    words = list(_WORD.finditer(text))
    edits = [
        (m.start(), m.end(), _typo_in(m.group(), rng))
        for m in (words[i] for i in _pick(rng, len(words), rate))
    ]
    return _replace_spans(text, edits)


_CASES = {
    "lower": str.lower,
    "upper": str.upper,
    "title": str.title,
}


@perturbation(
    "case",
    "case changes: the whole text lower-, upper- or title-cased, or each letter's case drawn "
    "at random (`mode`; any: one of these per text, one that changes it)",
    examples=(("A gripping, beautifully shot film.", "A Gripping, Beautifully Shot Film."),),
)
def case(
    text: str,
    rng: np.random.Generator,
    *,
    mode: Literal["any", "lower", "upper", "title", "random"] = "any",
) -> str:
    def random_case(t: str) -> str:
        flips = rng.random(len(t)) < 0.5
        return "".join(c.swapcase() if f else c for c, f in zip(t, flips, strict=True))

    if mode != "any":
        return random_case(text) if mode == "random" else _CASES[mode](text)
    modes = ["lower", "upper", "title", "random"]
    for i in rng.permutation(len(modes)):  # the first mode that changes the text
        new = random_case(text) if modes[i] == "random" else _CASES[modes[i]](text)
        if new != text:
            return new
    return text


@perturbation(
    "punctuation",
    "punctuation noise: drop the text's punctuation marks (each with probability 0.5, at least "
    "one), repeat one of `.,!?`, or end the text with `!`, `...` or ` .`",
    examples=(
        ("Clever, warm and wise.", "Clever warm and wise"),
        ("What a mess!", "What a mess!!"),
    ),
)
def punctuation(text: str, rng: np.random.Generator) -> str:
    marks = list(_PUNCT.finditer(text))
    repeatable = [m for m in marks if m.group() in ".,!?"]
    ops = ["drop"] * bool(marks) + ["repeat"] * bool(repeatable) + ["end"]
    op = ops[int(rng.integers(len(ops)))]
    if op == "end":
        ending = ("!", "...", " .")[int(rng.integers(3))]
        return text.rstrip() + ending
    if op == "repeat":
        m = repeatable[int(rng.integers(len(repeatable)))]
        return _replace_spans(text, [(m.start(), m.end(), m.group() * 2)])
    drop = rng.random(len(marks)) < 0.5
    drop[int(rng.integers(len(marks)))] = True
    return _replace_spans(
        text, [(m.start(), m.end(), "") for m, d in zip(marks, drop, strict=True) if d]
    )


@perturbation(
    "whitespace",
    "whitespace noise at a `rate` share of the word gaps (at least one): two words run together, "
    "a word split in two, or extra spaces, a tab or a line break (which text cleaning, when on, "
    "collapses again)",
    examples=(
        ("A gripping, beautifully shot film.", "A gripping, bea utifully shot film."),
        ("Dull stuff.", "Dullstuff."),
    ),
)
def whitespace(text: str, rng: np.random.Generator, *, rate: Rate = 0.1) -> str:
    gaps = list(re.finditer(r"\s+", text))
    edits = []
    for i in _pick(rng, len(gaps), rate):
        gap = gaps[i]
        op = int(rng.integers(3))
        if op == 0:  # run together
            edits.append((gap.start(), gap.end(), ""))
        elif op == 1:  # a space inside the next word
            word = re.match(r"[^\W\d_]{4,}", text[gap.end() :])
            if word is None:  # no word to split: widen the gap instead
                edits.append((gap.start(), gap.end(), gap.group() + " "))
            else:
                cut = gap.end() + int(rng.integers(2, len(word.group()) - 1))
                edits.append((cut, cut, " "))
        else:
            edits.append((gap.start(), gap.end(), ("  ", "\t", "\n", "   ")[int(rng.integers(4))]))
    if not gaps:  # one word: pad it
        return f" {text} "
    return _replace_spans(text, sorted(edits))


# Contractions and their expansions; the reverse map contracts. Ambiguous forms take the common
# reading (`it's` -> `it is`, `I'd` -> `I would`).
_CONTRACTIONS = {
    "don't": "do not", "doesn't": "does not", "didn't": "did not", "isn't": "is not",
    "aren't": "are not", "wasn't": "was not", "weren't": "were not", "hasn't": "has not",
    "haven't": "have not", "hadn't": "had not", "won't": "will not", "wouldn't": "would not",
    "can't": "cannot", "couldn't": "could not", "shouldn't": "should not", "mustn't": "must not",
    "i'm": "i am", "you're": "you are", "we're": "we are", "they're": "they are",
    "it's": "it is", "that's": "that is", "there's": "there is", "what's": "what is",
    "he's": "he is", "she's": "she is", "let's": "let us", "i've": "i have",
    "you've": "you have", "we've": "we have", "they've": "they have", "i'll": "i will",
    "you'll": "you will", "we'll": "we will", "they'll": "they will", "it'll": "it will",
    "i'd": "i would", "you'd": "you would", "we'd": "we would", "they'd": "they would",
}  # fmt: skip
_EXPANSIONS = {v: k for k, v in _CONTRACTIONS.items()}


def _phrase_pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    alternatives = sorted(phrases, key=len, reverse=True)  # longest first
    body = "|".join(re.escape(p).replace("'", "['’]").replace(r"\ ", r"\s+") for p in alternatives)
    return re.compile(rf"\b(?:{body})\b", re.IGNORECASE)


_CONTRACTION_PATTERNS = {
    "expand": _phrase_pattern(list(_CONTRACTIONS)),
    "contract": _phrase_pattern(list(_EXPANSIONS)),
    "both": _phrase_pattern([*_CONTRACTIONS, *_EXPANSIONS]),
}


@perturbation(
    "contractions",
    "contractions expanded and expansions contracted (`don't` <-> `do not`, `it's` <-> `it "
    "is`; `direction`: both, expand or contract); texts without either stay unchanged",
    examples=(("It's not funny and I do not laugh.", "It is not funny and I don't laugh."),),
)
def contractions(
    text: str,
    rng: np.random.Generator,
    *,
    direction: Literal["both", "expand", "contract"] = "both",
) -> str:
    def swap(m: re.Match[str]) -> str:
        found = m.group()
        key = re.sub(r"\s+", " ", found.lower().replace("’", "'"))
        return _match_case(found, _CONTRACTIONS.get(key) or _EXPANSIONS[key])

    return _CONTRACTION_PATTERNS[direction].sub(swap, text)


_NEUTRAL = (
    "It was posted online.",
    "I read this on a Tuesday.",
    "This note was added afterwards.",
    "The text above is one of many.",
    "More details may follow later.",
    "It was written in the evening.",
)


@perturbation(
    "append",
    "a short neutral sentence appended (one of six, e.g. `It was posted online.`): the "
    "prediction should not move",
    examples=(
        (
            "A gripping, beautifully shot film.",
            "A gripping, beautifully shot film. This note was added afterwards.",
        ),
    ),
)
def append(text: str, rng: np.random.Generator) -> str:
    return f"{text.rstrip()} {_NEUTRAL[int(rng.integers(len(_NEUTRAL)))]}"


# ---------------------------------------------------------------- WordNet synonyms (optional)

# Function words WordNet would "replace" with odd senses; synonyms go to content words only.
_STOP = frozenset(
    """also been being does doing from have having here into just more most much only over some
    such than that their them then there these they this those very were what when where which
    while will with would your""".split()  # noqa: SIM905
)


@functools.lru_cache(maxsize=1)
def wordnet_unavailable() -> str | None:
    """Why WordNet synonyms cannot run here, or None: nltk and its WordNet data are optional
    (never a dependency of textclass)."""
    if importlib.util.find_spec("nltk") is None:
        return (
            "nltk is not installed (optional: `pip install nltk`, then the WordNet data: "
            "`python -m nltk.downloader wordnet`, or Debian's files, docs/robustness.md)"
        )
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
    except LookupError:
        return (
            "nltk is installed but its WordNet data is not found (`python -m nltk.downloader "
            "wordnet`, or Debian's WordNet files in NLTK_DATA/corpora/wordnet: docs/robustness.md)"
        )
    except OSError as exc:  # a file missing, or a path nltk's path checks refuse
        return f"nltk cannot read its WordNet data: {exc} (docs/robustness.md)"
    return None


@functools.lru_cache(maxsize=50_000)
def wordnet_synonyms(word: str) -> tuple[str, ...]:
    """Single-word lemmas of the first three WordNet senses that list the word itself as a
    lemma (so `gripping` gets `riveting`, not the base form `grip`), the word excluded."""
    from nltk.corpus import wordnet

    word = word.lower()
    senses = [s for s in wordnet.synsets(word) if word in (n.lower() for n in s.lemma_names())]
    found: dict[str, None] = {}
    for synset in senses[:3]:
        for lemma in synset.lemma_names():
            if lemma.isalpha() and lemma.lower() != word:
                found[lemma.lower()] = None
    return tuple(found)


@perturbation(
    "synonym",
    "a `rate` share of the content words (4+ letters, with a WordNet synonym; at least one) "
    "replaced by a synonym from their first WordNet senses; needs nltk and the WordNet data",
    examples=(),  # depend on the installed WordNet version
    unavailable=wordnet_unavailable,
)
def synonym(
    text: str,
    rng: np.random.Generator,
    *,
    rate: Rate = 0.1,
) -> str:
    words = [m for m in _WORD.finditer(text) if m.group().lower() not in _STOP]
    options = [(m, wordnet_synonyms(m.group())) for m in words]
    options = [(m, s) for m, s in options if s]
    edits = []
    for i in _pick(rng, len(options), rate):
        m, found = options[i]
        edits.append(
            (m.start(), m.end(), _match_case(m.group(), found[int(rng.integers(len(found)))]))
        )
    return _replace_spans(text, edits)


_NEGATIONS = ("It is not true that {}", "It is false that {}", "I do not think that {}")


@perturbation(
    "negation",
    "the text wrapped in a negation template (`It is not true that ...`): this changes the "
    "meaning, so for a binary sentiment-like task the prediction is expected to flip "
    "(an expected-flip check, reported apart; never an augmentation)",
    examples=(
        (
            "A gripping, beautifully shot film.",
            "I do not think that a gripping, beautifully shot film.",
        ),
    ),
    expected_flip=True,
)
def negation(text: str, rng: np.random.Generator) -> str:
    text = text.strip()
    first = text.split(" ", 1)[0]
    # Lower the first letter, unless it starts `I` or a shouted word (`NASA`).
    if first[:1].isupper() and (first[1:2].islower() or (first[1:2] == "" and first != "I")):
        text = text[:1].lower() + text[1:]
    return _NEGATIONS[int(rng.integers(len(_NEGATIONS)))].format(text)
