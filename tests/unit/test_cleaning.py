"""Cleaning removes markup only where there is markup, and counts what it changed."""

import time

import pytest

from textclass.data import datasets

try:
    from textclass.config.schema import CleaningConfig
    from textclass.data.clean import clean_text, clean_texts
except ImportError:  # the module layout before the package split (commit 9881e8f)
    from textclass.cleaning import clean_text, clean_texts

    from textclass.config import CleaningConfig

CFG = CleaningConfig()

KEPT = [  # text that merely contains `<`, `>` or `&`
    "I <3 this film > all others",
    "if x < 3 and y > 5",
    "<Forwarded from 21870000>Please call 08712404000",
    "awarded a <UKP>2000 prize",
    "a <unk> token, a <#> placeholder, a <TIME> one",
    "&notice, AT&T, &pound5 and &bogus; are not entities",
    "I had <a lot of fun> today, <i love you> babe, ok <select your option> now",
]


@pytest.mark.parametrize("text", KEPT)
def test_text_that_is_not_markup_is_kept(text):
    assert clean_text(text, CFG) == text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Call &lt;#&gt; now", "Call <#> now"),  # the SMS data's placeholder
        ("&lt;b&gt;bold&lt;/b&gt;", "<b>bold</b>"),  # escaped markup is text
        ("&amp;lt; &#39;q&#x27; &pound;5", "&lt; 'q' £5"),  # one level, complete entities only
        ("mail <me@site.com>", "mail <[EMAIL]>"),
    ],
)
def test_entities_are_decoded_after_the_markup_is_gone(raw, clean):
    assert clean_text(raw, CFG) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('a <br/>b<BR>c<p class="x">d</p>', "a b c d"),
        ('<a href="http://x.org/?a=1&amp;b=2" title="a>b">link</a>!', "link!"),
        ("<b>wo</b>rd", "word"),  # inline elements join, others separate
        ("x<!-- a comment -->y", "x y"),
        ("<script>var a = 1 < 2;</script>Hi<STYLE>p {}</STYLE >!", "Hi !"),
        ("<!DOCTYPE html><html><body>Body</body></html>", "Body"),
    ],
)
def test_markup_is_removed(raw, clean):
    assert clean_text(raw, CFG) == clean


@pytest.mark.parametrize("text", ["<script>" * 20_000, "<!--" * 20_000, "<a x='" * 20_000])
def test_unclosed_markup_takes_linear_time(text):
    start = time.perf_counter()
    clean_text(text, CFG)
    assert time.perf_counter() - start < 2.0


def test_no_placeholder_of_the_sms_data_is_lost():
    """The 240 messages with `&lt;#&gt;`-style placeholders used to lose them."""
    texts = datasets.load("sms_spam")["text"].astype(str).tolist()
    cleaned = clean_texts(texts, CFG)
    placeholders = ("#", "DECIMAL", "TIME", "URL", "EMAIL")
    lost = [
        raw
        for raw, text in zip(texts, cleaned, strict=True)
        for p in placeholders
        if raw.count(f"&lt;{p}&gt;") != text.count(f"<{p}>")
    ]
    assert sum("&lt;" in t for t in texts) == 240
    assert not lost, lost[:3]


def test_every_change_is_counted_per_rule():
    from textclass.data.clean import clean_and_count

    texts = ["Ｆｕｌｌ <br>x", "a  b", "mail me@site.com", "https://x.org", "plain", "&lt;#&gt;"]
    cleaned, counts = clean_and_count(texts, CFG)
    assert cleaned == clean_texts(texts, CFG) == [clean_text(t, CFG) for t in texts]
    assert counts == {
        "unicode_nfkc": 1,
        "html": 2,
        "emails": 1,
        "urls": 1,
        "whitespace": 2,  # `Full  x` (the tag's space) and `a  b`
        "any": 5,
    }
    off = CleaningConfig(html=False, lowercase=True)  # a rule that is off is not counted
    assert clean_and_count(texts, off)[1] == {
        "unicode_nfkc": 1,
        "emails": 1,
        "urls": 1,
        "whitespace": 1,
        "lowercase": 3,  # `Full <br>x`, `[EMAIL]`, `[URL]`
        "any": 4,
    }
    assert clean_and_count(texts, CleaningConfig(enabled=False)) == (texts, {"any": 0})
