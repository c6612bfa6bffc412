"""Process- and model-level settings that make training and prediction fast.

Each measure here was measured on the 2-core AVX512-BF16 CI machine (figures in the README,
`benchmarks/` to reproduce them); each is safe to skip, and skipped where it does not apply.

- `tune_allocator`: glibc's malloc returns large blocks to the OS after every free (blocks over
  its mmap threshold are unmapped, the heap top trimmed), so each training step page-faults its
  activations in again. Raising the thresholds keeps freed memory for reuse, as tcmalloc would,
  without an LD_PRELOAD (which must be set before the process starts). Done once per process.
- `fast_attention`: Hugging Face models that route attention through `AttentionInterface`
  (BERT, RoBERTa, DistilBERT, MiniLM, ...) get an SDPA wrapper that runs the attention kernel in
  float32 inside CPU bf16 autocast when no attention dropout is active: the fused fp32 kernel is
  faster than the bf16 one for small heads (MiniLM's are 32 wide) and more exact. With attention
  dropout active, SDPA has no fused CPU kernel at all and falls back to materialising the score
  matrix; that path stays in bf16 (half the memory traffic), see `model.attention_dropout`.
- `inference_model`: for prediction on a CPU with fast bf16, the weights are cast to bf16 once
  (faster than autocast, which re-casts every weight on every call); logits stay within ~1e-2.
- `set_threads`: an explicit intra-op thread count (default: torch's, one per physical core).
"""

from __future__ import annotations

import ctypes
import logging
import os
from typing import Any

import torch

log = logging.getLogger(__name__)

ATTENTION = "textclass_sdpa"

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_allocator_tuned: bool | None = None


def tune_allocator() -> bool:
    """Keep freed memory in the process for reuse (glibc only; once per process).

    Returns True when the settings were applied. Skipped with another allocator preloaded
    (tcmalloc, jemalloc), on non-glibc systems, or when TEXTCLASS_MALLOC=default.
    """
    global _allocator_tuned
    if _allocator_tuned is not None:
        return _allocator_tuned
    _allocator_tuned = False
    if os.environ.get("TEXTCLASS_MALLOC", "") == "default":
        return False
    preload = os.environ.get("LD_PRELOAD", "")
    if "tcmalloc" in preload or "jemalloc" in preload or "mimalloc" in preload:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    # The mmap threshold's maximum on 64-bit glibc is 32 MiB: blocks up to it come from the
    # heap; the heap is trimmed only past 1 GiB of free top, and grows 64 MiB at a time.
    ok = all(
        mallopt(param, value)
        for param, value in (
            (_M_MMAP_THRESHOLD, 32 << 20),
            (_M_TRIM_THRESHOLD, 1 << 30),
            (_M_TOP_PAD, 64 << 20),
        )
    )
    _allocator_tuned = bool(ok)
    return _allocator_tuned


def set_threads(num_threads: int | None) -> int:
    """Set torch's intra-op threads when asked; returns the count in use."""
    if num_threads is not None and num_threads != torch.get_num_threads():
        torch.set_num_threads(num_threads)
    return torch.get_num_threads()


# ---------------------------------------------------------------- attention


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


# ---------------------------------------------------------------- inference


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
