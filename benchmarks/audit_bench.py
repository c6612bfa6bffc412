"""The data audit, measured (issue #16).

    python benchmarks/audit_bench.py near       -> benchmarks/results/audit_near_rt.json
    python benchmarks/audit_bench.py flips      -> benchmarks/results/audit_flips.json
    python benchmarks/audit_bench.py scale [--sizes 100000 1000000] [--distinct 30000 100000]
                                                -> benchmarks/results/audit_scale.json
    python benchmarks/audit_bench.py index      -> benchmarks/results/audit_scale.json (`index`)
    python benchmarks/audit_bench.py finetuned  -> benchmarks/results/audit_flips_finetuned.json
    python benchmarks/audit_bench.py show       prints the tables of docs/audit.md

`near`: the bundled Rotten Tomatoes data prepared as a run prepares it (cleaned, exact duplicates
dropped, split 70/15/15 by film), plus 1,000 planted near-duplicates (`_planting.py`: 1-3 word
substitutions, insertions and deletions, at most one edited word per five, and reordered
clauses), each added to a random split with its source's label and film. Recall: the planted
(source, copy) pairs the audit reports, overall, per kind and per number of edits. Precision:
reported pairs that are planted, natural (found in the data before planting) or implied by both
(a copy and a natural near-duplicate of its source). Time per 10,000 texts of the cheap checks.
The choice of the default: the exact Jaccard of every planted pair for character 3-, 4- and
5-gram shingles (recall at each threshold without LSH), and for the default shingles the audit's
recall and the natural pairs at thresholds 0.4-0.8. Lists the natural near-duplicate pairs of
the whole data set (all splits pooled) between different films, with the default cleaning and
without its exact de-duplication.

`flips`: 5% of the labels of TREC (coarse) and Rotten Tomatoes flipped to another class
(3 seeds); the audit's default label-error check (`workflows.audit.find_label_errors`: TF-IDF +
logistic regression out-of-fold, cleanlab) over every split; precision of the k lowest-ranked
rows (k = the flips planted), and of what cleanlab flags. Rotten Tomatoes also with folds grouped
by film (the variant not taken).

`scale`: the cheap checks (duplicates, conflicts, odd texts: what a training run adds) on N short
texts in 70/15/15 splits, each size in a fresh process (peak RSS): `--sizes` Rotten Tomatoes
snippets sampled with replacement (`_common.short_texts`: ~12,700 distinct texts, the rest exact
repeats), `--distinct` texts of random Rotten Tomatoes words with the snippets' lengths (all
distinct: the near-duplicate search at its full cost).

`index`: the near-duplicate search alone on 30,000 distinct texts, with the audit's band index
(a numpy sort) and with datasketch's MinHashLSH (same signatures and bands): time and peak RSS.

`finetuned` (heavy: not run by the helper that wrote it; about 2 x 5 fine-tuning runs): the same
flipped TREC and Rotten Tomatoes data cross-validated with `textclass.cross_validate` (the demo
configs, 5 folds, into benchmarks/data/cv_flips_*), then the label errors from its out-of-fold
probabilities (`--oof`), precision at k over the training and validation rows it pooled.
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

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing
sys.path.insert(0, str(HERE))

from _common import RESULTS, ran_as_worker, run_worker, short_texts  # noqa: E402
from _planting import plant_flips, plant_near_duplicates  # noqa: E402

NEAR_FILE = RESULTS / "audit_near_rt.json"
FLIPS_FILE = RESULTS / "audit_flips.json"
SCALE_FILE = RESULTS / "audit_scale.json"
FINETUNED_FILE = RESULTS / "audit_flips_finetuned.json"
PLANTED = 1000
THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8)
FLIP_RATE = 0.05
FLIP_SEEDS = (0, 1, 2)
DATASETS = {"trec": "configs/trec.yaml", "rotten_tomatoes": "configs/rotten_tomatoes.yaml"}


def _commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True)
    return out.stdout.decode().strip()


def _meta(command: str) -> dict[str, Any]:
    return {
        "commit": _commit(),
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.node(),
        "cpus": __import__("os").cpu_count(),
        "command": command,
    }


def _write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def _config(name: str, overrides: list[str] | None = None):
    from textclass.config.load import load_config

    return load_config(ROOT / DATASETS[name], overrides or [])


# ---------------------------------------------------------------- (a) near-duplicates


def _prepared_rt(overrides: list[str] | None = None) -> dict[str, pd.DataFrame]:
    from textclass.workflows.train import prepare

    return prepare(_config("rotten_tomatoes", overrides), audit=False).splits


def _with_planted(splits: dict[str, pd.DataFrame], planted: list, seed: int):
    """The splits with each planted copy appended to a random split (70/15/15), and per copy
    its (split, row), its source's and how it was made."""
    pooled = pd.concat([f.assign(split=n, row=np.arange(len(f))) for n, f in splits.items()])
    pooled = pooled.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    targets = rng.choice(list(splits), size=len(planted), p=[0.7, 0.15, 0.15])
    added: dict[str, list[pd.Series]] = {name: [] for name in splits}
    copies = []
    for p, target in zip(planted, targets, strict=True):
        source = pooled.iloc[p.source]
        row = len(splits[target]) + len(added[target])
        added[target].append(source.drop(["split", "row"]).copy())
        added[target][-1]["text"] = p.text
        copies.append({"copy": (str(target), row), "source": (source["split"],
                       int(source["row"])), "kind": p.kind, "edits": p.edits})  # fmt: skip
    out = {
        name: pd.concat([frame, pd.DataFrame(added[name])], ignore_index=True)
        for name, frame in splits.items()
    }
    origin = {c["copy"]: c["source"] for c in copies}
    return out, origin, copies


def _reported(found) -> set[tuple[tuple[str, int], tuple[str, int]]]:
    rows = found.rows
    side = list(zip(rows["split"], rows["row"].astype(int), strict=True))
    return {frozenset((side[a], side[b])) for a, b in zip(found.pairs["a"], found.pairs["b"],
                                                          strict=True)}  # fmt: skip


def _recall(copies: list[dict], reported: set) -> dict[str, Any]:
    hit = [frozenset((c["copy"], c["source"])) in reported for c in copies]
    by = {}
    for key in ("kind", "edits"):
        for value in sorted({c[key] for c in copies}):
            chosen = [h for h, c in zip(hit, copies, strict=True) if c[key] == value]
            by[f"{key}={value}"] = {"planted": len(chosen), "recall": float(np.mean(chosen))}
    return {"planted": len(copies), "found": int(sum(hit)), "recall": float(np.mean(hit)),
            "by": by}  # fmt: skip


def _precision(reported: set, natural: set, origin: dict) -> dict[str, Any]:
    """A reported pair is expected when both rows have one origin, or their origins are a
    natural pair."""

    def root(side):
        return origin.get(side, side)

    expected = [
        len({root(x) for x in pair}) == 1 or frozenset(root(x) for x in pair) in natural
        for pair in reported
    ]
    return {"reported": len(reported), "expected": int(sum(expected)),
            "precision": float(np.mean(expected)) if expected else None}  # fmt: skip


def _shingle_sweep(copies: list[dict], splits: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Exact Jaccard of every planted pair for 3-, 4- and 5-gram shingles: the recall each
    threshold would allow (no LSH)."""
    from textclass.audit.texts import jaccard, normalise, shingles

    def text(side):
        split, row = side
        return normalise(splits[split]["text"].iat[row])

    out = {}
    for n in (3, 4, 5):
        sims = np.array(
            [jaccard(shingles(text(c["copy"]), n), shingles(text(c["source"]), n)) for c in copies]
        )
        out[f"{n}-grams"] = {f"{t:g}": float((sims >= t).mean()) for t in THRESHOLDS}
        out[f"{n}-grams"]["p01_similarity"] = float(np.percentile(sims, 1))
    return out


def near() -> dict[str, Any]:
    from textclass.audit import checks
    from textclass.audit import duplicates as dup

    splits = _prepared_rt()
    planted = plant_near_duplicates(
        [t for f in splits.values() for t in f["text"]], PLANTED, seed=0
    )
    augmented, origin, copies = _with_planted(splits, planted, seed=1)
    n_texts = sum(len(f) for f in augmented.values())
    natural_found = dup.find_duplicates(splits, 0.5)
    natural = _reported(natural_found)
    started = time.perf_counter()
    found = checks.cheap_checks(augmented, 0.5, "single_label")
    checks.record(found, augmented)
    seconds = time.perf_counter() - started
    reported = _reported(found.duplicates)
    sweep = {}
    for t in THRESHOLDS:
        at = dup.find_duplicates(augmented, t)
        natural_at = dup.find_duplicates(splits, t)
        sweep[f"{t:g}"] = {
            "recall": _recall(copies, _reported(at))["recall"],
            "natural_pairs": len(natural_at.pairs),
            "seconds": at.stats["seconds"],
        }
    return {
        "data": "rotten_tomatoes prepared as configs/rotten_tomatoes.yaml (cleaned, exact "
        "duplicates dropped, split by film), all splits",
        "texts_before_planting": sum(len(f) for f in splits.values()),
        "texts": n_texts,
        "threshold": 0.5,
        "settings": found.duplicates.settings,
        "stats": found.duplicates.stats,
        "recall": _recall(copies, reported),
        "precision": _precision(reported, natural, origin),
        "cheap_checks_seconds": round(seconds, 2),
        "seconds_per_10k_texts": round(seconds / n_texts * 10_000, 2),
        "threshold_sweep": sweep,
        "shingle_sweep": _shingle_sweep(copies, augmented),
        "natural": natural_pairs(),
    }


def natural_pairs() -> dict[str, Any]:
    """Near-duplicate pairs of the whole data set (all splits pooled) and those between
    different films, with the default cleaning and without its exact de-duplication."""
    from textclass.audit import checks
    from textclass.audit import duplicates as dup

    out = {}
    for name, overrides in (
        ("default_cleaning", []),
        ("without_exact_deduplication", ["data.cleaning.drop_duplicates=false"]),
    ):
        splits = _prepared_rt(overrides)
        pooled = {"train": pd.concat(list(splits.values()), ignore_index=True)}
        found = dup.find_duplicates(pooled, 0.5)
        pairs = checks.pair_records(found, checks.within_pairs(found), pooled, None)
        cross = [p for p in pairs if p["same_group"] is False]
        out[name] = {
            "texts": len(pooled["train"]),
            "pairs": len(pairs),
            "exact_pairs": sum(p["exact"] for p in pairs),
            "cross_film_pairs": len(cross),
            "cross_film_other_label": sum(not p["same_label"] for p in cross),
        }
        if name == "default_cleaning":
            out[name]["cross_film"] = [
                {"similarity": p["similarity"], "texts": [p["a"]["text"], p["b"]["text"]],
                 "films": [p["a"]["group"], p["b"]["group"]],
                 "labels": [p["a"]["label"], p["b"]["label"]]}
                for p in cross
            ]  # fmt: skip
    return out


# ---------------------------------------------------------------- (b) label flips


def _flipped_frame(name: str, seed: int) -> tuple[pd.DataFrame, set[str], list[str]]:
    """The bundled data (distinct texts) as text, label (and group), 5% of labels flipped;
    the flipped texts."""
    from textclass.data import datasets

    spec = datasets.get(name)
    raw = datasets.load(name).drop_duplicates(spec.text_column)
    frame = pd.DataFrame({"text": raw[spec.text_column], "label": raw[spec.label_column]})
    if spec.group_column:
        frame["group"] = raw[spec.group_column]
    frame = frame.reset_index(drop=True)
    labels, flipped = plant_flips(frame["label"].tolist(), FLIP_RATE, seed)
    return frame.assign(label=labels), set(frame["text"].iloc[flipped]), sorted(set(labels))


def _precision_at_k(texts: list[str], ranked: np.ndarray, flagged: np.ndarray, planted: set):
    in_data = [t in planted for t in texts]
    k = int(sum(in_data))
    top = [texts[i] in planted for i in ranked[:k]]
    hits = [texts[i] in planted for i in flagged]
    return {
        "rows": len(texts),
        "planted": k,
        "precision_at_k": float(np.mean(top)),
        "flagged": len(flagged),
        "flagged_precision": float(np.mean(hits)) if hits else None,
        "flagged_recall": float(sum(hits) / k),
    }


def flips_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One dataset and seed: the audit's default label-error check on the flipped data."""
    from textclass.audit import labels
    from textclass.data.clean import clean_texts
    from textclass.workflows.audit import find_label_errors, pooled_rows
    from textclass.workflows.train import prepare

    name, seed = spec["dataset"], spec["seed"]
    frame, planted, _ = _flipped_frame(name, seed)
    path = Path(spec["tmp"]) / f"{name}_{seed}.csv"
    frame.to_csv(path, index=False)
    extra = ["data.group_column=group"] if "group" in frame.columns else []
    cfg = _config(name, [f"data.train={path}", *extra])
    data = prepare(cfg, audit=False)
    planted = set(clean_texts(sorted(planted), cfg.data.cleaning))  # the texts as prepared
    started = time.perf_counter()
    variant = spec.get("variant")
    if variant:  # the variants not taken: folds grouped by film; logistic regression alone
        rows = pooled_rows(data, list(data.splits))
        grouped = variant == "grouped"
        models = labels.MODELS if grouped else ("logistic",)
        probs = labels.tfidf_oof(rows, data.labels, data.task, cfg.seed, grouped, models)
        f = labels.label_issues(rows, data.labels, data.task, probs, variant)
    else:
        errors = find_label_errors(cfg, data, None)
        rows, f = errors.frame, errors.found
    seconds = time.perf_counter() - started
    return {
        **_precision_at_k(rows["text"].tolist(), f.ranked, f.flagged, planted),
        "oof_accuracy": f.oof_accuracy,
        "seconds": round(seconds, 1),
        "source": f.source,
    }


def flips(script: str) -> dict[str, Any]:
    import tempfile

    out: dict[str, Any] = {"rate": FLIP_RATE, "seeds": list(FLIP_SEEDS), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in DATASETS:
            for seed in FLIP_SEEDS:
                for variant in (None, "logistic regression alone"):
                    key = f"{name} seed {seed}" + (f", {variant}" if variant else "")
                    spec = {"worker": "flips", "side": key.replace(" ", "_"), "dataset": name,
                            "seed": seed, "tmp": tmp, "variant": variant}  # fmt: skip
                    out["runs"][key] = run_worker(script, spec)
        for seed in FLIP_SEEDS:
            key = f"rotten_tomatoes seed {seed}, grouped"
            spec = {"worker": "flips", "side": key.replace(" ", "_"), "dataset": "rotten_tomatoes",
                    "seed": seed, "tmp": tmp, "variant": "grouped"}  # fmt: skip
            out["runs"][key] = run_worker(script, spec)
    out["mean_precision_at_k"] = {
        f"{name}{suffix}": float(np.mean([out["runs"][f"{name} seed {s}{suffix}"]["precision_at_k"]
                                          for s in FLIP_SEEDS]))
        for name in DATASETS
        for suffix in ("", ", logistic regression alone", ", grouped")
        if f"{name} seed 0{suffix}" in out["runs"]
    }  # fmt: skip
    out["floor_plain_tfidf_lr"] = {"trec": 0.71, "rotten_tomatoes": 0.40}  # issue #16
    return out


# ---------------------------------------------------------------- (c) scale


def _random_word_texts(n: int, seed: int) -> list[str]:
    """`n` distinct texts of random Rotten Tomatoes words, with the snippets' word counts."""
    from textclass.data import datasets

    snippets = datasets.load("rotten_tomatoes")["text"]
    words = [w for t in snippets for w in t.split()]
    lengths = snippets.str.split().str.len().to_numpy()
    rng = np.random.default_rng(seed)
    return [
        " ".join(words[k] for k in rng.integers(len(words), size=size))
        for size in rng.choice(lengths, size=n)
    ]


def scale_worker(spec: dict[str, Any]) -> dict[str, Any]:
    from textclass.audit import checks

    n, seed = spec["n"], 0
    if spec["kind"] == "sampled":
        texts, labels = short_texts(n, seed)
    else:
        texts = _random_word_texts(n, seed)
        labels = list(np.random.default_rng(seed).choice(["fresh", "rotten"], size=n))
    frame = pd.DataFrame({"text": texts, "label": labels})
    cut = np.random.default_rng(seed).choice(3, size=n, p=[0.7, 0.15, 0.15])
    splits = {name: frame[cut == k].reset_index(drop=True)
              for k, name in enumerate(("train", "validation", "test"))}  # fmt: skip
    started = time.perf_counter()
    found = checks.cheap_checks(splits, 0.5, "single_label")
    record = checks.record(found, splits)
    seconds = time.perf_counter() - started
    return {
        "kind": spec["kind"],
        "texts": n,
        "seconds": round(seconds, 2),
        "stats": record["stats"],
        "leakage_train_rows": record["leakage"]["train_rows"],
        "redundant_train_rows": record["redundant_train_rows"],
    }


def index_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """The near-duplicate search alone on distinct texts, with the band index the audit uses
    (a numpy sort) or with datasketch's MinHashLSH (its insert and query, same bands)."""
    import zlib

    from datasketch import MinHash, MinHashLSH

    from textclass.audit import duplicates as dup
    from textclass.audit.texts import normalise, shingles

    texts = [normalise(t) for t in _random_word_texts(spec["n"], 0)]
    started = time.perf_counter()
    if spec["index"] == "sort":
        found = dup.near_pairs(texts, 0.5)
        candidates, pairs = found.candidates, len(found.pairs)
    else:
        bands, rows = dup.lsh_bands(0.5)
        index = MinHashLSH(num_perm=dup.NUM_PERM, params=(bands, rows))
        encoded = ([s.encode("utf-8") for s in shingles(t)] for t in texts)
        minhashes = MinHash.generator(
            encoded, num_perm=dup.NUM_PERM, seed=dup.SEED, hashfunc=zlib.crc32
        )
        candidates = 0
        for i, m in enumerate(minhashes):
            candidates += len(index.query(m))
            index.insert(i, m, check_duplication=False)
        pairs = None  # candidates only: verification is the same in both
    return {"index": spec["index"], "texts": len(texts), "candidates": candidates,
            "pairs": pairs, "seconds": round(time.perf_counter() - started, 2)}  # fmt: skip


def scale(script: str, sizes: list[int], distinct: list[int], meta: dict) -> dict[str, Any]:
    """Each size in a fresh process; runs of earlier commands are kept (each with its own
    command and commit)."""
    data = json.loads(SCALE_FILE.read_text()) if SCALE_FILE.is_file() else {"runs": {}}
    for kind, values in (("sampled", sizes), ("distinct", distinct)):
        for n in values:
            spec = {"worker": "scale", "side": f"{kind}_{n}", "kind": kind, "n": n}
            data["runs"][f"{kind} {n}"] = {**run_worker(script, spec, timeout=1800), **meta}
            _write(SCALE_FILE, data)
    return data


def index(script: str, n: int, meta: dict) -> dict[str, Any]:
    """The band index of the audit against datasketch's MinHashLSH on `n` distinct texts."""
    data = json.loads(SCALE_FILE.read_text()) if SCALE_FILE.is_file() else {"runs": {}}
    for name in ("sort", "datasketch"):
        spec = {"worker": "index", "side": f"index_{name}", "index": name, "n": n}
        data.setdefault("index", {})[f"{name} {n}"] = {**run_worker(script, spec), **meta}
        _write(SCALE_FILE, data)
    return data


# ---------------------------------------------------------------- fine-tuned out-of-fold


def finetuned_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Cross-validate the flipped data (seed 0) with the demo config, then the label errors
    from its out-of-fold probabilities. Heavy: 5 fine-tuning runs per dataset."""
    from textclass.workflows.audit import find_label_errors
    from textclass.workflows.crossval import cross_validate
    from textclass.workflows.train import prepare

    name = spec["dataset"]
    frame, planted, _ = _flipped_frame(name, 0)
    path = HERE / "data" / f"flips_{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    extra = ["data.group_column=group"] if "group" in frame.columns else []
    overrides = [f"data.train={path}", *extra]
    cv_dir = HERE / "data" / f"cv_flips_{name}"
    started = time.perf_counter()
    cross_validate(str(ROOT / DATASETS[name]), overrides, folds=5, output=cv_dir)
    cfg = _config(name, overrides)
    errors = find_label_errors(cfg, prepare(cfg, audit=False), cv_dir)
    f = errors.found
    return {
        **_precision_at_k(errors.frame["text"].tolist(), f.ranked, f.flagged, planted),
        "oof_accuracy": f.oof_accuracy,
        "cv_and_audit_seconds": round(time.perf_counter() - started, 1),
        "cv_dir": str(cv_dir.relative_to(ROOT)),
    }


def finetuned(script: str) -> dict[str, Any]:
    return {
        "rate": FLIP_RATE,
        "seed": 0,
        "runs": {name: run_worker(script, {"worker": "finetuned", "side": name,
                                           "dataset": name}) for name in DATASETS},
    }  # fmt: skip


WORKERS = {
    "flips": flips_worker,
    "scale": scale_worker,
    "index": index_worker,
    "finetuned": finetuned_worker,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["near", "flips", "scale", "index", "finetuned", "show"])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    parser.add_argument("--distinct", type=int, nargs="*", default=[30_000, 100_000])
    args = parser.parse_args()
    script = str(Path(__file__).resolve())
    command = "python benchmarks/audit_bench.py " + " ".join(sys.argv[1:])
    if args.what == "near":
        _write(NEAR_FILE, {**_meta(command), **near()})
    elif args.what == "flips":
        _write(FLIPS_FILE, {**_meta(command), **flips(script)})
    elif args.what == "scale":
        _write(SCALE_FILE, scale(script, args.sizes, args.distinct, _meta(command)))
    elif args.what == "index":
        _write(SCALE_FILE, index(script, 30_000, _meta(command)))
    elif args.what == "finetuned":
        _write(FINETUNED_FILE, {**_meta(command), **finetuned(script)})
    else:
        show()


def show() -> None:
    """The tables of docs/audit.md, from the results files."""
    if NEAR_FILE.is_file():
        r = json.loads(NEAR_FILE.read_text())
        rec, prec = r["recall"], r["precision"]
        print(f"near ({r['command']}, {r['commit'][:8]}): {r['texts']:,} texts")
        print(f"recall {rec['recall']:.4f} ({rec['found']}/{rec['planted']}), precision "
              f"{prec['precision']:.4f} ({prec['expected']}/{prec['reported']}), "
              f"{r['seconds_per_10k_texts']} s per 10k texts")  # fmt: skip
        print("| planted | n | recall |\n|---|---|---|")
        for key, v in rec["by"].items():
            print(f"| {key} | {v['planted']} | {v['recall']:.3f} |")
        print("| threshold | recall (audit) | natural pairs | " + " | ".join(
            r["shingle_sweep"]) + " |")  # fmt: skip
        for t, v in r["threshold_sweep"].items():
            exact = " | ".join(f"{s[t]:.3f}" for s in r["shingle_sweep"].values())
            print(f"| {t} | {v['recall']:.3f} | {v['natural_pairs']} | {exact} |")
        for name, v in r["natural"].items():
            print(f"natural, {name}: {v}" if name != "default_cleaning" else
                  f"natural, {name}: " + json.dumps({k: x for k, x in v.items()
                                                     if k != "cross_film"}))  # fmt: skip
        for p in r["natural"]["default_cleaning"]["cross_film"]:
            print(f"| {p['similarity']:.2f} | {p['texts'][0]} | {p['texts'][1]} | "
                  f"{' / '.join(p['labels'])} |")  # fmt: skip
    for path in (FLIPS_FILE, FINETUNED_FILE, SCALE_FILE):
        if path.is_file():
            print(f"\n{path.name}:")
            print(json.dumps(json.loads(path.read_text()), indent=1)[:4000])


if __name__ == "__main__":
    if not ran_as_worker(sys.argv, lambda spec: WORKERS[spec["worker"]]):
        main()
