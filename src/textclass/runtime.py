"""Where a run executes: device and precision choice, the environment record, and the
process-wide settings (allocator, threads) that only entry points apply.

- `tune_allocator`: glibc's malloc returns large blocks to the OS after every free, so each
  training step page-faults its activations in again. Raising the thresholds keeps freed memory
  for reuse, as tcmalloc would, without an LD_PRELOAD. Process-wide: call it from entry points.
- `set_threads`: an explicit intra-op thread count (default: torch's, one per physical core).
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
from functools import lru_cache
from importlib import metadata
from typing import Any

import torch

from textclass.errors import TextclassError

PACKAGES = (
    "textclass",
    "torch",
    "transformers",
    "accelerate",
    "tokenizers",
    "scikit-learn",
    "numpy",
    "pandas",
    "pydantic",
)


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_fast_bf16() -> bool:
    """True where bf16 matrix products run in hardware (AVX512-BF16 or AMX), not emulated."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags()) and torch.backends.mkldnn.is_available()


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def choose_device(preference: str = "auto") -> str:
    """CUDA, then MPS, then CPU; a device asked for but absent is an error, not a silent swap."""
    if preference == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if preference == "cuda" and not torch.cuda.is_available():
        raise TextclassError(
            "train.device=cuda, but no CUDA device is visible. Use train.device=auto."
        )
    if preference == "mps" and not _mps_available():
        raise TextclassError("train.device=mps, but MPS is not available. Use train.device=auto.")
    return preference


def choose_precision(preference: str, device: str) -> str:
    """Resolve `auto` to the fastest safe precision for the device: fp32, bf16 or fp16."""
    if preference == "auto":
        if device == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if device == "cpu":
            return "bf16" if cpu_has_fast_bf16() else "fp32"
        return "fp32"  # MPS: autocast support varies by op and torch version
    if preference == "fp16" and device != "cuda":
        raise TextclassError(
            f"train.precision=fp16 needs CUDA (device is {device}); use bf16 or fp32, or auto."
        )
    return preference


def autocast_dtype(precision: str) -> torch.dtype | None:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_bf16": cpu_has_fast_bf16(),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            info["cpu"] = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), None
            )
    except OSError:
        info["cpu"] = platform.processor() or None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        info["memory_gb"] = None
    if torch.cuda.is_available():
        info["cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def environment_record(
    device: str, precision: str, seed: int, data_hashes: dict[str, str]
) -> dict[str, Any]:
    return {
        "versions": versions(),
        "hardware": hardware(),
        "device": device,
        "precision": precision,
        "seed": seed,
        "data_sha256": data_hashes,
    }


# ---------------------------------------------------------------- process-wide settings

log = logging.getLogger(__name__)

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


def configure_process(num_threads: int | None = None) -> dict[str, Any]:
    """What an entry point (the CLI, `train`, the server, a benchmark) applies once: allocator
    tuning and the thread count. Returns what is in force, for the run's record."""
    return {"allocator_tuned": tune_allocator(), "threads": set_threads(num_threads)}


_accelerator_settings: tuple[str, str] | None = None


def accelerator_for(device: str, precision: str) -> Any:
    """A fresh Accelerator for one run on this device and precision.

    Accelerate keeps one process-wide state and refuses an Accelerator with other settings.
    Runs of a process that keep their settings (a search's trials, cross-validation folds)
    each get a new Accelerator over that state (its lists of prepared models and registered
    objects start empty); a single process that asks for other settings (tests, notebooks) gets
    a fresh state. This is the one place that touches Accelerate's state."""
    from accelerate import Accelerator, PartialState
    from accelerate.state import AcceleratorState

    global _accelerator_settings
    mixed = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]
    if _accelerator_settings not in (None, (mixed, device)) and PartialState().num_processes == 1:
        AcceleratorState._reset_state()
    _accelerator_settings = (mixed, device)
    return Accelerator(mixed_precision=mixed, cpu=device == "cpu")
