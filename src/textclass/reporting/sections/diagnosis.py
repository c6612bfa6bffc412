"""Diagnosis and recommendations: the findings of every registered rule (diagnosis/rules.py)
on the run's record, and the list of what was checked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textclass.diagnosis.rules import RULES, diagnose
from textclass.reporting.format import Block

if TYPE_CHECKING:
    from textclass.reporting.build import Run


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    integrity = run.diagnostics.get("integrity", {})
    findings = diagnose(
        run.monitor,
        run.history,
        run.metrics,
        integrity,
        run.data,
        run.config["train"].get("class_weights", "none"),
        loss=run.diagnostics.get("loss"),
        config=run.config,
    )
    return {
        "diagnosis": [f.to_dict() for f in findings],
        "checks": [{"name": r.name, "description": r.description} for r in RULES.values()],
        "integrity": integrity,
    }


def blocks(report: dict[str, Any]) -> list[Block]:
    b: list[Block] = [("h2", "Diagnosis and recommendations")]
    for f in report["diagnosis"]:
        b.append(("h3", f"{f['severity'].upper()}: {f['title']}"))
        items = [f"Evidence: {f['evidence']}."]
        if f["causes"]:
            items.append(
                "Likely causes, most likely first: "
                + "; ".join(f"({i}) {c}" for i, c in enumerate(f["causes"], 1))
                + "."
            )
        items.append(f"Recommendation: {f['recommendation']}")
        b.append(("list", items))
    if not report["diagnosis"]:
        b.append(("p", "No problem found."))
    b.append(("h3", "What was checked"))
    b.append(("list", [f"`{c['name']}`: {c['description']}." for c in report["checks"]]))
    return b
