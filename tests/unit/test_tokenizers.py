"""Tokenizers trained from the run's own texts (textclass.models.tokenizers): any script."""

from pathlib import Path

import pandas as pd
import pytest
from transformers import AutoTokenizer

from textclass.config.schema import TokenizerConfig
from textclass.models.tokenizers import train_tokenizer

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_tokenizer_round_trips_telugu_and_devanagari(tmp_path, kind):
    frame = pd.read_csv(FIXTURES / "scripts.csv")
    texts = frame["text"].tolist()
    tok = train_tokenizer(texts * 3, TokenizerConfig(kind=kind, vocab_size=400, min_frequency=1))
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    for script in ("telugu", "devanagari"):
        for text in frame.loc[frame["script"] == script, "text"]:
            ids = again(text)["input_ids"]
            assert again.unk_token_id not in ids, (text, again.convert_ids_to_tokens(ids))
            # Vowel signs and viramas survive: no accent stripping.
            assert again.decode(ids, skip_special_tokens=True) == text
    # Unseen text of a seen script splits into known pieces rather than [UNK].
    ids = again("తెలుగు సినిమా")["input_ids"]
    assert again.unk_token_id not in ids


def test_tokenizer_frames_pairs_and_lowercases():
    tok = train_tokenizer(
        ["Who wrote Hamlet?", "Shakespeare wrote it."] * 5,
        TokenizerConfig(vocab_size=120, min_frequency=1, lowercase=True),
    )
    ids = tok("WHO wrote", "it")["input_ids"]
    tokens = tok.convert_ids_to_tokens(ids)
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2
    assert "who" in tokens
    assert tok.pad_token_id == 0
