"""Hyper-parameter search on the demo task, measured (issue #15).

    python benchmarks/tune_rt.py default          the shipped demo config, trained as shipped
    python benchmarks/tune_rt.py search median    the study with the median pruner (headline)
    python benchmarks/tune_rt.py full             the median study's points run in full
    python benchmarks/tune_rt.py search none      the same study without pruning (a study)
    python benchmarks/tune_rt.py compare          best vs default, pruning's saving, RSS
    python benchmarks/tune_rt.py show             the tables of docs/tuning.md
                                                  -> benchmarks/results/tune_rt.json

The study: configs/rotten_tomatoes.yaml (MiniLM-L6, Rotten Tomatoes grouped by film, seed 42)
with 12 trials of `train.epochs=2` and an evaluation every 57 steps (10 per trial: the pruner's
chances), searching the shipped transformer space less the batch size (fixed at 32, so that
evaluation k means the same data seen in every trial): `train.lr` 1e-5 to 2e-4 (log),
`train.warmup_ratio` 0 to 0.2, `train.weight_decay` 0 to 0.1, `model.dropout` 0 to 0.3.
`search.sampler=random`: both studies draw the same 12 points in the same order whatever their
results, so pruning is the only difference; the median pruner may stop a trial from the 4th
(`search.n_startup_trials=3`) at its 2nd evaluation on (`search.n_warmup_evaluations=1`).

Without pruning, the same 12 points run in full. `full` does it without re-running what the
median study already ran in full: it re-runs every pruned point in full through the trials' own
code path (`search.trial_config` + `search._fit`, the pruning callback left out), and re-runs the
last complete trial too, which must reproduce its value exactly (training here is
deterministic): the unpruned study is then the complete trials' values plus the re-run ones.
`search none` runs that study outright, for when the machine has the time.

`default` trains the shipped config unchanged (3 epochs, lr 5e-5). `compare` scores the best
trial's kept model (chosen on validation, never retrained) and the default model on the same
test rows: paired bootstrap of accuracy and macro-F1 (1000 resamples, 95%). Each side runs in
its own fresh process (`_common.run_worker`), results are written after each step; study
directories go to benchmarks/data/tune_rt/ (git-ignored; a re-run of `search` continues its
study). Run alone on the machine: trial seconds are wall time.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing
sys.path.insert(0, str(HERE))

from _common import RESULTS, paired_on_test, ran_as_worker, run_worker  # noqa: E402

CONFIG = ROOT / "configs" / "rotten_tomatoes.yaml"
DATA = HERE / "data" / "tune_rt"
RESULT = RESULTS / "tune_rt.json"
TRIALS = 12
SPACE = (
    "search.space={train.lr: {type: float, low: 1.0e-5, high: 2.0e-4, log: true}, "
    "train.warmup_ratio: {type: float, low: 0.0, high: 0.2}, "
    "train.weight_decay: {type: float, low: 0.0, high: 0.1}, "
    "model.dropout: {type: float, low: 0.0, high: 0.3}}"
)
STUDY = [
    "train.epochs=2",
    "train.eval_steps=57",
    "search.sampler=random",
    "search.n_startup_trials=3",
    "search.n_warmup_evaluations=1",
    SPACE,
]


def _test_side(run_dir: Path) -> dict[str, Any]:
    """A run directory's test predictions: gold, probabilities and a hash of the texts."""
    from textclass.workflows import rundir

    test = rundir.read_predictions_file(run_dir / rundir.PREDICTIONS["test"])
    probs = [c for c in test.columns if c.startswith("prob_")]
    return {
        "labels": [c[5:] for c in probs],
        "gold": test["gold"].tolist(),
        "probabilities": test[probs].to_numpy().round(6).tolist(),
        "texts_sha": hashlib.sha256("\n".join(test["text"]).encode()).hexdigest(),
    }


def default_worker(spec: dict[str, Any]) -> dict[str, Any]:
    from textclass.workflows.train import train

    started = time.perf_counter()
    result = train(str(CONFIG), [], output=DATA / "default", overwrite=True)
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 1),
        "steps": result.history[-1]["step"],
        "validation": {k: result.metrics["validation"].get(k) for k in ("accuracy", "f1_macro")},
        "test_metrics": {k: result.metrics["test"].get(k) for k in ("accuracy", "f1_macro")},
        "test": _test_side(result.run_dir),
    }


def search_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import textclass
    from textclass.workflows import rundir

    overrides = [*STUDY, f"search.pruner={spec['pruner']}"]
    if spec.get("points"):
        _ask_points(spec["points"])
    started = time.perf_counter()
    result = textclass.tune(
        str(CONFIG), overrides, trials=TRIALS, output=DATA / f"search_{spec['pruner']}"
    )
    wall = time.perf_counter() - started
    best = result.summary["best"]
    metrics = rundir.read_json(result.best_run_dir / rundir.METRICS)
    return {
        "overrides": overrides,
        "trials": TRIALS,
        "wall_s": round(wall, 1),
        "counts": result.summary["counts"],
        "pruning": result.summary["pruning"],
        "importances": result.summary.get("importances"),
        "rows": [
            {k: r[k] for k in ("number", "state", "value", "params", "seconds", "rss_mb")}
            | {"steps_run": r["steps_run"], "steps_planned": r["steps_planned"]}
            for r in result.summary["trials"]
        ],
        "best": {
            "number": best["number"],
            "params": best["params"],
            "validation": {k: metrics["validation"].get(k) for k in ("accuracy", "f1_macro")},
            "test_metrics": {k: metrics["test"].get(k) for k in ("accuracy", "f1_macro")},
        },
        "best_test": _test_side(result.best_run_dir),
    }


def _ask_points(points: list[dict[str, Any]]) -> None:
    """Trials in the given order: the median study's counted points (its resume after an
    interruption drew later points from other seeds than a fresh study would), so that another
    pruner is compared on exactly the same 12 points. Each is queued just before the trial is
    asked for, as a retry is."""
    from textclass.workflows import search

    asked = search._ask
    queue = list(points)

    def ask(ctx, study):
        if queue:
            study.enqueue_trial(queue.pop(0))
        return asked(ctx, study)

    search._ask = ask


def full_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """The median study's pruned points (and its last complete one, as a check), in full."""
    from transformers import set_seed

    from textclass.config.load import load_config
    from textclass.runtime import configure_process
    from textclass.workflows.search import _fit, trial_config
    from textclass.workflows.train import prepare

    cfg = load_config(str(CONFIG), [*STUDY, "search.pruner=none"])
    configure_process(cfg.train.num_threads)
    set_seed(cfg.seed)
    data = prepare(cfg)
    out = []
    for row in spec["rows"]:
        started = time.perf_counter()
        result = _fit(trial_config(cfg, row["params"], f"full-{row['number']:04d}"), data, [])
        out.append(
            {
                "number": row["number"],
                "state_with_pruning": row["state"],
                "value_with_pruning": row["value"],
                "value": float(result.metrics["validation"][cfg.train.metric]),
                "steps_run": result.state.global_step,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        del result
        print(json.dumps(out[-1]), flush=True)
    return {"rows": out}


WORKERS = {"default": default_worker, "search": search_worker, "full": full_worker}


def compare(data: dict[str, Any]) -> dict[str, Any]:
    default, pruned, full = data["default"], data["search_median"], data.get("search_none")
    paired = paired_on_test(pruned["best_test"], default["test"])
    assert paired is not None, "the best trial and the default were not tested on the same rows"
    out: dict[str, Any] = {
        "best_vs_default_test": paired,
        "best_vs_default_validation": {
            "best": pruned["best"]["validation"],
            "default": default["validation"],
        },
    }
    out["rss_mb"] = _rss_by_process(pruned["rows"])
    rerun = data.get("full")
    if rerun is not None:
        out["pruning"] = _pruning_from_rerun(pruned, rerun)
        if "search_hyperband" in data:
            out["hyperband"] = _other_arm(data["search_hyperband"], pruned, out["pruning"])
    elif full is not None:
        same = [r["params"] for r in pruned["rows"]] == [r["params"] for r in full["rows"]]
        out["pruning"] = {
            "same_points": same,
            "steps_with_pruning": pruned["pruning"]["steps_run"],
            "steps_without": full["pruning"]["steps_run"],
            "saved_share": 1 - pruned["pruning"]["steps_run"] / full["pruning"]["steps_run"],
            "wall_with_s": pruned["wall_s"],
            "wall_without_s": full["wall_s"],
            "best_with": {"number": pruned["best"]["number"], "value": _best_value(pruned)},
            "best_without": {"number": full["best"]["number"], "value": _best_value(full)},
        }
    return out


def _other_arm(arm: dict[str, Any], median: dict[str, Any], pruning: dict[str, Any]):
    """Another pruner on the median study's points, against the same unpruned steps."""
    points = [r["params"] for r in median["rows"] if r["state"] in ("COMPLETE", "PRUNED")]
    steps = arm["pruning"]["steps_run"]
    return {
        "same_points": [r["params"] for r in arm["rows"]] == points,
        "counts": arm["counts"],
        "steps_with_pruning": steps,
        "steps_without": pruning["steps_without"],
        "saved_share": 1 - steps / pruning["steps_without"],
        "best": {"number": arm["best"]["number"], "value": _best_value(arm)},
        "best_without": pruning["best_without"],
    }


def _rss_by_process(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """RSS after each trial, per worker process: an interrupted trial (FAIL) ends one process
    and the re-run command starts the next."""
    runs: list[list[dict[str, Any]]] = [[]]
    for r in rows:
        if r["state"] == "FAIL":
            runs.append([])
        elif r["rss_mb"] is not None:
            runs[-1].append(r)
    return [
        {
            "trials": [r["number"] for r in run],
            "rss_mb": [r["rss_mb"] for r in run],
            "after_first": run[0]["rss_mb"],
            "after_second": run[1]["rss_mb"] if len(run) > 1 else None,
            "after_last": run[-1]["rss_mb"],
        }
        for run in runs
        if run
    ]


def _pruning_from_rerun(pruned: dict[str, Any], rerun: dict[str, Any]) -> dict[str, Any]:
    """The unpruned study: the median study's complete trials plus its pruned points run in
    full (`full`); the check trial must reproduce its complete value exactly."""
    again = {r["number"]: r for r in rerun["rows"]}
    counted = [r for r in pruned["rows"] if r["state"] in ("COMPLETE", "PRUNED")]
    checks = [r for r in rerun["rows"] if r["state_with_pruning"] == "COMPLETE"]
    values = {
        r["number"]: r["value"] if r["state"] == "COMPLETE" else again[r["number"]]["value"]
        for r in counted
    }
    # Unpruned, a trial runs its steps until the end or early stopping: a complete trial's
    # steps as it ran them, a pruned point's as its full re-run ran them.
    planned = sum(
        r["steps_run"] if r["state"] == "COMPLETE" else again[r["number"]]["steps_run"]
        for r in counted
    )
    best_without = max(values, key=values.get)
    return {
        "method": "pruned points re-run in full; complete trials reused (checked)",
        "check_trials": [
            {"number": c["number"], "value": c["value"], "value_in_study": c["value_with_pruning"]}
            for c in checks
        ],
        "check_exact": all(c["value"] == c["value_with_pruning"] for c in checks),
        "steps_with_pruning": pruned["pruning"]["steps_run"],
        "steps_without": planned,
        "saved_share": 1 - pruned["pruning"]["steps_run"] / planned,
        "values_without": values,
        "best_with": {"number": pruned["best"]["number"], "value": _best_value(pruned)},
        "best_without": {"number": best_without, "value": values[best_without]},
        "pruned_would_have_reached": {
            n: again[n]["value"] for n in again if again[n]["state_with_pruning"] == "PRUNED"
        },
    }


def _best_value(side: dict[str, Any]) -> float:
    return next(r["value"] for r in side["rows"] if r["number"] == side["best"]["number"])


def _load() -> dict[str, Any]:
    return json.loads(RESULT.read_text()) if RESULT.exists() else {}


def _save(data: dict[str, Any]) -> None:
    RESULT.write_text(json.dumps(data, indent=1) + "\n")


def show(data: dict[str, Any]) -> None:
    for name in ("search_median", "search_none"):
        side = data.get(name)
        if side is None:
            continue
        print(f"\n{name}: {side['counts']}, {side['wall_s']:.0f} s, pruning {side['pruning']}")
        print("| trial | state | val F1 | lr | warmup | wd | dropout | steps | s | RSS MB |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in side["rows"]:
            p = r["params"]
            print(
                f"| {r['number']} | {r['state']} | {r['value'] or float('nan'):.4f} | "
                f"{p['train.lr']:.2e} | {p['train.warmup_ratio']:.3f} | "
                f"{p['train.weight_decay']:.3f} | {p['model.dropout']:.3f} | "
                f"{r['steps_run']}/{r['steps_planned']} | {r['seconds']:.0f} | {r['rss_mb']} |"
            )
    if "comparison" in data:
        print(json.dumps(data["comparison"], indent=1))


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["default", "search", "full", "compare", "show"])
    parser.add_argument(
        "pruner", nargs="?", choices=["median", "hyperband", "none"], default="median"
    )
    args = parser.parse_args()
    data = _load()
    if args.what == "show":
        show(data)
        return
    if args.what == "compare":
        data["comparison"] = compare(data)
        _save(data)
        show(data)
        return
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True)
    meta = {
        "commit": commit.stdout.decode().strip(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.node(),
        "command": " ".join(["python", "benchmarks/tune_rt.py", *sys.argv[1:]]),
    }
    key = {"default": "default", "full": "full"}.get(args.what, f"search_{args.pruner}")
    spec = {"side": key, "worker": args.what, "pruner": args.pruner}
    if args.what == "search" and args.pruner != "median" and "search_median" in data:
        rows = data["search_median"]["rows"]
        spec["points"] = [r["params"] for r in rows if r["state"] in ("COMPLETE", "PRUNED")]
    if args.what == "full":
        rows = data["search_median"]["rows"]
        last = [r for r in rows if r["state"] == "COMPLETE"][-1]
        spec["rows"] = [last, *(r for r in rows if r["state"] == "PRUNED")]
    result = run_worker(str(Path(__file__).resolve()), spec)
    data[key] = {**meta, **result}
    _save(data)
    print(json.dumps({k: v for k, v in result.items() if k not in ("test", "best_test")})[:3000])


if __name__ == "__main__":
    if not ran_as_worker(sys.argv, lambda spec: WORKERS[spec["worker"]]):
        main()
