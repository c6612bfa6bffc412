"""Robustness to perturbations of the test texts (robustness.json, written by the run with
`eval.robustness` or by `textclass robustness`): per perturbation the share of texts changed,
the share of predictions that flip, the metric before and after; the expected-flip check
(negation) apart; the flipped examples under "Error analysis"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textclass.reporting.format import Block, short
from textclass.workflows import rundir

if TYPE_CHECKING:
    from textclass.reporting.build import Run


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    """The run's robustness.json, or why there is none."""
    record = run.json(rundir.ROBUSTNESS)
    if record is None:
        off = run.config.get("eval", {}).get("robustness") is False
        why = (
            "the run had `eval.robustness: false`"
            if off
            else f"no {rundir.ROBUSTNESS} in the run directory (search trials and runs "
            "written before robustness checks have none)"
        )
        fix = f"`textclass robustness {run.dir / rundir.MODEL} --data {run.dir / rundir.CONFIG}`"
        return {"robustness": {"not_measured": f"{why}; {fix} measures it"}}
    return {"robustness": record}


def _pct(value: float | None, interval: list[float] | None = None) -> str:
    if value is None:
        return "n/a"
    shown = f"{100 * value:.1f}%"
    return f"{shown} [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]" if interval else shown


def _value(value: float | None, interval: list[float] | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g} [{interval[0]:.4g}, {interval[1]:.4g}]" if interval else f"{value:.4g}"


def _change(r: dict[str, Any]) -> str:
    iv = r.get("interval")
    ci = f" [{iv[0]:+.4f}, {iv[1]:+.4f}]" if iv else ""
    return f"{r['original']:.4f} → {r['perturbed']:.4f} ({r['difference']:+.4f}{ci})"


def _table(rob: dict[str, Any]) -> Block:
    metric = rob["metric"]
    rows = []
    regression = any(r.get("flip_rate") is None for r in rob["perturbations"].values())
    for label, r in rob["perturbations"].items():
        read = r["model_input_changed"] / r["n"] if r["n"] else None
        changed = [f"`{label}`", _pct(r["changed_share"]), _pct(read)]
        if regression:
            keys = ("mean_abs_change_changed", "mean_abs_change")
            rows.append([*changed, *(_value(r.get(k), r.get(f"{k}_interval")) for k in keys)])
        else:
            rows.append(
                [
                    *changed,
                    _pct(r["flip_rate_changed"], r["flip_rate_changed_interval"]),
                    _pct(r["flip_rate"], r["flip_rate_interval"]),
                ]
            )
        rows[-1].append(_change(r))
    moved = (
        ["mean abs. change (changed texts)", "mean abs. change (all)"]
        if regression
        else ["flips among changed texts", "flips, all texts"]
    )
    headers = ["perturbation", "texts changed", "read differently", *moved, f"{metric} (change)"]
    return ("table", headers, rows)


def blocks(report: dict[str, Any]) -> list[Block]:
    rob = report.get("robustness") or {"not_measured": "the report data has no robustness part"}
    b: list[Block] = [("h3", "Robustness to perturbations (test)")]
    if "not_measured" in rob:
        return [*b, ("p", f"Not measured: {rob['not_measured']}.")]
    b.append(
        (
            "p",
            f"Each of the {rob['rows']:,} test texts perturbed once per perturbation (seed "
            f"{rob['seed']}), cleaned as the model cleans its inputs, and predicted again where "
            "the model reads it differently (read differently: other token ids, or another text "
            "for a model without a tokenizer of its own). The meaning of a text is meant to "
            f"stay, so the less the predictions move, the better; {_moved(rob)}. Brackets: 95% "
            f"bootstrap intervals over the test rows ({rob['resamples']} resamples); "
            f"{rob['seconds']:.0f} s in all.",
        )
    )
    if rob["perturbations"]:
        b.append(_table(rob))
    b += _expected_flip_blocks(rob)
    if rob["skipped"]:
        b.append(("list", [f"`{k}` not run: {why}" for k, why in rob["skipped"].items()]))
    return b


def _moved(rob: dict[str, Any]) -> str:
    if any(r.get("flip_rate") is None for r in rob["perturbations"].values()):
        return "the table gives the mean absolute change of the predicted value"
    return "a **flip** is a changed prediction (another class, another label set)"


def _expected_flip_blocks(rob: dict[str, Any]) -> list[Block]:
    if not rob["expected_flip"]:
        return []
    rows = [
        [
            f"`{label}`",
            _pct(r["flip_rate"], r["flip_rate_interval"]),
            _pct(r["flipped_label_agreement"], r["flipped_label_agreement_interval"]),
        ]
        for label, r in rob["expected_flip"].items()
    ]
    text = (
        "Expected-flip check: a negation template (`It is not true that ...`) reverses the "
        "meaning, so for a sentiment-like task the prediction should flip (more is better). "
        "The templates are crude and not every text negates cleanly; for a binary task that is "
        "not about polarity (spam, topic) ignore this table or remove `negation` from "
        "`eval.robustness_perturbations`."
    )
    headers = ["perturbation", "predictions that flip", "agree with the flipped gold label"]
    return [("p", text), ("table", headers, rows)]


def error_blocks(report: dict[str, Any]) -> list[Block]:
    rob = report.get("robustness") or {}
    if "perturbations" not in rob:
        return []
    rows = [
        [f"`{label}`", short(e["perturbed"], 120), e["gold"], f"{e['before']} → {e['after']}"]
        for label, r in [*rob["perturbations"].items(), *rob["expected_flip"].items()]
        for e in r["examples"][:2]
    ]
    if not rows:
        return []
    return [
        ("h3", "Predictions moved by perturbations"),
        ("table", ["perturbation", "perturbed text", "gold", "prediction"], rows),
    ]


def observations(report: dict[str, Any]) -> list[str]:
    rob = report.get("robustness") or {}
    found = {k: r for k, r in rob.get("perturbations", {}).items() if r.get("flip_rate")}
    out = []
    if found:
        label, r = max(found.items(), key=lambda kv: kv[1]["flip_rate"])
        out.append(
            f"Robustness (test): `{label}` flips the most predictions, "
            f"{_pct(r['flip_rate'], r['flip_rate_interval'])} of all ("
            f"{_pct(r['flip_rate_changed'])} of the texts it changed); {r['metric']} "
            f"{_change(r)}."
        )
    for label, r in rob.get("expected_flip", {}).items():
        out.append(
            f"Expected-flip check `{label}`: {_pct(r['flip_rate'], r['flip_rate_interval'])} "
            "of the predictions flip when the text is negated."
        )
    return out
