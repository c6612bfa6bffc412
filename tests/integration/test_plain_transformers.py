"""A trained model directory used with plain `transformers`, no textclass: same inputs, same
outputs as `Classifier` (the logits divided by textclass.json's calibration temperature)."""

import json

import numpy as np
import torch

import textclass


def test_plain_transformers_truncates_where_the_run_did(tiny_config):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    cfg = tiny_config("train.max_steps=2")
    result = textclass.train(cfg, report=False)
    tokenizer = AutoTokenizer.from_pretrained(result.model_dir)
    assert tokenizer.model_max_length == cfg.model.max_length == 48  # not MiniLM's 512

    # A text longer than max_length, unchanged by cleaning.
    texts = ["the plot goes nowhere and the dialogue is wooden " * 12, "a fine film"]
    clf = textclass.Classifier.load(result.model_dir, device="cpu", precision="fp32")
    model = AutoModelForSequenceClassification.from_pretrained(result.model_dir).eval()
    enc = tokenizer(texts, truncation=True, padding=True, return_tensors="pt")
    assert enc["input_ids"].shape[1] == 48
    with torch.inference_mode():
        logits = model(**enc).logits
    # The calibration temperature is textclass.json's; the weights give the raw logits.
    temperature = json.loads((result.model_dir / "textclass.json").read_text())["temperature"]
    probs = torch.softmax(logits / temperature, dim=-1).numpy()
    np.testing.assert_allclose(probs, clf.predict_proba(texts), atol=1e-5)
