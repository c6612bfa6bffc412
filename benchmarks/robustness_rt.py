"""Robustness of the demo model with and without augmentation, measured (issue #16).

    python benchmarks/robustness_rt.py run [--seeds 42 43 44]
                                   -> benchmarks/results/robustness_rt.json
    python benchmarks/robustness_rt.py show   prints the tables of docs/robustness.md

`run`: the demo config (configs/rotten_tomatoes.yaml: MiniLM-L6, Rotten Tomatoes, grouped by
film) trained per seed twice: plain, and with `train.augment` (the robustness perturbations
that keep the meaning, p=0.3). Every run measures its test split as every run does
(`eval.robustness`: each perturbation's share of texts changed, flip rates among the changed
texts and over all texts with 95% bootstrap intervals, accuracy before and after with the paired
interval, seconds taken) and records how many training texts augmentation perturbed. Per seed,
augmented against plain on the same test rows: accuracy and macro-F1 by paired bootstrap
(`evaluation.baseline.compare`), and per perturbation the flip rates side by side.

Every run is its own fresh process (`_common.run_worker`); the results file is written after
each run and a re-run skips the runs already in it. Run alone on the machine. For a quick
check of the script itself, e.g.:

    python benchmarks/robustness_rt.py run --seeds 42 --output /tmp/rob.json \\
        --runs /tmp/rob_runs --set model.num_layers=1 data.max_samples=300 train.max_steps=5
"""

from __future__ import annotations

import argparse
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
RESULTS_FILE = RESULTS / "robustness_rt.json"
RUNS = HERE / "data" / "robustness_runs"
AUGMENT = ["typo", "case", "punctuation", "whitespace", "contractions", "append"]
P = 0.3
KEEP = (
    "changed_share", "model_input_changed", "flips", "flip_rate", "flip_rate_interval",
    "flip_rate_changed", "flip_rate_changed_interval", "metric", "original", "perturbed",
    "difference", "interval", "flipped_label_agreement", "flipped_label_agreement_interval",
    "seconds",
)  # fmt: skip


def _commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True)
    return out.stdout.decode().strip()


# ---------------------------------------------------------------- one run (a worker process)


def run_worker_fn(spec: dict[str, Any]) -> dict[str, Any]:
    """Train the demo config with `spec["overrides"]`; what the run measured."""
    from textclass.workflows import rundir
    from textclass.workflows.train import train

    started = time.perf_counter()
    result = train(str(CONFIG), spec["overrides"], output=spec["run_dir"], overwrite=True)
    wall = time.perf_counter() - started
    run = result.run_dir
    robustness = rundir.read_json(run / rundir.ROBUSTNESS)
    history = rundir.read_json(run / rundir.HISTORY)
    test = rundir.read_predictions_file(run / rundir.PREDICTIONS["test"])
    labels = [c[5:] for c in test.columns if c.startswith("prob_")]
    checks = {**robustness["perturbations"], **robustness["expected_flip"]}
    return {
        "overrides": spec["overrides"],
        "wall_s": round(wall, 1),
        "train_seconds": round(history["train_seconds"], 1),
        "test": {k: result.metrics["test"].get(k) for k in ("accuracy", "f1_macro", "n")},
        "robustness": {
            "rows": robustness["rows"],
            "seed": robustness["seed"],
            "seconds": robustness["seconds"],
            "skipped": robustness["skipped"],
            "checks": {name: {k: r[k] for k in KEEP if k in r} for name, r in checks.items()},
        },
        "augment": history.get("extras", {}).get("augment"),
        "probabilities": test[[f"prob_{x}" for x in labels]].to_numpy().round(6).tolist(),
        "gold": test["gold"].tolist(),
        "labels": labels,
        "texts_sha": hashlib.sha256("\n".join(test["text"]).encode()).hexdigest(),
        "run_dir": str(run),
    }


# ---------------------------------------------------------------- the coordinator


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def measure(args: argparse.Namespace, script: str) -> None:
    """Plain and augmented alternately per seed; the comparisons once both of a seed are in."""
    target = Path(args.output)
    data = json.loads(target.read_text()) if target.is_file() else {"runs": {}}
    augment = f"train.augment.perturbations=[{', '.join(args.augment)}]"
    data.update(
        commit=_commit(),
        date=time.strftime("%Y-%m-%d"),
        machine=platform.node(),
        command="python benchmarks/robustness_rt.py " + " ".join(sys.argv[1:]),
        config=str(CONFIG.relative_to(ROOT)),
        extra_overrides=args.set,
        augment={"perturbations": args.augment, "p": args.p},
    )
    for seed in args.seeds:
        for side, extra in (("plain", []), ("augmented", [augment, f"train.augment.p={args.p}"])):
            key = f"{side} seed {seed}"
            if key in data["runs"]:
                continue
            overrides = [f"seed={seed}", *args.set, *extra]
            run_dir = str(Path(args.runs) / key.replace(" ", "_"))
            spec = {"side": key, "worker": "run", "overrides": overrides, "run_dir": run_dir}
            data["runs"][key] = run_worker(script, spec)
            _write(target, data)
    data["comparisons"] = compare_sides(data["runs"], args.seeds)
    _write(target, data)
    show(target)


def compare_sides(runs: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
    """Per seed, augmented - plain on the same test rows: accuracy and macro-F1 (paired
    bootstrap, `_common.paired_on_test`), and each check's flip rates side by side."""
    out = {}
    for seed in seeds:
        plain, aug = runs.get(f"plain seed {seed}"), runs.get(f"augmented seed {seed}")
        if not (plain and aug) or (paired := paired_on_test(aug, plain, seed=seed)) is None:
            continue
        flips = {
            name: {
                "plain": r.get("flip_rate"),
                "augmented": aug["robustness"]["checks"].get(name, {}).get("flip_rate"),
            }
            for name, r in plain["robustness"]["checks"].items()
        }
        out[f"seed {seed}"] = {**paired, "flip_rates": flips}
    return out


def _pct(value: float | None, interval: list[float] | None = None) -> str:
    if value is None:
        return "n/a"
    shown = f"{100 * value:.1f}%"
    return f"{shown} [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]" if interval else shown


def show(path: Path = RESULTS_FILE) -> None:
    """The tables of docs/robustness.md, from the results file."""
    data = json.loads(Path(path).read_text())
    print(f"{data['command']} (commit {data['commit'][:10]}, {data['date']})\n")
    runs = data["runs"]
    names = list(dict.fromkeys(n for r in runs.values() for n in r["robustness"]["checks"]))
    print("| run | test accuracy | macro-F1 | " + " | ".join(f"{n} flips" for n in names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for key, r in runs.items():
        checks = r["robustness"]["checks"]
        cells = [
            _pct(checks[n]["flip_rate"], checks[n]["flip_rate_interval"]) if n in checks else ""
            for n in names
        ]
        test = r["test"]
        print(f"| {key} | {test['accuracy']:.4f} | {test['f1_macro']:.4f} | {' | '.join(cells)} |")
    print()
    per_check(runs, names)
    print()
    for key, r in runs.items():
        aug = r.get("augment") or {}
        changed = [e["changed"] for e in aug.get("epochs", {}).values()]
        seconds = r["robustness"]["seconds"]
        line = f"{key}: robustness checks {seconds:.1f} s, training {r['train_seconds']:.0f} s"
        print(line + (f"; augmentation perturbed {changed} texts per epoch" if changed else ""))
    for seed, c in data.get("comparisons", {}).items():
        for metric in ("accuracy", "f1_macro"):
            d = c[metric]
            print(
                f"augmented - plain, {seed}, {metric}: {d['difference']:+.4f} "
                f"[{d['low']:+.4f}, {d['high']:+.4f}] ({d['verdict']})"
            )


def per_check(runs: dict[str, Any], names: list[str]) -> None:
    """Per check, the mean over seeds of each side: flips over all texts, among the changed
    ones, and the accuracy change (expected-flip checks: flips only)."""

    def mean(side: str, name: str, key: str) -> float | None:
        values = [
            r["robustness"]["checks"][name].get(key)
            for k, r in runs.items()
            if k.startswith(side) and name in r["robustness"]["checks"]
        ]
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    print("| check | texts changed | flips, plain | flips, augmented | flips among changed, "
          "plain | augmented | accuracy change, plain | augmented |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        change = [mean(side, name, "difference") for side in ("plain", "augmented")]
        print(
            f"| {name} | {_pct(mean('plain', name, 'changed_share'))} | "
            f"{_pct(mean('plain', name, 'flip_rate'))} | "
            f"{_pct(mean('augmented', name, 'flip_rate'))} | "
            f"{_pct(mean('plain', name, 'flip_rate_changed'))} | "
            f"{_pct(mean('augmented', name, 'flip_rate_changed'))} | "
            + " | ".join(f"{c:+.4f}" if c is not None else "n/a" for c in change)
            + " |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["run", "show"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--augment", nargs="+", default=AUGMENT, help="train.augment's list")
    parser.add_argument("--p", type=float, default=P, help="train.augment.p")
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides for every run")
    parser.add_argument("--output", default=str(RESULTS_FILE), help="the results file")
    parser.add_argument("--runs", default=str(RUNS), help="where the run directories go")
    args = parser.parse_args()
    if args.what == "show":
        show(Path(args.output))
    else:
        measure(args, str(Path(__file__).resolve()))


if __name__ == "__main__":
    if not ran_as_worker(sys.argv, lambda spec: run_worker_fn):
        main()
