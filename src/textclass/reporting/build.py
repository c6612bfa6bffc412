"""The training report: data first (`report.json`), rendered second (`report.md`, `report.html`).

`build_report(run_dir)` reads only what the run wrote (config, environment, data statistics,
history, diagnostics, metrics, predictions) and lets each section of `sections/` measure and
arrange its part; no section is ever filled with placeholder text. `write_report` renders the
same content as Markdown (with PNG figures beside it) and as one self-contained HTML file.

Torch-free: a report can be rebuilt on a machine without the training stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from textclass.config.tasks import Task, get_task
from textclass.errors import TextclassError
from textclass.reporting import sections
from textclass.workflows import rundir


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@dataclass
class Run:
    """A finished run directory, its small files read once; predictions on demand."""

    dir: Path
    config: dict[str, Any]  # config.yaml
    environment: dict[str, Any]  # environment.json
    data: dict[str, Any]  # data.json: sizes, class counts, token lengths, cleaning
    state: dict[str, Any]  # history.json: evaluations, steps, the selected checkpoint
    diagnostics: dict[str, Any]  # diagnostics.json: monitor record, integrity, loss
    metrics: dict[str, Any]  # metrics.json, per split
    meta: dict[str, Any]  # model/textclass.json
    task: Task
    labels: list[str]

    @property
    def seed(self) -> int:
        return self.config.get("seed", 0)

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.state.get("history", [])

    @property
    def monitor(self) -> dict[str, Any]:
        return self.diagnostics.get("monitor", {})

    def json(self, name: str) -> Any:
        """Another JSON file of the run (`thresholds.json`, `model/config.json`), or None."""
        return read_json(self.dir / name)

    def predictions(self) -> dict[str, pd.DataFrame]:
        """The predictions file of each evaluated split (test first), its text, gold and
        predicted columns as the strings written (`0`, `007`, `NA` stay labels)."""
        out = {}
        for split, name in rundir.PREDICTIONS.items():
            path = self.dir / name
            if split in self.metrics and path.is_file():
                out[split] = rundir.read_predictions_file(path)
        return out


def read_run(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    cfg_path = run_dir / rundir.CONFIG
    if not cfg_path.is_file():
        raise TextclassError(f"{run_dir} is not a run directory (no {rundir.CONFIG}).")
    metrics = read_json(run_dir / rundir.METRICS)
    meta = read_json(run_dir / rundir.MODEL / rundir.MODEL_META) or {}
    if metrics is None or not meta:
        raise TextclassError(
            f"{run_dir}: no metrics.json or model/ yet; the run has not finished "
            f"(resume it with `textclass train --resume {run_dir}`)."
        )
    return Run(
        dir=run_dir,
        config=yaml.safe_load(cfg_path.read_text(encoding="utf-8")),
        environment=read_json(run_dir / rundir.ENVIRONMENT) or {},
        data=read_json(run_dir / rundir.DATA) or {},
        state=read_json(run_dir / rundir.HISTORY) or {},
        diagnostics=read_json(run_dir / rundir.DIAGNOSTICS) or {},
        metrics=metrics,
        meta=meta,
        task=get_task(meta.get("task") or metrics.get("test", {}).get("task")),
        labels=[str(label) for label in meta["labels"]],
    )


def build_report(run_dir: str | Path) -> dict[str, Any]:
    """Everything the report shows, as JSON-serialisable data: each section's `data` in
    order, each seeing the parts before it."""
    run = read_run(run_dir)
    report: dict[str, Any] = {}
    for section in sections.in_order(run.task):
        report |= section.data(run, report)
    return report


def write_report(run_dir: str | Path) -> dict[str, Path]:
    """Build the report of a finished run and write report.json, report.md and report.html."""
    from textclass.reporting.figures import figures
    from textclass.reporting.render import report_blocks, write_rendered

    run_dir = Path(run_dir)
    report = build_report(run_dir)
    paths = write_rendered(run_dir, report_blocks(report), figures(report), rundir.REPORT)
    paths["json"] = run_dir / rundir.REPORT["json"]
    paths["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return paths
