"""Sliding windows over long texts (textclass.data.encode): coverage, overlap, aggregation."""

import numpy as np

from textclass.config.schema import WindowConfig
from textclass.data.encode import encode, first_windows
from textclass.models import build as models


def test_windows_cover_long_texts_and_aggregate(tiny_model_dir):
    tok = models.load_tokenizer(str(tiny_model_dir))
    long_text = " ".join(f"word{i}" for i in range(60))
    window = WindowConfig(enabled=True, stride=4, max_windows=3)
    data = encode(tok, [long_text, "short one"], None, 16, np.array([1, 0]), window)
    assert data.num_texts == 2 and data.owner.tolist()[:3] == [0, 0, 0]
    assert data.window_stats == {"texts": 2, "windows": 4, "longer_than_window": 1, "truncated": 1}
    assert max(data.lengths) <= 16
    assert [data[i]["labels"] for i in range(len(data))] == [1, 1, 1, 0]
    # Consecutive windows share `stride` tokens (between the special tokens).
    a, b = data[0]["input_ids"][1:-1], data[1]["input_ids"][1:-1]
    assert a[-4:] == b[:4]
    logits = np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 0.0], [0.0, 2.0]])
    assert data.aggregate_rows(logits).tolist() == [[3.0, 0.0], [0.0, 2.0]]
    data.aggregate = "max"
    assert data.aggregate_rows(logits).tolist() == [[5.0, 0.0], [0.0, 2.0]]
    first = first_windows(data)
    assert len(first) == 2 and first.owner is None
