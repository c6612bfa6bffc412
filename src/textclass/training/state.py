"""What a training run has done so far: counters, history and callbacks' state.

With Accelerate's checkpoint (model, optimizer, scheduler, RNGs), everything needed to resume
exactly. Torch-free, so reports and tests can read it without loading torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TrainState:
    total_steps: int = 0
    steps_per_epoch: int = 0
    epoch: int = 0
    global_step: int = 0  # optimizer steps done
    step_in_epoch: int = 0  # optimizer steps done in the current epoch
    samples_seen: int = 0
    train_seconds: float = 0.0  # wall time of the steps, waiting for data included
    data_seconds: float = 0.0  # of which waiting for the next batch (loading, collating)
    loss_sum: float = 0.0  # training loss since the last evaluation
    loss_count: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # callbacks' JSON state, checkpointed
    # Asked by a callback (early stopping, search pruning): finish cleanly after this step.
    should_stop: bool = field(default=False, repr=False)
    stop_reason: str | None = None
    # Asked by a signal (Ctrl-C, SIGTERM): checkpoint after this step and raise.
    stop_requested: bool = field(default=False, repr=False)

    def request_stop(self, reason: str) -> None:
        """Stop after the current step, cleanly: the run ends as if it had finished."""
        self.should_stop, self.stop_reason = True, reason

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for transient in ("should_stop", "stop_requested"):
            data.pop(transient)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainState:
        return cls(**data)
