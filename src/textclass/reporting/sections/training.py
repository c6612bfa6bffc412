"""Training progress: the evaluations during training, steps and speed, the selected
checkpoint, early stopping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textclass.reporting import sections
from textclass.reporting.format import Block, fmt, fmt4

if TYPE_CHECKING:
    from textclass.reporting.build import Run


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    state, monitor, history = run.state, run.monitor, run.history
    train = run.config["train"]
    metric = train["metric"]
    last = history[-1] if history else {}
    if linear := state.get("extras", {}).get("linear"):
        return {"training": {"history": [], "linear": linear, "selection": metric}}
    better = "lowest" if run.task.lower_is_better(metric) else "highest"
    return {
        "training": {
            "history": history,
            "steps": monitor.get("steps", {}),
            "total_steps": state.get("total_steps"),
            "steps_done": state.get("global_step"),
            "train_seconds": state.get("train_seconds"),
            "samples_per_second": last.get("samples_per_second"),
            "data_wait_fraction": last.get("data_wait_fraction"),
            "speed_settings": state.get("extras", {}).get("speed"),
            "selected_step": state.get("best_step"),
            "selection": f"{better} validation {metric}",
            "best_value": state.get("best_metric"),
            "stopped_early": state.get("stopped_early", False),
            "patience": train["early_stopping"]["patience"],
            "resumed_at_step": monitor.get("resumed_at_step"),
            "average": state.get("extras", {}).get("average"),  # train.average
            "augment": state.get("extras", {}).get("augment"),  # train.augment
        }
    }


def blocks(report: dict[str, Any]) -> list[Block]:
    t = report["training"]
    if "linear" in t:
        return _linear_blocks(t["linear"])
    shown = [c for columns in sections.provided(report["task"], "HISTORY_COLUMNS") for c in columns]
    headers = ["epoch", "step", "train loss", "val loss", *[name for _, name in shown]]
    rows = [
        [
            f"{h['epoch']:g}",
            h["step"],
            f"{h['train_loss']:.4f}",
            f"{h['val_loss']:.4f}",
            *[fmt4(h.get(key)) for key, _ in shown],
            f"{h['lr']:.2e}",
            f"{h['samples_per_second']:.1f}",
            "best" if h.get("is_best") else "",
        ]
        for h in t["history"]
    ]
    return [
        ("h2", "Training progress"),
        ("table", [*headers, "learning rate", "samples/s", ""], rows),
        ("fig", "training_curves"),
        ("p", _summary(t)),
        *([("p", _average(t["average"]))] if t.get("average") else []),
        *([("p", augment_line(t["augment"]))] if t.get("augment") else []),
    ]


def augment_line(augment: dict[str, Any]) -> str:
    """train.augment as it ran: the perturbations, p, and the texts perturbed per epoch."""
    epochs = augment.get("epochs", {})
    changed = [e["changed"] for e in epochs.values()]
    drawn = [e["drawn"] for e in epochs.values()]
    per = ""
    if changed:
        per = (
            f": {sum(changed):,} training texts perturbed in {len(changed)} epoch(s) "
            f"({min(changed):,}-{max(changed):,} of {augment['texts']:,} per epoch; "
            f"{sum(drawn) - sum(changed):,} drawn texts that their perturbation left unchanged "
            "kept as they were)"
        )
    skipped = "".join(f"; `{k}` skipped: {why}" for k, why in augment.get("skipped", {}).items())
    return (
        f"**Augmentation** (`train.augment`): {', '.join(augment['perturbations'])} with "
        f"p={augment['p']:g}{per}{skipped}. Validation and test texts are never perturbed."
    )


def _linear_blocks(fit: dict[str, Any]) -> list[Block]:
    """A linear model has no epochs: one fit per penalty value, the best on validation kept."""
    penalty = fit["penalty"]
    rows = [
        [f"{s['value']:g}", fmt4(s["score"]), "chosen" if s["value"] == penalty["value"] else ""]
        for s in fit["validation_scores"]
    ]
    text = (
        f"No training loop: {fit['description']} fitted once per {penalty['name']} value on the "
        f"training split ({fit['features']:,} features), in {fit['fit_seconds']:.1f} s in all; "
        f"the one with the best validation {fit['metric']} is kept ({penalty['name']}="
        f"{penalty['value']:g}). The history has no evaluations to show."
    )
    return [
        ("h2", "Training progress"),
        ("table", [penalty["name"], f"validation {fit['metric']}", ""], rows),
        ("p", text),
    ]


def _summary(t: dict[str, Any]) -> str:
    stop = (
        f"early stopping fired (patience {t['patience']})"
        if t["stopped_early"]
        else ("early stopping did not fire" if t["patience"] else "early stopping off")
    )
    resumed = (
        f" Resumed after an interruption at step {t['resumed_at_step']}."
        if t.get("resumed_at_step")
        else ""
    )
    wait = t.get("data_wait_fraction")
    waited = f" {wait:.1%} of that time was spent waiting for batches." if wait is not None else ""
    return (
        f"{t['steps_done']} of {t['total_steps']} optimizer steps in {t['train_seconds']:.0f} s "
        f"of training ({fmt(t['samples_per_second'])} samples/s); {stop}. Selected checkpoint: "
        f"step {t['selected_step']} ({t['selection']}: {fmt(t['best_value'])}).{resumed}{waited}"
    )


def _average(a: dict[str, Any]) -> str:
    """train.average: what was averaged, and the average against the best single checkpoint."""
    start = f" from step {a['start_step']}" if a["method"] == "swa" else f" (k={a['k']})"
    if not a.get("selected"):
        return f"Weights averaged: {a['method']}{start}, not applied: {a.get('skipped', '')}."
    best = a["best_single"]
    return (
        f"Weights averaged: {a['method']}{start} over {a['snapshots']} snapshots (steps "
        f"{', '.join(map(str, a['steps']))}); validation {a['metric']} of the average "
        f"{fmt4(a['value'])} vs best single checkpoint {fmt4(best['value'])} (step "
        f"{best['step']}). The model is the average."
    )
