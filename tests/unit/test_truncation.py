"""Input length and truncation: `model.max_length: auto`, head / tail / head+tail / windows."""

import numpy as np
import pandas as pd
import pytest

from textclass.config.schema import ModelConfig, RunConfig, TokenizerConfig, WindowConfig
from textclass.data import length
from textclass.data.encode import encode
from textclass.errors import TextclassError
from textclass.models import build as models
from textclass.models.tokenizers import train_tokenizer
from textclass.workflows.build import training_lengths

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()  # noqa: SIM905


def _text(n: int, offset: int = 0) -> str:
    return " ".join(WORDS[(i + offset) % len(WORDS)] + str(i) for i in range(n))


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return models.load_tokenizer(str(tiny_model_dir))


def test_cut_keeps_the_head_the_tail_or_both():
    ids = list(range(10))
    assert length.cut(ids, 4, "head") == [0, 1, 2, 3]
    assert length.cut(ids, 4, "tail") == [6, 7, 8, 9]
    assert length.cut(ids, 4, "head+tail", head=1) == [0, 7, 8, 9]
    assert length.cut(ids, 8, "head+tail") == [0, 1, 4, 5, 6, 7, 8, 9]  # a quarter from the start
    assert length.cut(ids, 12, "tail") == ids  # short texts are left whole
    with pytest.raises(ValueError):
        length.cut(ids, 4, "middle")


def test_head_matches_the_tokenizers_own_truncation(tokenizer):
    texts = [_text(3), _text(40), _text(200, 3), ""]
    mine = encode(tokenizer, texts, None, 32, truncation="head")
    theirs = tokenizer(texts, truncation=True, max_length=32)
    assert mine.encoding["input_ids"] == theirs["input_ids"]
    assert mine.encoding["token_type_ids"] == theirs["token_type_ids"]


def test_tail_and_head_tail_frame_the_kept_tokens_with_special_tokens(tokenizer):
    text = _text(100)
    whole = tokenizer(text, add_special_tokens=False)["input_ids"]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    tail = encode(tokenizer, [text], None, 32, truncation="tail").encoding["input_ids"][0]
    assert tail == [cls, *whole[-30:], sep]
    both = encode(tokenizer, [text], None, 32, truncation="head+tail", head_tokens=10)
    assert both.encoding["input_ids"][0] == [cls, *whole[:10], *whole[-20:], sep]
    assert both.lengths.tolist() == [32]
    # No head_tokens: a quarter of max_length, as a run resolves it (8 + 22 of 32).
    quarter = encode(tokenizer, [text], None, 32, truncation="head+tail").encoding["input_ids"][0]
    assert quarter == [cls, *whole[:8], *whole[-22:], sep]


def test_cut_stats_count_texts_and_tokens_lost(tokenizer):
    texts = [_text(5), _text(100), _text(300)]
    full = [len(tokenizer(t)["input_ids"]) for t in texts]
    for strategy in ("head", "tail", "head+tail"):
        stats = encode(tokenizer, texts, None, 64, truncation=strategy).cut_stats
        assert stats["texts"] == 3 and stats["texts_longer"] == 2
        assert stats["tokens"] == sum(full)
        assert stats["tokens_dropped"] == (full[1] - 64) + (full[2] - 64)
    windows = encode(
        tokenizer, texts, None, 64, window=WindowConfig(stride=16, max_windows=2),
        truncation="windows",
    )  # fmt: skip
    # Two windows of 62 content tokens sharing 16: 108 content tokens + 2 special tokens read.
    assert windows.cut_stats["tokens_dropped"] == sum(max(f - 110, 0) for f in full)
    assert windows.window_stats["truncated"] == sum(f > 110 for f in full)


def test_pairs_are_cut_by_the_tokenizer_and_counted(tokenizer):
    dataset = encode(tokenizer, [_text(50)], [_text(50, 1)], 40)
    assert dataset.lengths.tolist() == [40]
    assert dataset.cut_stats["texts_longer"] == 1


def test_the_special_token_layout_of_a_tokenizer_without_any():
    tok = train_tokenizer([_text(30)] * 5, TokenizerConfig(vocab_size=200), 64)
    prefix, suffix = length.special_layout(tok)
    ids = encode(tok, [_text(30)], None, 16, truncation="tail").encoding["input_ids"][0]
    assert (
        len(ids) == 16 and ids[: len(prefix)] == prefix and ids[len(ids) - len(suffix) :] == suffix
    )


def _resolve(lengths, **kw):
    return length.resolve(ModelConfig(**kw), np.asarray(lengths), limit=512)


def test_auto_length_covers_the_percentile_rounded_and_capped():
    short = _resolve(np.arange(1, 101))  # p95 = 95.05 -> 96
    assert (short.max_length, short.truncation) == (96, "head")
    assert _resolve([3, 4, 5]).max_length == length.MIN_LENGTH
    assert _resolve(np.arange(1, 101), length_percentile=50).max_length == 56
    capped = _resolve([600, 700, 800, 900])
    assert capped.max_length == 512 and "position limit" in capped.reason
    assert capped.record["max_length_setting"] == "auto"


def test_auto_truncation_picks_by_how_long_the_texts_are():
    assert _resolve([100] * 10, max_length=128).truncation == "head"
    mid = _resolve([300] * 10, max_length=128)  # median 300 > 2 x 128
    assert mid.truncation == "windows" and "median" in mid.reason
    both = _resolve([100] * 5 + [200] * 5, max_length=128)
    assert both.truncation == "head+tail" and both.head_tokens == 32
    assert _resolve([200] * 10, max_length=128, truncation="tail").truncation == "tail"
    assert _resolve([900] * 10, window={"enabled": True}).truncation == "windows"
    assert _resolve([900] * 10, head_tokens=100).head_tokens == 100


def test_pairs_keep_the_head_under_auto():
    choice = length.resolve(ModelConfig(), np.asarray([900] * 4), 512, pairs=True)
    assert choice.truncation == "head" and "pairs" in choice.reason


def test_a_set_length_over_the_position_limit_is_refused():
    with pytest.raises(TextclassError, match="model.max_length=1024 .*512 positions"):
        _resolve([10], max_length=1024)


def test_position_limit_from_the_model_config(tiny_model_dir, tokenizer):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_model_dir)
    assert length.position_limit(tokenizer, config) == config.max_position_embeddings
    assert length.position_limit(tokenizer, None) == length.BILSTM_CAP


def test_training_lengths_include_special_tokens(tokenizer):
    frame = pd.DataFrame({"text": [_text(5), _text(50)]})
    full = [len(tokenizer(t)["input_ids"]) for t in frame["text"]]
    assert training_lengths(tokenizer, frame).tolist() == full


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model": {"window": {"enabled": True}, "truncation": "tail"}}, "asks for windows"),
        ({"model": {"max_length": 64, "head_tokens": 63}}, "no room for the tail"),
        ({"model": {"max_length": 4}}, "8 to 8192"),
        ({"model": {"truncation": "tail"}, "data": {"text_pair_column": "b"}}, "single texts"),
        ({"model": {"window": {"enabled": True}}, "data": {"text_pair_column": "b"}}, "windows"),
    ],
)
def test_inconsistent_settings_are_refused_at_load_time(overrides, message):
    with pytest.raises(ValueError, match=message):
        data = {"dataset": "rotten_tomatoes", **overrides.get("data", {})}
        RunConfig(**{**overrides, "data": data})
