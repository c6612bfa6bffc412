"""Fast attention (textclass.models.attention) on the tiny BERT: the same forward and backward
as plain fp32 attention, padding masked, dropout kept, nothing of it saved."""

from __future__ import annotations

import json

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

from textclass.models.attention import ATTENTION, fast_attention, plain_attention
from textclass.models.build import quiet_transformers


def _tiny(model_dir, **config):
    torch.manual_seed(0)
    with quiet_transformers():
        return AutoModelForSequenceClassification.from_pretrained(model_dir, **config)


def _batch(seed: int = 0, length: int = 20):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 5000, (4, length), generator=g)
    mask = torch.ones_like(ids)
    mask[2:, length // 2 :] = 0  # padding in half the batch
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 0, 1])}


def _attention_grads(model) -> tuple[torch.Tensor, torch.Tensor]:
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=model.dtype == torch.float32):
        out = model(**_batch())
    out.loss.backward()
    attention = model.bert.encoder.layer[0].attention.self
    grads = [p.grad.flatten() for p in attention.parameters()]
    return out.logits.float().detach(), torch.cat(grads)


def test_fast_attention_matches_fp32_forward_and_backward_with_padding(tiny_model_dir):
    def load(fast: bool):
        model = _tiny(tiny_model_dir, attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0)
        if fast:
            assert fast_attention(model)
            assert model.config._attn_implementation == ATTENTION
        return model

    reference = load(False)
    reference.train()
    out = reference(**_batch())  # fp32, no autocast
    out.loss.backward()
    attention = reference.bert.encoder.layer[0].attention.self
    ref_grads = torch.cat([p.grad.flatten() for p in attention.parameters()])
    logits, grads = _attention_grads(load(True))
    np.testing.assert_allclose(logits.numpy(), out.logits.detach().numpy(), atol=1e-2)
    cosine = torch.nn.functional.cosine_similarity(grads, ref_grads, dim=0)
    assert cosine > 0.999  # a missing padding mask gave 0.83 here

    # Padding is masked: a text alone and padded in a batch with a longer one score the same.
    model = load(True).eval()
    batch = _batch()
    short = {k: v[2:3, :10] for k, v in batch.items() if k != "labels"}
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        alone = model(**short).logits.float()
        padded = model(
            input_ids=batch["input_ids"][2:3], attention_mask=batch["attention_mask"][2:3]
        )
    np.testing.assert_allclose(alone.numpy(), padded.logits.float().numpy(), atol=1e-2)
    plain_attention(model)
    assert model.config._attn_implementation == "sdpa"


def test_fast_attention_keeps_dropout_and_saved_config_plain(tiny_model_dir, tmp_path):
    model = _tiny(tiny_model_dir, attention_probs_dropout_prob=0.5)
    assert fast_attention(model)
    model.train()
    batch = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a = model(**batch).logits
        b = model(**batch).logits
    assert not torch.allclose(a, b)  # attention dropout still active in training
    model.eval()
    with torch.inference_mode():
        assert torch.allclose(model(**batch).logits, model(**batch).logits)
    with quiet_transformers():
        model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert ATTENTION not in json.dumps(saved)  # loads without textclass
