"""The model against a TF-IDF + linear model baseline fitted on the same split: both sets of
metrics with intervals, and the paired bootstrap on the test rows that says which is better
(metrics.json's `baseline`, measured by `textclass.evaluation.baseline`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textclass.evaluation.baseline import comparison_line
from textclass.reporting.format import Block, ci_or_value, fmt4

if TYPE_CHECKING:
    from textclass.reporting.build import Run

SPLITS = ("test", "validation")
VERDICTS = {
    "better": "the model is better than the baseline",
    "worse": "**the model is worse than the baseline**",
    "no_difference": "**no significant difference**: the model does not beat the baseline",
}


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    """The run's baseline (metrics.json) beside the model's metrics (intervals from the results
    section): the comparison metric first, then the task's usual ones."""
    raw = run.metrics.get("baseline")
    if not raw:
        off = run.config.get("eval", {}).get("baseline") is False
        why = "the run had `eval.baseline: false`" if off else "the run predates baselines"
        return {"baseline": {"skipped": why}}
    if "skipped" in raw:
        return {"baseline": {"skipped": raw["skipped"]}}
    comparison = raw["comparison"]
    names = dict.fromkeys([comparison["metric"], *run.task.history_metrics])
    results = report.get("results", {})
    rows = []
    for name in names:
        row: dict[str, Any] = {"metric": name, "lower_is_better": run.task.lower_is_better(name)}
        for split in SPLITS:
            model, base = run.metrics.get(split, {}), raw.get(split, {})
            model_iv = results.get(split, {}).get("intervals", {})
            row[split] = {
                "model": [model.get(name), model_iv.get(name)],
                "baseline": [base.get(name), base.get("intervals", {}).get(name)],
            }
        if any(row[s][who][0] is not None for s in SPLITS for who in ("model", "baseline")):
            rows.append(row)
    keep = ("description", "metric", "penalty", "validation_scores", "features", "fit_seconds")
    return {"baseline": {**{k: raw.get(k) for k in keep}, "rows": rows, "comparison": comparison}}


def blocks(report: dict[str, Any]) -> list[Block]:
    b: list[Block] = [("h3", "Against a baseline (TF-IDF + linear model)")]
    base = report.get("baseline") or {"skipped": "the run predates baselines"}
    if "skipped" in base:
        return [*b, ("p", f"Not measured: {base['skipped']}.")]
    penalty = base["penalty"]
    tried = ", ".join(
        f"{s['value']:g}: {fmt4(s['score'])}" for s in base.get("validation_scores") or []
    )
    b.append(
        (
            "p",
            f"{base['description']}, fitted on the same training split in "
            f"{base['fit_seconds']:.1f} s ({base['features']:,} features); {penalty['name']}="
            f"{penalty['value']:g} chosen on validation {base['metric']} ({tried}).",
        )
    )
    headers = ["metric", *(f"{who} ({s})" for s in SPLITS for who in ("model", "baseline"))]
    table = [
        [
            r["metric"] + (" (lower is better)" if r["lower_is_better"] else ""),
            *(ci_or_value(*r[s][who]) for s in SPLITS for who in ("model", "baseline")),
        ]
        for r in base["rows"]
    ]
    b.append(("table", headers, table))
    c = base["comparison"]
    interval = "" if c["low"] is None else f" [{c['low']:+.4f}, {c['high']:+.4f}]"
    b.append(
        (
            "p",
            f"Paired bootstrap on the {c['n']:,} test rows ({c['resamples']:,} resamples, the "
            f"same rows drawn for both): model - baseline {c['metric']} "
            f"**{c['difference']:+.4f}{interval}** (95% interval): {VERDICTS[c['verdict']]}.",
        )
    )
    return b


def error_blocks(report: dict[str, Any]) -> list[Block]:
    return []


def observations(report: dict[str, Any]) -> list[str]:
    base = report.get("baseline")
    if not base or "skipped" in base:
        return []
    return [f"Against the TF-IDF baseline: {comparison_line(base['comparison'])}."]
