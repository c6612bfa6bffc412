"""Cross-validation, ensembles, weight averaging and temperature scaling, measured (issue #14).

    python benchmarks/combine.py cv          -> benchmarks/results/crossval_rt.json
    python benchmarks/combine.py ensembles   -> benchmarks/results/ensembles_rt.json
    python benchmarks/combine.py average [--seeds 42 43 44]
                                             -> benchmarks/results/averaging_rt.json
    python benchmarks/combine.py show        prints the tables of docs/crossval.md

`cv`: `textclass.cross_validate` on the demo config (configs/rotten_tomatoes.yaml: MiniLM-L6,
Rotten Tomatoes, grouped by film) with 5 folds into benchmarks/data/cv_rt (git-ignored; a
re-run continues it). Records per-fold and mean ± std accuracy and macro-F1, the pooled
out-of-fold metrics with intervals, and checks the out-of-fold invariant on the real run
(every pooled row exactly once, no film in two folds, each fold's inner validation disjoint
from its held-out fold).

`ensembles`: the 5 fold models combined by soft voting and by stacking (`build_ensemble` on
the CV directory), scored on the test split (never used by the CV) against the best single fold
model (best on its held-out fold, chosen without the test split) and against every fold model:
paired bootstrap on the same test rows (1000 resamples, 95%).

`average`: the demo config with `train.average=none` and `train.average=swa`, both evaluating
every 95 steps (SWA's snapshots; 3 after `train.average_start` 0.75 of the 855 steps), on
several seeds (the seed also draws the split and batch order), SWA against plain on the same
test rows (paired bootstrap); every run records temperature scaling: validation and test ECE
before and after. (`demo seed 42` in the file is the demo config itself, measured first; SWA
with one evaluation per epoch had a single snapshot and was skipped, as recorded.)

Every run is its own fresh process (`_common.run_worker`); results are written after each
step. Run alone on the machine.
"""

from __future__ import annotations

import argparse
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
CV_DIR = HERE / "data" / "cv_rt"
FOLDS = 5
CV_FILE = RESULTS / "crossval_rt.json"
ENSEMBLE_FILE = RESULTS / "ensembles_rt.json"
AVERAGE_FILE = RESULTS / "averaging_rt.json"
EVERY = 95  # train.eval_steps of the averaging comparison


def _commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True)
    return out.stdout.decode().strip()


def _machine() -> dict[str, Any]:
    import torch

    return {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}


# ---------------------------------------------------------------- cross-validation


def cv_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from textclass.workflows import rundir
    from textclass.workflows.crossval import cross_validate

    started = time.perf_counter()
    result = cross_validate(str(CONFIG), [], folds=FOLDS, output=CV_DIR)
    wall = time.perf_counter() - started
    s, oof = result.summary, result.oof
    films = oof.groupby("group")["fold"].nunique()
    inner_disjoint = []
    for k, fold_dir in enumerate(result.fold_dirs, start=1):
        inner = rundir.read_predictions_file(fold_dir / rundir.PREDICTIONS["validation"])
        inner_disjoint.append(not set(inner["text"]) & set(oof.loc[oof.fold == k, "text"]))
    keys = ("accuracy", "f1_macro")
    return {
        "command": "python benchmarks/combine.py cv",
        "config": str(CONFIG.relative_to(ROOT)),
        "folds": FOLDS,
        "rows": s["rows"],
        "test_rows": s["test_rows"],
        "wall_s_this_call": round(wall, 1),
        "train_seconds": [f["train_seconds"] for f in s["per_fold"]],
        "per_fold": [
            {
                "fold": f["fold"],
                "sizes": f["sizes"],
                "selected_step": f["selected_step"],
                "held_out": {k: f["held_out"][k] for k in keys},
                "test_set": {k: f["test_set"][k] for k in keys},
            }
            for f in s["per_fold"]
        ],
        "mean": {k: s["mean"][k] for k in keys},
        "std": {k: s["std"][k] for k in keys},
        "pooled": {k: s["pooled"][k] for k in keys},
        "pooled_intervals": {k: s["pooled"]["intervals"][k] for k in keys},
        "test_set": {
            "mean": {k: s["test_set"]["mean"][k] for k in keys},
            "std": {k: s["test_set"]["std"][k] for k in keys},
        },
        "invariants": {
            "every_row_once": bool(
                np.array_equal(oof["row"].to_numpy(), np.arange(s["rows"]))
                and oof["fold"].between(1, FOLDS).all()
            ),
            "films": len(films),
            "films_in_two_folds": int((films > 1).sum()),
            "inner_validation_disjoint_from_held_out": all(inner_disjoint),
            "oof_rows": len(oof),
            "oof_texts_unique_rows": int(pd.Series(oof["row"]).nunique()),
        },
    }


# ---------------------------------------------------------------- ensembles


def ensembles_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from textclass.config.tasks import SINGLE_LABEL
    from textclass.evaluation.baseline import compare
    from textclass.inference.classifier import Classifier
    from textclass.workflows import rundir
    from textclass.workflows.ensemble import build_ensemble

    cv = rundir.read_json(CV_DIR / rundir.CV_SUMMARY)
    labels, metric = cv["labels"], cv["metric"]
    first = CV_DIR / "fold_1"
    test = rundir.read_predictions_file(first / rundir.CV_TEST_PREDICTIONS)
    texts = test["text"].tolist()
    y = np.array([labels.index(g) for g in test["gold"]])
    members = {}
    for f in cv["per_fold"]:
        frame = rundir.read_predictions_file(CV_DIR / f["run_dir"] / rundir.CV_TEST_PREDICTIONS)
        members[f["fold"]] = frame[[f"prob_{label}" for label in labels]].to_numpy()
    best = max(cv["per_fold"], key=lambda f: f["held_out"][metric])["fold"]
    out: dict[str, Any] = {
        "command": "python benchmarks/combine.py ensembles",
        "metric": metric,
        "test_rows": len(y),
        "best_fold_by_held_out": best,
        "members": {k: _scores(y, p) for k, p in members.items()},
    }
    for method in ("soft", "stacking"):
        target = HERE / "data" / f"ensemble_rt_{method}"
        started = time.perf_counter()
        build_ensemble([CV_DIR], method=method, output=target, overwrite=True)
        clf = Classifier.load(target)
        probs = clf.predict_proba(texts, clean=False)
        seconds = time.perf_counter() - started
        vs = {
            k: compare(SINGLE_LABEL, y, probs, p, labels, metric, seed=0)
            for k, p in members.items()
        }
        out[method] = {
            **_scores(y, probs),
            "build_and_predict_s": round(seconds, 1),
            "vs_best_fold": vs[best],
            "vs_each_fold": {
                k: {x: c[x] for x in ("difference", "low", "high", "verdict")}
                for k, c in vs.items()
            },
        }
    return out


def _scores(y, probs) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    from textclass.evaluation.calibration import calibration

    pred = probs.argmax(axis=1)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "f1_macro": float(f1_score(y, pred, average="macro")),
        "ece": calibration(probs, y)["ece"],
    }


# ---------------------------------------------------------------- weight averaging


def average_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from textclass.workflows import rundir
    from textclass.workflows.train import train

    out_dir = HERE / "data" / "average_runs" / spec["side"]
    started = time.perf_counter()
    result = train(str(CONFIG), spec["overrides"], output=out_dir, overwrite=True)
    wall = time.perf_counter() - started
    test = rundir.read_predictions_file(result.run_dir / rundir.PREDICTIONS["test"])
    metrics = result.metrics["test"]
    return {
        "overrides": spec["overrides"],
        "wall_s": round(wall, 1),
        "history_tail": result.history[-3:],
        "test": {k: metrics.get(k) for k in ("accuracy", "f1_macro", "log_loss", "ece")},
        "validation": {
            k: result.metrics["validation"].get(k) for k in ("accuracy", "f1_macro", "ece")
        },
        "calibration": result.metrics.get("calibration"),
        "average": rundir.read_json(result.run_dir / rundir.HISTORY)
        .get("extras", {})
        .get("average"),
        "probabilities": test[[c for c in test.columns if c.startswith("prob_")]]
        .to_numpy()
        .round(6)
        .tolist(),
        "gold": test["gold"].tolist(),
        "labels": [c[5:] for c in test.columns if c.startswith("prob_")],
        "texts_sha": __import__("hashlib").sha256("\n".join(test["text"]).encode()).hexdigest(),
        "run_dir": str(result.run_dir),
        "np": np.__version__,
    }


WORKERS = {"cv": cv_worker, "ensembles": ensembles_worker, "average": average_worker}


def _write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["cv", "ensembles", "average", "show"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    args = parser.parse_args()
    script = str(Path(__file__).resolve())
    meta = {"commit": _commit(), "date": time.strftime("%Y-%m-%d"), "machine": platform.node()}
    if args.what in ("cv", "ensembles"):
        result = run_worker(script, {"side": args.what, "worker": args.what})
        target = CV_FILE if args.what == "cv" else ENSEMBLE_FILE
        _write(target, {**meta, **result})
        print(json.dumps(result, indent=1)[:3000])
    elif args.what == "average":
        average(script, args.seeds, meta)
    else:
        show()


def average(script: str, seeds: list[int], meta: dict[str, Any]) -> None:
    """Plain and SWA alternately per seed; the comparison once both of a seed are in."""
    data = json.loads(AVERAGE_FILE.read_text()) if AVERAGE_FILE.is_file() else {"runs": {}}
    data.update(meta)
    data["command"] = "python benchmarks/combine.py average --seeds " + " ".join(map(str, seeds))
    for seed in seeds:
        for name, setting in (("plain", "none"), ("swa", "swa")):
            key = f"{name} seed {seed}"
            if key in data["runs"]:
                continue
            # Evaluations (the SWA snapshots) every 95 of the 855 steps, on both sides: with
            # one evaluation per epoch only the last one falls after average_start (0.75).
            overrides = [f"seed={seed}", f"train.average={setting}", f"train.eval_steps={EVERY}"]
            spec = {"side": key.replace(" ", "_"), "worker": "average", "overrides": overrides}
            data["runs"][key] = run_worker(script, spec)
            _write(AVERAGE_FILE, data)
    data["comparisons"] = compare_average(data["runs"], seeds)
    _write(AVERAGE_FILE, data)
    print(json.dumps(data["comparisons"], indent=1))


def compare_average(runs: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
    """Per seed, SWA - plain on the same test rows (`_common.paired_on_test`)."""
    out = {}
    for seed in seeds:
        plain, swa = runs.get(f"plain seed {seed}"), runs.get(f"swa seed {seed}")
        if plain and swa and (paired := paired_on_test(swa, plain, seed=seed)) is not None:
            out[f"seed {seed}"] = paired
    return out


def _ci(c: dict[str, Any]) -> str:
    return f"{c['difference']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}] ({c['verdict']})"


def show() -> None:
    """The markdown tables of docs/crossval.md, from the results files."""
    if CV_FILE.is_file():
        cv = json.loads(CV_FILE.read_text())
        print(f"CV ({cv['command']}): {cv['rows']} rows, {cv['folds']} folds, {cv['invariants']}")
        print(
            "| fold | train | inner val | held out | held-out acc | held-out macro-F1 "
            "| test macro-F1 |"
        )
        print("|---|---|---|---|---|---|---|")
        for f in cv["per_fold"]:
            z, h, t = f["sizes"], f["held_out"], f["test_set"]
            print(
                f"| {f['fold']} | {z['train']} | {z['validation']} | {z['test']} | "
                f"{h['accuracy']:.4f} | {h['f1_macro']:.4f} | {t['f1_macro']:.4f} |"
            )
        m, sd, pooled, iv = cv["mean"], cv["std"], cv["pooled"], cv["pooled_intervals"]
        for k in ("accuracy", "f1_macro"):
            print(
                f"{k}: mean {m[k]:.4f} ± {sd[k]:.4f}; pooled {pooled[k]:.4f} "
                f"[{iv[k][0]:.4f}, {iv[k][1]:.4f}]; test {cv['test_set']['mean'][k]:.4f} ± "
                f"{cv['test_set']['std'][k]:.4f}"
            )
    if ENSEMBLE_FILE.is_file():
        e = json.loads(ENSEMBLE_FILE.read_text())
        best = e["best_fold_by_held_out"]
        print(f"\nensembles ({e['command']}), best fold by held-out score: {best}")
        print("| model | test accuracy | test macro-F1 | ECE | macro-F1 vs best fold |")
        print("|---|---|---|---|---|")
        for k, sc in e["members"].items():
            print(f"| fold {k} | {sc['accuracy']:.4f} | {sc['f1_macro']:.4f} | {sc['ece']:.4f} | |")
        for method in ("soft", "stacking"):
            r = e[method]
            print(
                f"| {method} | {r['accuracy']:.4f} | {r['f1_macro']:.4f} | {r['ece']:.4f} | "
                f"{_ci(r['vs_best_fold'])} |"
            )
    if AVERAGE_FILE.is_file():
        a = json.loads(AVERAGE_FILE.read_text())
        print(f"\naveraging and calibration ({a['command']})")
        print(
            "| run | test acc | test macro-F1 | val macro-F1 (best single) | T "
            "| test ECE before -> after |"
        )
        print("|---|---|---|---|---|---|")
        for name, r in a["runs"].items():
            cal, avg = r.get("calibration") or {}, r.get("average") or {}
            best = (avg.get("best_single") or {}).get("value") if avg else None
            ece = (cal.get("splits") or {}).get("test") or {}
            print(
                f"| {name} | {r['test']['accuracy']:.4f} | {r['test']['f1_macro']:.4f} | "
                f"{r['validation']['f1_macro']:.4f} ({best}) | {cal.get('temperature')} | "
                f"{ece.get('before', {}).get('ece')} -> {ece.get('after', {}).get('ece')} |"
            )
        for seed, c in a.get("comparisons", {}).items():
            print(
                f"SWA - plain, {seed}: macro-F1 {_ci(c['f1_macro'])}; accuracy {_ci(c['accuracy'])}"
            )


if __name__ == "__main__":
    if not ran_as_worker(sys.argv, lambda spec: WORKERS[spec["worker"]]):
        main()
