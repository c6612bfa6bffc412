"""Calibrated probabilities: the temperature fitted on validation (metrics.json's
`calibration`), the expected calibration error and reliability before and after scaling on each
split, and why the temperature stayed 1 where it did."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textclass.reporting.format import Block, fmt4

if TYPE_CHECKING:
    from textclass.reporting.build import Run

SPLITS = ("validation", "test")


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    """The calibration record of metrics.json as the report shows it; None for runs without one
    (regression, runs written before calibration)."""
    raw = run.metrics.get("calibration")
    if not raw:
        return {"calibration": None}
    temperature = raw.get("temperature", 1.0)
    per_label = None
    if isinstance(temperature, list):  # multi-label: one per label
        per_label = [
            {"label": label, "temperature": t}
            for label, t in zip(run.labels, temperature, strict=True)
        ]
    splits = raw.get("splits", {})
    return {
        "calibration": {
            "method": raw.get("method", "temperature"),
            "applied": bool(raw.get("applied")),
            "temperature": temperature,
            "per_label": per_label,
            "reason": raw.get("reason"),
            "validation_fit": raw.get("validation"),
            "labels_kept_at_1": raw.get("labels_kept_at_1"),
            "splits": {s: splits[s] for s in SPLITS if s in splits},
        }
    }


def blocks(report: dict[str, Any]) -> list[Block]:
    cal = report.get("calibration")
    if not cal:
        return []
    b: list[Block] = [("h3", "Calibrated probabilities"), ("p", _how(cal))]
    rows = [
        [split, fmt4(r["before"]["ece"]), fmt4(r["after"]["ece"])]
        for split, r in cal["splits"].items()
    ]
    b.append(("table", ["split", "ECE before scaling", "ECE after scaling"], rows))
    if cal["applied"] and cal["per_label"]:
        shown = sorted(cal["per_label"], key=lambda r: -abs(r["temperature"] - 1))[:30]
        b.append(
            (
                "table",
                ["label", "temperature"],
                [[r["label"], f"{r['temperature']:.3f}"] for r in shown],
            )
        )
    if "test" in cal["splits"]:
        b.append(("fig", "reliability_test"))
    return b


def _how(cal: dict[str, Any]) -> str:
    if cal["method"] == "none":
        return f"Not calibrated: {cal['reason']}"
    if not cal["applied"]:
        return f"Temperature scaling was fitted on validation and not applied: {cal['reason']}"
    fit = cal["validation_fit"] or {}
    nll = (
        f" (validation log loss {fit['nll_before']:.4f} → {fit['nll_fitted']:.4f})"
        if "nll_before" in fit
        else ""
    )
    if cal["per_label"]:
        values = [r["temperature"] for r in cal["per_label"]]
        what = (
            f"one temperature per label, from {min(values):.3f} to {max(values):.3f}, divides "
            "that label's logit before its sigmoid"
        )
        kept = cal.get("labels_kept_at_1")
        if kept:
            what += f" ({kept} label(s) with a single outcome on validation keep 1)"
    else:
        what = f"the logits are divided by **T = {cal['temperature']:.3f}** before the softmax"
    return (
        f"Temperature scaling, fitted on the validation split{nll}: {what}. Predicted labels "
        "are unchanged; every metric and the predictions files use the scaled probabilities, "
        "and so does the saved model (`predict`, `evaluate`, `serve`, ONNX)."
    )


def error_blocks(report: dict[str, Any]) -> list[Block]:
    return []


def observations(report: dict[str, Any]) -> list[str]:
    cal = report.get("calibration")
    test = (cal or {}).get("splits", {}).get("test")
    if not cal or not test or cal["method"] == "none":
        return []
    before, after = test["before"]["ece"], test["after"]["ece"]
    if not cal["applied"]:
        return [f"Temperature scaling: not applied (test ECE {before:.3f}); {cal['reason']}"]
    return [f"Temperature scaling: test expected calibration error {before:.3f} → {after:.3f}."]
