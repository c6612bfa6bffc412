"""The title and the opening line: the task's headline test metrics and the failure count."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from textclass.reporting import sections
from textclass.reporting.format import Block

if TYPE_CHECKING:
    from textclass.reporting.build import Run


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": f"Training report: {run.config.get('name') or run.dir.name}",
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "run_dir": str(run.dir),
        "task": run.task.name,
        "labels": run.labels,
    }


def blocks(report: dict[str, Any]) -> list[Block]:
    b: list[Block] = [
        ("h1", report["title"]),
        ("p", f"Run directory `{report['run_dir']}`, written {report['generated']}."),
    ]
    test = report["results"].get("test")
    headlines = sections.provided(report["task"], "headline")
    if test and headlines:
        failures = [d for d in report["diagnosis"] if d["severity"] == "fail"]
        verdict = (
            f" **{len(failures)} failure(s) diagnosed: see Diagnosis.**"
            if failures
            else " No failure diagnosed."
        )
        b.append(("p", headlines[0](test) + verdict))
    return b
