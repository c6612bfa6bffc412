"""The study report of a hyper-parameter search: trials table, optimisation history, parameter
importances and what pruning saved; and the leaderboard `textclass tune --show` prints. Reads
`study.json` only (torch-free and Optuna-free, like every report)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from textclass.reporting.format import Block, fmt, fmt4
from textclass.reporting.render import write_rendered
from textclass.workflows import rundir

STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}


def ranked(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Complete trials best first, then pruned (by their last reported value), then the rest."""
    sign = 1 if summary["direction"] == "minimize" else -1

    def key(row: dict[str, Any]) -> tuple:
        value = row["value"] if row["value"] is not None else _last(row)
        score = sign * value if value is not None and math.isfinite(value) else math.inf
        return STATE_ORDER.get(row["state"], 5), score, row["number"]

    return sorted(summary["trials"], key=key)


def _last(row: dict[str, Any]) -> float | None:
    values = list(row.get("intermediate", {}).values())
    return values[-1] if values else None


def _params(row: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={fmt4(v) if isinstance(v, float) else v}" for k, v in row["params"].items()
    )


def _steps(row: dict[str, Any]) -> str:
    if row.get("steps_planned"):
        return f"{row['steps_run']}/{row['steps_planned']}"
    return fmt(row.get("steps_run"))


def trials_table(summary: dict[str, Any], limit: int | None = None) -> Block:
    headers = [
        "rank",
        "trial",
        "state",
        summary["metric"],
        "parameters",
        "seconds",
        "steps run/planned",
    ]
    rows = []
    for i, r in enumerate(ranked(summary)[:limit], start=1):
        shown = fmt4(r["value"]) if r["value"] is not None else "-"
        if r["state"] == "PRUNED" and _last(r) is not None:
            shown = f"({fmt4(_last(r))} at evaluation {list(r['intermediate'])[-1]})"
        state = r["state"] + (" (interrupted)" if r.get("interrupted") else "")
        rows.append([i, r["number"], state, shown, _params(r), fmt(r.get("seconds")), _steps(r)])
    return ("table", headers, rows)


def leaderboard(summary: dict[str, Any], limit: int = 20) -> str:
    """The study as text: objective, counts, best, and the ranked trials."""
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(summary.get("counts", {}).items()))
    lines = [
        f"study `{summary['study_name']}`: {summary['direction']} {summary['metric']} on "
        + (f"{summary['cv']}-fold CV" if summary.get("cv") else "validation")
        + f"; {len(summary['trials'])} trials ({counts or 'none yet'})"
    ]
    best = summary.get("best")
    if best:
        lines.append(f"best: trial {best['number']}, {summary['metric']} {best['value']:.4f}")
    headers, rows = trials_table(summary, limit)[1:]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    for row in [headers, *rows]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def study_blocks(summary: dict[str, Any]) -> list[Block]:
    name = summary["config"].get("name") or summary["study_name"]
    objective = f"{summary['cv']}-fold cross-validation mean" if summary.get("cv") else "validation"
    b: list[Block] = [
        ("h1", f"Hyper-parameter search: {name}"),
        (
            "p",
            f"Study `{summary['study_name']}`: {summary['direction']} `{summary['metric']}` "
            f"({objective}) over {len(summary['trials'])} trials; pruner "
            f"`{summary['search']['pruner']}`. Best config: `{rundir.BEST_CONFIG}` "
            f"(`textclass train {rundir.BEST_CONFIG}`); best run directory: `{rundir.STUDY_BEST}/`.",
        ),
        ("h2", "Search space"),
        (
            "table",
            ["key", "distribution"],
            [[k, _distribution(d)] for k, d in summary["space"].items()],
        ),
        ("h2", "Trials"),
        trials_table(summary),
        ("fig", "history"),
        ("h2", "Parameter importances"),
    ]
    imp = summary.get("importances")
    if imp:
        b.append(
            ("table", ["parameter", "importance (Optuna)"], [[k, fmt4(v)] for k, v in imp.items()])
        )
        b.append(("fig", "importances"))
    else:
        b.append(("p", summary.get("importance_note") or "Not computed yet."))
    b += [("h2", "What pruning saved"), ("p", _pruning_text(summary["pruning"]))]
    return b


def _distribution(d: dict[str, Any]) -> str:
    if d["type"] == "categorical":
        return "one of " + ", ".join(map(str, d["choices"]))
    scale = " (log scale)" if d.get("log") else ""
    step = f", step {d['step']}" if d.get("step") else ""
    return f"{d['type']} {d['low']} to {d['high']}{step}{scale}"


def _pruning_text(p: dict[str, Any]) -> str:
    if not p["steps_planned"]:
        return "No optimizer steps recorded (a linear model, or no finished trial yet)."
    return (
        f"{p['pruned']} trial(s) pruned. The finished and pruned trials ran {p['steps_run']:,} "
        f"optimizer steps of the {p['steps_planned']:,} they would have run unpruned (a "
        "complete trial's own steps, early stopping included; a pruned trial's planned steps, "
        f"at most): {100 * p['saved_share']:.1f}% saved."
    )


def _figures(summary: dict[str, Any]) -> dict[str, tuple[bytes, str]]:
    from textclass.reporting.figures import canvas

    plt, drawn, save = canvas()
    _history_figure(plt, save, summary)
    imp = summary.get("importances")
    if imp:
        fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(imp)))
        ax.barh(list(imp)[::-1], list(imp.values())[::-1])
        ax.set(xlabel="importance (Optuna)")
        save(fig, "importances", "Parameter importances")
    return drawn


def _history_figure(plt, save, summary: dict[str, Any]) -> None:
    """Each complete trial's value, the best so far, and pruned trials' last reported value."""
    rows = sorted(summary["trials"], key=lambda r: r["number"])
    done = [r for r in rows if r["state"] == "COMPLETE"]
    if not done:
        return
    pick = min if summary["direction"] == "minimize" else max
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot([r["number"] for r in done], [r["value"] for r in done], "o", label="complete")
    best, steps = [], []
    for r in done:
        best.append(r["value"] if not best else pick(best[-1], r["value"]))
        steps.append(r["number"])
    ax.step(steps, best, where="post", label="best so far")
    pruned = [r for r in rows if r["state"] == "PRUNED" and _last(r) is not None]
    if pruned:
        ax.plot(
            [r["number"] for r in pruned],
            [_last(r) for r in pruned],
            "x",
            label="pruned (last value)",
        )
    ax.set(xlabel="trial", ylabel=summary["metric"], title="Optimisation history")
    ax.legend()
    save(fig, "history", "Optimisation history")


def write_study_report(study_dir: str | Path) -> dict[str, Path]:
    """study_report.md (figures in report_files/) and a self-contained study_report.html."""
    study_dir = Path(study_dir)
    summary = rundir.read_json(study_dir / rundir.STUDY_SUMMARY)
    return write_rendered(study_dir, study_blocks(summary), _figures(summary), rundir.STUDY_REPORT)
