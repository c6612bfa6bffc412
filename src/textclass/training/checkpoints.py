"""Checkpoints: the best weights (for the saved model) and the last resumable state.

Both are callbacks. `BestWeights` keeps the selected weights in memory (a CPU copy), and also
on disk when given a directory; `LastCheckpoint` writes Accelerate's full state (model,
optimizer, scheduler, RNGs) plus `trainer_state.json` after each evaluation, every
`checkpoint_steps`, and when a stop is requested, so an interrupted run resumes exactly.
Directories are written next to their target and swapped in: a crash never leaves half a one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from textclass.models.build import load_trained, quiet_transformers
from textclass.training.callbacks import Callback
from textclass.training.state import TrainState
from textclass.workflows import rundir

BEST, LAST = "best", "last"  # under the run's checkpoints/ directory


def _atomic_dir(target: Path, write: Callable[[Path], None]) -> None:
    """Write a directory next to `target`, then swap it in."""
    tmp = target.with_name(target.name + ".tmp")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    write(tmp)
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(accelerator: Accelerator, state: TrainState, directory: Path) -> None:
    """Model, optimizer, scheduler, RNG states (Accelerate) plus `trainer_state.json`."""

    def write(tmp: Path) -> None:
        accelerator.save_state(str(tmp), safe_serialization=True)
        (tmp / rundir.TRAINER_STATE).write_text(
            json.dumps(state.to_json(), indent=1), encoding="utf-8"
        )

    if accelerator.is_main_process:
        _atomic_dir(directory, write)
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator: Accelerator, directory: Path) -> TrainState:
    accelerator.load_state(str(directory))
    state = json.loads((directory / rundir.TRAINER_STATE).read_text(encoding="utf-8"))
    return TrainState.from_json(state)


class BestWeights(Callback):
    """Keeps the weights of the best evaluation so far: in memory, and in `directory` if set."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory
        self.state_dict: dict[str, torch.Tensor] | None = None

    def on_train_begin(self, state, accelerator: Accelerator, model: Any, **kwargs):
        self.accelerator, self.model = accelerator, model

    def on_evaluate(self, state, record, **kwargs):
        if not record["is_best"]:
            return
        unwrapped = self.accelerator.unwrap_model(self.model)
        weights = unwrapped.state_dict()
        self.state_dict = {k: v.detach().to("cpu", copy=True) for k, v in weights.items()}
        if self.directory is not None:
            if self.accelerator.is_main_process:
                with quiet_transformers():
                    _atomic_dir(
                        self.directory,
                        lambda tmp: unwrapped.save_pretrained(tmp, safe_serialization=True),
                    )
            self.accelerator.wait_for_everyone()

    def restore(self, model: torch.nn.Module) -> None:
        """Load the best weights into `model` (the unwrapped one). A resumed run whose best
        evaluation came before the interruption takes them from the directory."""
        if self.state_dict is None and self.directory is not None and self.directory.is_dir():
            saved = load_trained(self.directory).state_dict()
            self.state_dict = {k: v.detach().to("cpu") for k, v in saved.items()}
        if self.state_dict is not None:
            model.load_state_dict(self.state_dict)


class LastCheckpoint(Callback):
    """The resumable state, after each evaluation, every `every` steps and on a stop request."""

    def __init__(self, directory: Path, every: int | None = None):
        self.directory, self.every = directory, every

    def on_train_begin(self, state, accelerator: Accelerator, **kwargs):
        self.accelerator = accelerator

    def on_step_finish(self, state, evaluated: bool = False, **kwargs):
        periodic = self.every and state.global_step % self.every == 0
        if evaluated or periodic or state.stop_requested:
            save_checkpoint(self.accelerator, state, self.directory)
