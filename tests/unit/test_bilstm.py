"""The from-scratch BiLSTM's parts (textclass.models.bilstm)."""

from textclass.models.bilstm import _word


def test_glove_matches_word_starts_only():
    assert _word("the", "wordpiece") == "the" and _word("##ing", "wordpiece") is None
    assert _word("▁The", "bpe") == "the" and _word("the", "bpe") is None
    assert _word("▁", "bpe") is None
