"""Baselines for a regression config (default configs/vader.yaml) on textclass's own split.

    python benchmarks/regression_baselines.py [CONFIG] [--model-predictions PREDICTIONS_CSV]

Reproduces the train/validation/test split a `textclass train CONFIG` run uses (it calls
`textclass.data.prepare.prepare_data(cfg.data, cfg.seed)`, so the texts are the cleaned ones the
model sees), then fits on the training split:

* `mean`: predicts the training mean for every text (R² about 0, no correlation);
* `tfidf_ridge`: TF-IDF word 1-2-grams (lowercased) + char 2-5-grams (case kept: VADER's raters
  score "GREAT" above "great"), both sublinear tf, min_df 2, into scikit-learn `Ridge`; alpha is
  the one of a small grid with the lowest validation RMSE, the model is fitted on train only
  (as the network is: validation only selects).

It reports test RMSE, MAE, R², Pearson and Spearman for each, with 95% percentile bootstrap
intervals (1000 resamples of the test rows, seeded; the same resamples for every predictor).
`--model-predictions` reads a textclass run's predictions.csv (columns text, gold, predicted) for
the same test rows, adds the model's row, and a paired bootstrap of the differences
model - ridge in RMSE and Spearman. Writes JSON (default
benchmarks/results/regression_vader.json) and prints a table. About a minute on 2 CPU cores
(mostly building the char n-grams).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy
import sklearn
from scipy import sparse
from scipy.stats import pearsonr, spearmanr
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing

from textclass.config.load import load_config  # noqa: E402
from textclass.data import datasets  # noqa: E402
from textclass.data.clean import clean_texts  # noqa: E402
from textclass.data.prepare import prepare_data  # noqa: E402

DEFAULT_CONFIG = ROOT / "configs" / "vader.yaml"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "regression_vader.json"
ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0)
METRICS = ("rmse", "mae", "r2", "pearson", "spearman")


# ---------------------------------------------------------------- metrics


def _corr(fn, y: np.ndarray, p: np.ndarray) -> float:
    if np.ptp(p) == 0 or np.ptp(y) == 0:
        return float("nan")  # undefined for a constant predictor
    return float(fn(y, p)[0])


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "rmse": float(np.sqrt(mean_squared_error(y, p))),
        "mae": float(mean_absolute_error(y, p)),
        "r2": float(r2_score(y, p)),
        "pearson": _corr(pearsonr, y, p),
        "spearman": _corr(spearmanr, y, p),
    }


def _interval(values: np.ndarray) -> list[float] | None:
    values = values[~np.isnan(values)]
    if not len(values):
        return None
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def bootstrap(
    y: np.ndarray, preds: dict[str, np.ndarray], resamples: int, seed: int
) -> dict[str, dict[str, np.ndarray]]:
    """Every predictor's metrics on the same `resamples` resamples of the test rows."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(resamples, len(y)))
    out = {name: {m: np.empty(resamples) for m in METRICS} for name in preds}
    for b, rows in enumerate(idx):
        for name, p in preds.items():
            for m, v in metrics(y[rows], p[rows]).items():
                out[name][m][b] = v
    return out


def _fmt(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


# ---------------------------------------------------------------- data


def load_split(config: Path) -> tuple[Any, Any, dict[str, pd.DataFrame]]:
    cfg = load_config(config)
    data = prepare_data(cfg.data, cfg.seed)
    splits = {}
    for name, frame in data.splits.items():
        frame = frame.copy()
        # prepare_data may hand the target back as text (before regression support) or as a
        # float: either way the number is the one in the file (str(float) round-trips).
        frame["label"] = pd.to_numeric(frame["label"], errors="raise").astype(float)
        splits[name] = frame
    return cfg, data, splits


def sources_by_text(cfg) -> dict[str, str] | None:
    """Cleaned text -> `source` for a bundled dataset with a source column (VADER)."""
    if cfg.data.train is not None or not cfg.data.dataset:
        return None
    frame = datasets.load(cfg.data.dataset)
    if "source" not in frame.columns:
        return None
    spec = datasets.get(cfg.data.dataset)
    cleaned = clean_texts(frame[cfg.data.text_column or spec.text_column], cfg.data.cleaning)
    return dict(zip(cleaned, frame["source"], strict=True))


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def text_hash(texts: pd.Series) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- baselines


def make_vectorizers() -> list[TfidfVectorizer]:
    return [
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=2),
        TfidfVectorizer(
            analyzer="char", ngram_range=(2, 5), sublinear_tf=True, min_df=2, lowercase=False
        ),
    ]


def fit_ridge(splits: dict[str, pd.DataFrame]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    started = time.perf_counter()
    vecs = make_vectorizers()
    x = {
        name: sparse.hstack(
            [
                v.fit_transform(f["text"]) if name == "train" else v.transform(f["text"])
                for v in vecs
            ]
        ).tocsr()
        for name, f in splits.items()
    }
    y_train, y_val = splits["train"]["label"].to_numpy(), splits["validation"]["label"].to_numpy()
    grid = {}
    models = {}
    for alpha in ALPHAS:
        model = Ridge(alpha=alpha).fit(x["train"], y_train)
        grid[alpha] = float(np.sqrt(mean_squared_error(y_val, model.predict(x["validation"]))))
        models[alpha] = model
    best = min(grid, key=grid.get)
    preds = {name: models[best].predict(m) for name, m in x.items()}
    info = {
        "features": {
            "word_1_2": len(vecs[0].vocabulary_),
            "char_2_5": len(vecs[1].vocabulary_),
        },
        "alpha_grid_validation_rmse": {str(a): round(r, 6) for a, r in grid.items()},
        "alpha": best,
        "alpha_at_grid_edge": best in (ALPHAS[0], ALPHAS[-1]),
        "fit_seconds_all_alphas": round(time.perf_counter() - started, 1),
    }
    return preds, info


# ---------------------------------------------------------------- model predictions


def read_model_predictions(path: Path, test: pd.DataFrame) -> np.ndarray:
    """The run's test predictions aligned to `test`'s rows (matched by text; gold must agree)."""
    frame = pd.read_csv(path, keep_default_na=False)
    missing = {"gold", "predicted"} - set(frame.columns)
    if missing:
        raise SystemExit(f"{path}: no column(s) {', '.join(sorted(missing))}")
    if len(frame) != len(test):
        raise SystemExit(
            f"{path}: {len(frame)} rows, the test split has {len(test)}: not the same split "
            "(same config and seed, and the same textclass version, are needed)"
        )
    if "text" in frame.columns:
        if frame["text"].duplicated().any() or test["text"].duplicated().any():
            raise SystemExit(f"{path}: repeated test texts, cannot match rows by text")
        position = pd.Series(np.arange(len(frame)), index=frame["text"])
        absent = ~test["text"].isin(position.index)
        if absent.any():
            raise SystemExit(
                f"{path}: {int(absent.sum())} test text(s) not in the predictions, e.g. "
                f"{test['text'][absent].iloc[0]!r}: not the same split"
            )
        frame = frame.iloc[position[test["text"]].to_numpy()].reset_index(drop=True)
    gold = pd.to_numeric(frame["gold"]).to_numpy(float)
    worst = float(np.max(np.abs(gold - test["label"].to_numpy())))
    if worst > 1e-5:  # predictions.csv rounds to 6 decimals
        raise SystemExit(f"{path}: gold differs from the split's targets by up to {worst:.3g}")
    return pd.to_numeric(frame["predicted"]).to_numpy(float)


def paired_difference(
    y: np.ndarray, model: np.ndarray, ridge: np.ndarray, boot: dict[str, dict[str, np.ndarray]]
) -> dict[str, Any]:
    point_m, point_r = metrics(y, model), metrics(y, ridge)
    out = {}
    for m, lower_better in (("rmse", True), ("spearman", False)):
        diff = boot["model"][m] - boot["tfidf_ridge"][m]
        better = diff < 0 if lower_better else diff > 0
        out[m] = {
            "model_minus_ridge": point_m[m] - point_r[m],
            "ci95": _interval(diff),
            "share_of_resamples_model_better": float(better.mean()),
        }
    return out


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("config", nargs="?", type=Path, default=DEFAULT_CONFIG)
    ap.add_argument("--model-predictions", type=Path, help="a run's predictions.csv (test split)")
    ap.add_argument("--output", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--bootstrap-seed", type=int, default=0)
    args = ap.parse_args(argv)

    cfg, data, splits = load_split(args.config)
    test = splits["test"]
    y = test["label"].to_numpy()

    model = None  # read first: a mismatched file fails before the minute of fitting
    if args.model_predictions:
        model = read_model_predictions(args.model_predictions, test)
    preds = {"mean": np.full(len(test), splits["train"]["label"].mean())}
    ridge_preds, ridge_info = fit_ridge(splits)
    preds["tfidf_ridge"] = ridge_preds["test"]
    if model is not None:
        preds["model"] = model

    boot = bootstrap(y, preds, args.resamples, args.bootstrap_seed)
    results = {}
    for name, p in preds.items():
        point = metrics(y, p)
        results[name] = {
            m: {"value": _jsonable(point[m]), "ci95": _interval(boot[name][m])} for m in METRICS
        }
    results["tfidf_ridge"]["validation"] = {
        m: _jsonable(v)
        for m, v in metrics(
            splits["validation"]["label"].to_numpy(), ridge_preds["validation"]
        ).items()
    }

    by_source = None
    lookup = sources_by_text(cfg)
    if lookup is not None:
        src = test["text"].map(lookup)
        by_source = {}
        for name in sorted(src.dropna().unique()):
            rows = (src == name).to_numpy()
            by_source[name] = {"n": int(rows.sum()), "gold_std": float(y[rows].std())}
            for pred_name, p in preds.items():
                if pred_name == "mean":
                    continue
                by_source[name][pred_name] = {
                    m: _jsonable(v) for m, v in metrics(y[rows], p[rows]).items()
                }

    report: dict[str, Any] = {
        "benchmark": "regression_baselines",
        "command": " ".join(
            ["benchmarks/regression_baselines.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "config": _relative(args.config),
        "dataset": cfg.data.dataset,
        "seed": cfg.seed,
        "split": {
            "by": "textclass.data.prepare.prepare_data(cfg.data, cfg.seed)",
            "task_reported_by_prepare_data": str(data.task),
            "target_dtype_from_prepare_data": str(data.splits["test"]["label"].dtype),
            "sizes": {name: len(f) for name, f in splits.items()},
            "test_text_sha256": text_hash(test["text"]),
            "note": "a model's predictions.csv is comparable only if its test texts hash the same",
        },
        "target": {
            name: {"mean": float(f["label"].mean()), "std": float(f["label"].std())}
            for name, f in splits.items()
        },
        "bootstrap": {
            "resamples": args.resamples,
            "seed": args.bootstrap_seed,
            "interval": "95% percentile, test rows resampled with replacement, "
            "the same resamples for every predictor (paired)",
        },
        "tfidf_ridge": {
            "features": "word 1-2-grams (lowercased) + char 2-5-grams (case kept), sublinear tf, "
            "min_df 2, l2-normalised each, concatenated",
            "fit_on": "train; alpha chosen by validation RMSE",
            **ridge_info,
        },
        "test": results,
        "test_by_source": by_source,
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__,
        },
    }
    if "model" in preds:
        report["model_predictions"] = str(args.model_predictions)
        report["paired_difference"] = paired_difference(
            y, preds["model"], preds["tfidf_ridge"], boot
        )

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")

    sizes = report["split"]["sizes"]
    print(
        f"{cfg.data.dataset}: train {sizes['train']}, validation {sizes['validation']}, "
        f"test {sizes['test']}; ridge alpha {ridge_info['alpha']} "
        f"(validation RMSE {ridge_info['alpha_grid_validation_rmse']})"
    )
    print(f"{'predictor':<12}" + "".join(f"{m:>26}" for m in METRICS))
    for name, res in results.items():
        cells = []
        for m in METRICS:
            ci = res[m]["ci95"]
            span = f" [{_fmt(ci[0], 3)}, {_fmt(ci[1], 3)}]" if ci else ""
            cells.append(f"{_fmt(res[m]['value']) + span:>26}")
        print(f"{name:<12}" + "".join(cells))
    if "paired_difference" in report:
        for m, d in report["paired_difference"].items():
            ci = d["ci95"]
            print(
                f"model - ridge {m}: {d['model_minus_ridge']:+.4f} "
                f"[{ci[0]:+.4f}, {ci[1]:+.4f}], model better in "
                f"{d['share_of_resamples_model_better']:.1%} of resamples"
            )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
