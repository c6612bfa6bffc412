"""Text cleaning, applied identically at training and at prediction time.

The settings are saved with the model (`textclass.json`), so `Classifier.predict` normalises new
texts exactly as the training texts were normalised. The rules run in the order of `RULES`;
`clean_and_count` also says how many texts each rule changed (recorded in `data.json`).

HTML is removed only where it is markup: a tag whose name is an HTML element (`<br>`, `<br/>`,
`<p class=x>`, `</b>`), a comment, a doctype, and the contents of `<script>` and `<style>`.
Anything else that merely contains `<` or `>` is text and stays: `I <3 it`, `x < 3 and y > 5`,
`<#>`, `<unk>`, `<Forwarded from 21870000>`, `<me@site.com>`. Tags are removed before entities
are decoded, so an escaped `&lt;b&gt;` is the literal text `<b>` and is kept. Only complete
entities (`&amp;`, `&#39;`, `&#x27;`) are decoded; bare `&not`, `&pound` are left as written.
This is a fixed tokenizer, not `html.parser`, on purpose: that parser takes any `<letter…>` for
a tag and any `<!…>` for a comment, and its handling of malformed markup changed in CPython patch
releases (gh-135661, 2025), so a model could be cleaned differently at training and at serving.
Known limit: `a<b and c>d` is a well-formed `<b>` tag and goes.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable
from html.entities import html5

from textclass.config.schema import CleaningConfig

RULES = ("unicode_nfkc", "html", "emails", "urls", "whitespace", "lowercase")

# Elements of HTML, with the obsolete ones still found in scraped text, but without those whose
# names double as placeholders in plain-text corpora (`<TIME>`, `<DATA>`, `<ADDRESS>`, `<link>`)
# and are rare in the body of a page. A tag of any other name is left as text.
# fmt: off
_ELEMENTS = frozenset(
    [
        "a", "abbr", "acronym", "area", "article", "aside", "audio", "b", "base", "basefont",
        "bdi", "bdo", "big", "blink", "blockquote", "body", "br", "button", "canvas", "caption",
        "center", "cite", "code", "col", "colgroup", "datalist", "dd", "del", "details", "dfn",
        "dir", "div", "dl", "dt", "em", "embed", "fieldset", "figcaption", "figure", "font",
        "footer", "form", "frame", "frameset", "h1", "h2", "h3", "h4", "h5", "h6", "head",
        "header", "hgroup", "hr", "html", "i", "iframe", "img", "input", "ins", "kbd", "legend",
        "li", "map", "mark", "marquee", "meta", "nav", "nobr", "noframes", "noscript", "object",
        "ol", "optgroup", "option", "p", "param", "picture", "pre", "progress", "q", "rp", "rt",
        "ruby", "s", "samp", "script", "section", "select", "small", "span", "strike", "strong",
        "style", "sub", "summary", "sup", "svg", "table", "tbody", "td", "textarea", "tfoot",
        "th", "thead", "title", "tr", "tt", "u", "ul", "var", "video", "wbr",
    ]
)
# fmt: on
# Inside a word: removed without a space, so `<b>wo</b>rd` is `word`; other tags become a space.
# fmt: off
_INLINE = frozenset(
    [
        "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "del", "dfn",
        "em", "font", "i", "ins", "kbd", "mark", "nobr", "q", "s", "samp", "small", "span",
        "strike", "strong", "sub", "sup", "tt", "u", "var", "wbr",
    ]
)
# fmt: on
# An attribute has a value (`class=x`, `href="…"`), or is one of HTML's boolean attributes
# (`<input disabled>`): bare words are text, so `<a lot of fun>` and `<i love you>` stay.
_BOOLEAN = (
    "allowfullscreen|async|autofocus|autoplay|checked|compact|controls|default|defer|disabled|"
    "formnovalidate|hidden|inert|ismap|itemscope|loop|multiple|muted|nomodule|noshade|"
    "novalidate|nowrap|open|playsinline|readonly|required|reversed|selected"
)
_ATTRIBUTE = (
    r"""\s+(?:[^\s"'<>/=]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+)"""
    rf"|(?:{_BOOLEAN})(?=[\s/>]))"
)
_BLOCK = re.compile(r"<!--|<(script|style)\b[^<>]*>", re.IGNORECASE)
_BLOCK_END = {
    None: re.compile(r"-->"),
    "script": re.compile(r"</script\s*>", re.IGNORECASE),
    "style": re.compile(r"</style\s*>", re.IGNORECASE),
}
_TAG = re.compile(
    rf"<!doctype\b[^<>]*>|<\?xml\b[^<>]*\?>|</?([a-z][a-z0-9]*)(?:{_ATTRIBUTE})*\s*/?>",
    re.IGNORECASE,
)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_URL = re.compile(r"(?:\bhttps?://|\bwww\.)[^\s<>\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_SPACE = re.compile(r"\s+")


def _drop_blocks(text: str) -> str:
    """Comments, and `<script>`/`<style>` with their contents; one that is never closed is left
    (its opening tag goes with the tags). Linear: a kind found unclosed is not searched again."""
    parts, pos, unclosed = [], 0, set()
    while (start := _BLOCK.search(text, pos)) is not None:
        kind = start.group(1) and start.group(1).lower()
        end = None if kind in unclosed else _BLOCK_END[kind].search(text, start.end())
        if end is None:
            unclosed.add(kind)
            parts.append(text[pos : start.end()])
        else:
            parts.append(text[pos : start.start()] + " ")
        pos = start.end() if end is None else end.end()
    return "".join(parts) + text[pos:] if parts else text


def _drop_tag(match: re.Match[str]) -> str:
    name = match.group(1)
    if name is None:  # a doctype or an XML declaration
        return " "
    name = name.lower()
    if name not in _ELEMENTS:
        return match.group(0)
    return "" if name in _INLINE else " "


def _decode_entity(match: re.Match[str]) -> str:
    entity = match.group(0)
    if entity[1] == "#":
        return html.unescape(entity)  # the HTML5 rules for invalid code points
    return html5.get(entity[1:], entity)


def strip_html(text: str) -> str:
    """Remove the markup (see the module's docstring), then decode complete entities."""
    if "<" in text:
        text = _TAG.sub(_drop_tag, _drop_blocks(text))
    if "&" in text:
        text = _ENTITY.sub(_decode_entity, text)
    return text


_STEPS: dict[str, Callable[[str], str]] = {
    "unicode_nfkc": lambda t: unicodedata.normalize("NFKC", t),
    "html": strip_html,
    # e-mails before URLs: an e-mail's domain would otherwise look like a URL tail
    "emails": lambda t: _EMAIL.sub("[EMAIL]", t) if "@" in t else t,
    "urls": lambda t: _URL.sub("[URL]", t),
    "whitespace": lambda t: _SPACE.sub(" ", t).strip(),
    "lowercase": str.lower,
}


def _steps(cfg: CleaningConfig) -> list[tuple[str, Callable[[str], str]]]:
    """The rules `cfg` turns on, in order."""
    if not cfg.enabled:
        return []
    return [(name, _STEPS[name]) for name in RULES if getattr(cfg, name)]


def clean_text(text: str, cfg: CleaningConfig) -> str:
    """Normalise one text."""
    for _, step in _steps(cfg):
        text = step(text)
    return text


def clean_texts(texts: Iterable[str], cfg: CleaningConfig) -> list[str]:
    steps = [step for _, step in _steps(cfg)]
    out = []
    for text in texts:
        for step in steps:
            text = step(text)
        out.append(text)
    return out


def clean_and_count(texts: Iterable[str], cfg: CleaningConfig) -> tuple[list[str], dict[str, int]]:
    """The cleaned texts (as `clean_texts`), and how many texts each rule that is on changed,
    plus `any`: the texts changed by at least one rule."""
    steps = _steps(cfg)
    counts = dict.fromkeys([name for name, _ in steps], 0)
    out = []
    changed = 0
    for text in texts:
        before = text
        for name, step in steps:
            after = step(text)
            if after != text:
                counts[name] += 1
                text = after
        changed += text != before
        out.append(text)
    return out, {**counts, "any": changed}
