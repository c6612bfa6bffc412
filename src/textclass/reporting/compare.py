"""Several finished runs side by side: their config differences and test/validation metrics
with 95% intervals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from textclass.config.tasks import MULTI_LABEL, REGRESSION, Task, get_task
from textclass.reporting.build import build_report, read_json
from textclass.reporting.format import ci_or_value, flatten, fmt
from textclass.workflows import rundir

CLASSIFICATION = ("accuracy", "f1_macro", "f1_weighted")
TASK_METRICS = {
    MULTI_LABEL: ("f1_micro", "hamming_loss"),  # accuracy is then subset accuracy
    REGRESSION: ("rmse", "mae", "r2", "spearman"),
}


def compare_runs(run_dirs: list[str | Path]) -> dict[str, Any]:
    """Config differences and test metrics (with 95% intervals) of several finished runs."""
    runs = []
    for run_dir in map(Path, run_dirs):
        report = read_json(run_dir / rundir.REPORT["json"]) or build_report(run_dir)
        cfg = flatten(yaml.safe_load((run_dir / rundir.CONFIG).read_text(encoding="utf-8")))
        runs.append({"run": str(run_dir), "config": cfg, "results": report["results"]})
    keys = sorted({k for r in runs for k in r["config"]})
    differing = [k for k in keys if len({json.dumps(r["config"].get(k)) for r in runs}) > 1]
    metrics = _metrics({get_task(res.get("task")) for r in runs for res in r["results"].values()})
    table = []
    for r in runs:
        row = {"run": r["run"]}
        for split in ("test", "validation"):
            res = r["results"].get(split) or {}
            for m in metrics:
                value, interval = res.get(m), res.get("intervals", {}).get(m)
                row[f"{split}_{m}"] = None if value is None else [value, *(interval or [])]
        table.append(row)
    return {
        "runs": [r["run"] for r in runs],
        "config_differences": {k: [r["config"].get(k) for r in runs] for k in differing},
        "metrics": table,
    }


def _metrics(tasks: set[Task]) -> list[str]:
    """The metrics compared: the classification ones unless every run is a regression, plus
    those of each other task present."""
    out = [] if tasks == {REGRESSION} else list(CLASSIFICATION)
    for task, names in TASK_METRICS.items():
        if task in tasks:
            out += names
    return out


def render_comparison(comparison: dict[str, Any]) -> str:
    runs = comparison["runs"]
    lines = ["# Run comparison", "", "## Configuration differences", ""]
    diffs = comparison["config_differences"]
    if diffs:
        lines += ["| key | " + " | ".join(runs) + " |", "|" + "---|" * (len(runs) + 1)]
        lines += [
            f"| {k} | " + " | ".join(fmt(v) for v in vals) + " |" for k, vals in diffs.items()
        ]
    else:
        lines.append("The configs are identical.")
    lines += ["", "## Metrics (95% bootstrap intervals)", ""]
    cols = [c for c in comparison["metrics"][0] if c != "run"]
    lines += ["| run | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for row in comparison["metrics"]:
        cells = ["n/a" if row[c] is None else ci_or_value(row[c][0], row[c][1:]) for c in cols]
        lines.append(f"| {row['run']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
