"""Text cleaning, applied identically at training and at prediction time.

The settings are saved with the model (`textclass.json`), so `Classifier.predict` normalises new
texts exactly as the training texts were normalised.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable

from textclass.config.schema import CleaningConfig

_TAG = re.compile(r"<[^<>\n]{1,200}>")
_URL = re.compile(r"(?:\bhttps?://|\bwww\.)[^\s<>\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_SPACE = re.compile(r"\s+")


def clean_text(text: str, cfg: CleaningConfig) -> str:
    """Normalise one text. Order matters: entities are unescaped before tags are removed."""
    if not cfg.enabled:
        return text
    if cfg.unicode_nfkc:
        text = unicodedata.normalize("NFKC", text)
    if cfg.html:
        text = _TAG.sub(" ", html.unescape(text))
    if cfg.emails:  # before URLs: an e-mail's domain would otherwise look like a URL tail
        text = _EMAIL.sub("[EMAIL]", text)
    if cfg.urls:
        text = _URL.sub("[URL]", text)
    if cfg.whitespace:
        text = _SPACE.sub(" ", text).strip()
    if cfg.lowercase:
        text = text.lower()
    return text


def clean_texts(texts: Iterable[str], cfg: CleaningConfig) -> list[str]:
    return [clean_text(t, cfg) for t in texts]
