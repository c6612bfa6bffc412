"""Multi-label decision thresholds: each label's cut tuned on validation against the default,
and what the tuning changed on validation and test (thresholds.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textclass.reporting.format import Block, fmt, fmt4
from textclass.workflows import rundir

if TYPE_CHECKING:
    from textclass.reporting.build import Run

SUMMARY_METRICS = (
    ("micro-F1", "f1_micro"),
    ("macro-F1", "f1_macro"),
    ("samples-F1", "f1_samples"),
    ("subset accuracy", "subset_accuracy"),
    ("Hamming loss (lower is better)", "hamming_loss"),
)


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    """thresholds.json with its per-label rows of both splits joined into one table, most
    frequent labels (on validation) first."""
    raw = run.json(rundir.THRESHOLDS)
    if not raw:
        return {"thresholds": None}
    splits = [s for s in ("validation", "test") if s in raw]
    rows: dict[str, dict[str, Any]] = {}
    for split in splits:
        for r in raw[split].get("per_label", []):
            row = rows.setdefault(r["label"], {"label": r["label"], "threshold": r["threshold"]})
            row[split] = {k: r[k] for k in ("support", "f1_default", "f1_tuned")}
    first = splits[0] if splits else None
    order = sorted(
        rows.values(), key=lambda r: (-(r.get(first) or {}).get("support", 0), r["label"])
    )
    default = raw.get("default", 0.5)
    return {
        "thresholds": {
            "config": raw.get("config", {}),
            "default": default,
            "summary": {
                s: {"default": raw[s]["default"], "tuned": raw[s]["tuned"]} for s in splits
            },
            "per_label": order,
            "moved": sum(1 for r in order if abs(r["threshold"] - default) > 1e-9),
        }
    }


def blocks(report: dict[str, Any]) -> list[Block]:
    thr = report.get("thresholds")
    b: list[Block] = [("h2", "Decision thresholds")]
    if not thr:
        return [*b, ("p", "No thresholds.json in the run directory: every label used a 0.5 cut.")]
    b.append(("p", _how_tuned(thr)))
    b.append(_summary_table(thr))
    b.append(_per_label_table(thr))
    if len(thr["per_label"]) > 60:
        b.append(("p", f"The 60 most frequent of {len(thr['per_label'])} labels shown."))
    b.append(("fig", "thresholds"))
    return b


def error_blocks(report: dict[str, Any]) -> list[Block]:
    return []


def _how_tuned(thr: dict[str, Any]) -> str:
    cfg, default = thr["config"], thr["default"]
    if not cfg.get("tune", True):
        return f"Thresholds not tuned (eval.thresholds.tune=false): every label uses {default:g}."
    return (
        f"Each label's threshold was tuned on the validation split to maximise its "
        f"{cfg.get('metric', 'f1')}; labels with fewer than {cfg.get('min_support', 1)} "
        f"validation positives keep {default:g}. {thr['moved']} of "
        f"{len(thr['per_label'])} labels moved from {default:g}. Validation scores the "
        "thresholds on the data they were tuned on; test shows whether the gain carries "
        "over."
    )


def _summary_table(thr: dict[str, Any]) -> Block:
    """Label-set metrics at the default cut and at the tuned thresholds, per split."""
    summary, default = thr["summary"], thr["default"]
    headers = ["metric"]
    for s in summary:
        headers += [f"{s} at {default:g}", f"{s} tuned", f"{s} change"]
    rows = []
    for name, key in SUMMARY_METRICS:
        row = [name]
        for s in summary:
            a, t = summary[s]["default"].get(key), summary[s]["tuned"].get(key)
            row += [fmt4(a), fmt4(t), "n/a" if a is None or t is None else f"{t - a:+.4f}"]
        rows.append(row)
    return ("table", headers, rows)


def _per_label_table(thr: dict[str, Any]) -> Block:
    splits, default = list(thr["summary"]), thr["default"]
    headers = ["label", "threshold"]
    for s in splits:
        headers += [f"{s} support", f"{s} F1 at {default:g}", f"{s} F1 tuned"]
    rows = []
    for r in thr["per_label"][:60]:
        row = [r["label"], f"{r['threshold']:.3f}"]
        for s in splits:
            v = r.get(s) or {}
            row += [fmt(v.get("support")), fmt4(v.get("f1_default")), fmt4(v.get("f1_tuned"))]
        rows.append(row)
    return ("table", headers, rows)
