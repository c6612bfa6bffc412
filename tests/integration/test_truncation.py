"""Input length and truncation end to end: auto resolved from the training texts and saved,
head+tail trained, reloaded and applied at prediction, recorded in data.json and the report."""

import json

import numpy as np
import yaml

import textclass
from tests.integration.test_model_families import OVERFIT, _train_reload
from textclass.workflows.train import prepare


def test_auto_length_is_resolved_recorded_and_reported(tiny_config):
    cfg = tiny_config("data.max_samples=200", "train.max_steps=2", "model.max_length=auto")
    result = textclass.train(cfg)
    run = result.run_dir
    record = json.loads((run / "data.json").read_text())["truncation"]
    clf = result.classifier()
    # Recomputed here: p95 of the training texts' whole token lengths, rounded up to 8.
    train = prepare(cfg).splits["train"]["text"].tolist()
    lengths = [len(ids) for ids in clf.tokenizer(train)["input_ids"]]
    expected = max(16, int(-(-np.percentile(lengths, 95) // 8) * 8))
    assert record["max_length"] == expected == clf.max_length
    assert record["max_length_setting"] == "auto" and record["strategy"] == "head"
    longer = sum(n > expected for n in lengths)
    assert record["splits"]["train"]["texts_longer"] == longer
    dropped = sum(max(n - expected, 0) for n in lengths)
    assert record["splits"]["train"]["tokens_dropped"] == dropped
    saved = yaml.safe_load((run / "config.yaml").read_text())["model"]
    assert (saved["max_length"], saved["truncation"]) == (expected, "head")
    report = (run / "report.md").read_text()
    assert "Input length and truncation" in report and f"reads {expected} tokens" in report


def test_head_tail_trains_reloads_and_reads_only_both_ends(tiny_config):
    cfg = tiny_config(
        *OVERFIT,
        "data.max_samples=24",
        "train.epochs=2",
        "model.max_length=16",
        "model.truncation=head+tail",
        "model.head_tokens=4",
        "eval.calibration=none",  # a large T would flatten the difference the end makes
    )
    result, clf, train, _ = _train_reload(cfg)
    assert (clf.truncation, clf.head_tokens, clf.max_length) == ("head+tail", 4, 16)
    record = json.loads((result.run_dir / "data.json").read_text())["truncation"]
    assert record["strategy"] == "head+tail" and record["splits"]["train"]["texts_longer"] > 0
    words = " ".join(train["text"].tolist()).split()[:60]
    start, middle, end = " ".join(words[:20]), " ".join(words[20:40]), " ".join(words[40:])
    other = "completely different words in the middle of it all " * 2
    probs = clf.predict_proba(
        [f"{start} {middle} {end}", f"{start} {other} {end}", f"{start} {middle} {other}"]
    )
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-6)  # the middle is never read
    assert not np.allclose(probs[0], probs[2], atol=1e-6)  # the end is
    served = json.loads((result.model_dir / "textclass.json").read_text())
    assert served["truncation"] == "head+tail" and served["head_tokens"] == 4
