"""Attention that is fast on CPUs with bf16: fp32 fused SDPA inside bf16 autocast.

Measured on the 2-core AVX512-BF16 CI machine (see docs/speed.md). Hugging Face models that route
attention through `AttentionInterface` (BERT, RoBERTa, DistilBERT, MiniLM, ...) get an SDPA
wrapper that runs the attention kernel in float32 inside CPU bf16 autocast when no attention
dropout is active: the fused fp32 kernel is faster than the bf16 one for small heads (MiniLM's
are 32 wide) and more exact. With attention dropout active, SDPA has no fused CPU kernel and
falls back to materialising the score matrix; that path stays in bf16.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

log = logging.getLogger(__name__)

ATTENTION = "textclass_sdpa"


def _fast_sdpa(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, Any]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if dropout == 0.0 and query.device.type == "cpu" and query.dtype == torch.bfloat16:
        if attention_mask is not None and attention_mask.is_floating_point():
            attention_mask = attention_mask.float()
        with torch.autocast("cpu", enabled=False):
            out, weights = sdpa_attention_forward(
                module,
                query.float(),
                key.float(),
                value.float(),
                attention_mask,
                dropout=0.0,
                **kwargs,
            )
        return out.to(query.dtype), weights
    return sdpa_attention_forward(
        module, query, key, value, attention_mask, dropout=dropout, **kwargs
    )


def register_attention() -> None:
    """Register the wrapper, and SDPA's mask builder under the same name: transformers builds
    no padding mask at all for an attention name it has no mask function for."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION, _fast_sdpa)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)


def fast_attention(model: torch.nn.Module) -> bool:
    """Switch a model that uses SDPA to the wrapper above; True when switched.

    Only the in-memory setting changes: saved configs keep `sdpa` (see `saved_attention`), so
    a saved model loads anywhere without textclass.
    """
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    register_attention()
    try:
        model.set_attn_implementation(ATTENTION)
    except (ValueError, AttributeError, NotImplementedError) as exc:
        log.debug("fast attention not available for %s: %s", type(model).__name__, exc)
        return False
    return True


def plain_attention(model: torch.nn.Module) -> None:
    """Back to `sdpa` (before saving, exporting or tracing)."""
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) == ATTENTION:
        model.set_attn_implementation("sdpa")
