"""Process-wide settings (textclass.runtime): allocator tuning and thread counts."""

import os
import platform

import torch

from textclass.runtime import set_threads, tune_allocator


def test_allocator_tuning_is_idempotent():
    first = tune_allocator()
    assert tune_allocator() is first
    assert isinstance(first, bool)
    plain_glibc = platform.libc_ver()[0] == "glibc" and not os.environ.get("LD_PRELOAD")
    if plain_glibc and os.environ.get("TEXTCLASS_MALLOC") != "default":
        assert first is True  # applied wherever it can be


def test_set_threads_round_trip():
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1
        assert set_threads(None) == 1  # None leaves the setting alone
    finally:
        torch.set_num_threads(before)
