"""Batched forward passes without gradients, shared by evaluation and prediction."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch.utils.data import DataLoader

from textclass.data.encode import Collator, EncodedTexts, LengthGroupedBatches
from textclass.models.attention import fast_attention


def predict_logits(
    model: torch.nn.Module,
    dataset: EncodedTexts,
    batch_size: int,
    pad_id: int,
    device: torch.device | str,
    dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Logits (float32, shape (N, num_labels)) in the dataset's order, one row per text (the
    windows of a long text are aggregated).

    Texts are processed longest first in length-sorted batches, which keeps padding minimal,
    then put back in order.
    """
    batches = LengthGroupedBatches(dataset.lengths, batch_size, shuffle=False)
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=Collator(pad_id))
    device = torch.device(device)
    out: np.ndarray | None = None
    was_training = model.training
    if was_training:  # switching modes walks every module: ~2 ms per call for MiniLM
        model.eval()
    autocast = (
        torch.autocast(device_type=device.type, dtype=dtype)
        if dtype is not None
        else contextlib.nullcontext()
    )
    try:
        with torch.inference_mode(), autocast:
            for indices, batch in zip(batches, loader, strict=False):
                batch.pop("labels", None)
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                logits = model(**batch).logits.float().cpu().numpy()
                if out is None:
                    out = np.empty((len(dataset), logits.shape[1]), dtype=np.float32)
                out[indices] = logits
    finally:
        if was_training:
            model.train()
    assert out is not None, "predict_logits needs at least one text"
    return dataset.aggregate_rows(out)


def inference_model(model: torch.nn.Module, precision: str, device: torch.device) -> str:
    """Prepare a model for prediction; returns how it runs: `bf16-weights`, or `autocast`/`fp32`.

    On CPU with bf16 chosen, Hugging Face transformer weights are cast to bf16 once, in place.
    Recurrent models (the BiLSTM) keep fp32 weights and autocast their projections.
    """
    model.eval()
    fast_attention(model)
    if (
        precision == "bf16"
        and device.type == "cpu"
        and getattr(getattr(model, "config", None), "model_type", "") != "textclass-bilstm"
    ):
        model.to(torch.bfloat16)
        return "bf16-weights"
    return "autocast" if precision in ("bf16", "fp16") else "fp32"
