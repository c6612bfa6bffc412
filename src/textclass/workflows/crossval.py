"""k-fold cross-validation: K ordinary runs, one per fold, and their pooled out-of-fold result.

    result = textclass.cross_validate("configs/rotten_tomatoes.yaml", folds=5)
    result.summary["mean"]["f1_macro"], result.summary["std"]["f1_macro"]

The rows cross-validated are the training and validation splits pooled (the test split, read
from a file or carved out as in a single run, stays apart: the fold models, and ensembles of
them, are measured on it afterwards). Each row is in exactly one fold (stratified by label,
grouped by `data.group_column`, iteratively stratified for multi-label data; seeded). Fold k's
run trains on the other folds less an inner validation split carved from them (early stopping
and checkpoint selection never see fold k) and is evaluated on fold k as its test split, so its
`predictions.csv` holds the out-of-fold predictions of fold k's rows.

    CV_DIR/cv.json               folds, per-fold metrics, mean ± std, pooled metrics, status
    CV_DIR/oof_predictions.csv   every pooled row once: row, fold, text, gold, predicted, prob_*
    CV_DIR/cv_report.md/.html    fold table, pooled confusion matrix, per-fold curves
    CV_DIR/fold_1/ ... fold_K/   ordinary run directories (model/, report, checkpoints, ...)

Running the same command again continues with the folds not yet finished (an interrupted
fold resumes from its last checkpoint).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from transformers import set_seed

from textclass.config.load import load_config
from textclass.config.schema import RunConfig
from textclass.config.tasks import MULTI_LABEL, get_task
from textclass.data.prepare import PreparedData, label_targets, with_splits
from textclass.data.split import kfold, split_off
from textclass.errors import TextclassError, TrainingInterrupted
from textclass.inference.classifier import Classifier
from textclass.runtime import configure_process
from textclass.training.callbacks import Callback
from textclass.workflows import rundir
from textclass.workflows.rundir import RunDir
from textclass.workflows.train import build_for, prepare, train_in

log = logging.getLogger(__name__)

SUMMARY_METRICS = (
    "accuracy", "f1_macro", "f1_weighted", "f1_micro", "roc_auc", "log_loss", "loss", "ece",
    "rmse", "mae", "r2", "spearman",
)  # fmt: skip


@dataclass
class CVResult:
    cv_dir: Path
    summary: dict[str, Any]  # cv.json: per fold, mean, std, pooled out-of-fold metrics
    oof: pd.DataFrame  # one row per pooled row: row, fold, text, gold, predicted, outputs

    @property
    def fold_dirs(self) -> list[Path]:
        return [self.cv_dir / f["run_dir"] for f in self.summary["per_fold"]]

    @property
    def model_dirs(self) -> list[Path]:
        return [d / rundir.MODEL for d in self.fold_dirs]


def pool_rows(data: PreparedData) -> pd.DataFrame:
    """The rows cross-validated: training and validation together, numbered 0..n-1."""
    pool = pd.concat([data.splits["train"], data.splits["validation"]], ignore_index=True)
    if "group" in pool.columns and pool["group"].isna().any():  # a validation file: no groups
        fill = pd.Series([f"\x00row{i}" for i in range(len(pool))], index=pool.index)
        pool["group"] = pool["group"].where(pool["group"].notna(), fill)
    return pool


def fold_splits(
    cfg: RunConfig, pool: pd.DataFrame, folds: np.ndarray, k: int
) -> dict[str, pd.DataFrame]:
    """Fold k's splits: train and an inner validation carved (stratified, grouped) from the
    other folds, and fold k itself as the test split."""
    rest = pool[folds != k]
    fraction = cfg.data.split.validation / (1 - cfg.data.split.test)
    inner_train, inner_val = split_off(rest, fraction, cfg.seed + k)
    return {"train": inner_train, "validation": inner_val, "test": pool[folds == k]}


def cross_validate(
    config: RunConfig | str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    folds: int = 5,
    output: str | Path | None = None,
    overwrite: bool = False,
    frames: dict[str, pd.DataFrame] | None = None,
    callbacks: list[Callback] | None = None,
    report: bool = True,
) -> CVResult:
    """Cross-validate the run `config` describes over `folds` folds (see the module docstring);
    returns the CV directory, its summary and the out-of-fold predictions. An entry point: it
    applies the process-wide settings."""
    cfg = config if isinstance(config, RunConfig) else load_config(config, overrides)
    configure_process(cfg.train.num_threads)
    set_seed(cfg.seed)
    data = prepare(cfg, frames)
    pool = pool_rows(data)
    assignment = kfold(pool, folds, cfg.seed)
    plan = _plan(cfg, data, pool, assignment, folds)
    cv = _open_cv_dir(cfg, plan, output, overwrite)
    cv.write(rundir.CV_SUMMARY, plan)  # from the start: an interrupted CV is recognised
    log.info("cross-validation: %d folds over %d rows; %s", folds, len(pool), cv.path)
    for k in range(1, folds + 1):
        _run_fold(cv, cfg, data, pool, assignment, k, callbacks, report)
        plan["done"] = sorted({*plan["done"], k})
        cv.write(rundir.CV_SUMMARY, plan)
    summary, oof = summarise(cv.path, plan, pool, assignment, data)
    cv.write(rundir.CV_SUMMARY, summary)
    oof.to_csv(cv.file(rundir.OOF_PREDICTIONS), index=False)
    if report:
        from textclass.reporting.crossval import write_cv_report

        paths = write_cv_report(cv.path)
        log.info("cross-validation report: %s and %s", paths["md"], paths["html"])
    return CVResult(cv.path, summary, oof)


def _plan(
    cfg: RunConfig, data: PreparedData, pool: pd.DataFrame, assignment: np.ndarray, k: int
) -> dict[str, Any]:
    """What identifies this cross-validation: the config, data, fold count and assignment."""
    digest = hashlib.sha256(assignment.tobytes() + "\n".join(pool["text"]).encode()).hexdigest()
    return {
        "kind": "cross_validation",
        "folds": k,
        "seed": cfg.seed,
        "task": data.task,
        "labels": data.labels,
        "metric": cfg.train.metric,
        "lower_is_better": get_task(data.task).lower_is_better(cfg.train.metric),
        "grouped": "group" in pool.columns,
        "rows": len(pool),
        "test_rows": len(data.splits["test"]),
        "data_sha256": data.file_hashes,
        "assignment_sha256": digest,
        "config": cfg.to_dict(),
        "done": [],
    }


IDENTITY = ("folds", "seed", "data_sha256", "assignment_sha256", "config")


def _open_cv_dir(
    cfg: RunConfig, plan: dict[str, Any], output: str | Path | None, overwrite: bool
) -> RunDir:
    """The CV directory: continued when it holds this same cross-validation (config, data,
    folds), else new. Another run's directory is never reused or removed without --overwrite."""
    target = Path(output) if output else cfg.output.dir / f"{cfg.output.name or cfg.name}-cv"
    earlier = RunDir(target).read(rundir.CV_SUMMARY)
    if earlier is not None and not overwrite:
        differing = [key for key in IDENTITY if earlier.get(key) != plan[key]]
        if not differing:
            plan["done"] = [k for k in earlier.get("done", []) if _finished(target / _fold(k))]
            log.info("continuing %s: folds %s already done", target, plan["done"] or "none")
            return RunDir(target)
        if output is not None:
            raise TextclassError(
                f"{target} holds another cross-validation (its {', '.join(differing)} differ"
                f"{_config_difference(earlier, plan)}). Choose another --output, or replace "
                "it with --overwrite."
            )
    return RunDir.create(target, target if output else None, overwrite)


def _config_difference(earlier: dict[str, Any], plan: dict[str, Any]) -> str:
    from textclass.reporting.format import flatten

    old, new = flatten(earlier.get("config", {})), flatten(plan["config"])
    keys = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
    return f": config keys {', '.join(keys[:8])}" if keys else ""


def _fold(k: int) -> str:
    return rundir.CV_FOLD.format(k=k)


def _finished(fold_dir: Path) -> bool:
    return (fold_dir / rundir.METRICS).is_file() and (fold_dir / rundir.MODEL).is_dir()


def _run_fold(
    cv: RunDir,
    cfg: RunConfig,
    data: PreparedData,
    pool: pd.DataFrame,
    assignment: np.ndarray,
    k: int,
    callbacks: list[Callback] | None,
    report: bool,
) -> None:
    """Train fold k into CV_DIR/fold_k: skipped when finished, resumed from its checkpoint
    when interrupted, restarted when it stopped before its first checkpoint."""
    fold_dir = cv.path / _fold(k)
    if _finished(fold_dir):
        return
    run = RunDir(fold_dir)
    resume = run.has_checkpoint()
    if fold_dir.exists() and not resume:
        log.info("fold %d stopped before its first checkpoint: starting it again", k)
        shutil.rmtree(fold_dir)
    fold_dir.mkdir(parents=True, exist_ok=True)
    fold_cfg = copy.deepcopy(cfg)
    fold_cfg.name = f"{cfg.name or 'run'}-{_fold(k)}"
    fold_data = with_splits(data, fold_splits(cfg, pool, assignment, k))
    sizes = fold_data.stats["sizes"]
    log.info(
        "fold %d/%d: train %d, inner validation %d, held out %d%s",
        k, int(assignment.max()), sizes["train"], sizes["validation"], sizes["test"],
        " (resuming)" if resume else "",
    )  # fmt: skip
    set_seed(cfg.seed)
    built = build_for(fold_cfg, fold_data)
    try:
        train_in(run, fold_cfg, fold_data, built, callbacks=callbacks, resume=resume, report=report)
    except TrainingInterrupted as exc:
        raise TrainingInterrupted(
            f"cross-validation stopped in fold {k} ({exc}). Run the same `textclass cv` "
            f"command (--output {cv.path}) to continue with the folds not yet done."
        ) from exc


def summarise(
    cv_dir: Path, plan: dict[str, Any], pool: pd.DataFrame, assignment: np.ndarray,
    data: PreparedData,
) -> tuple[dict[str, Any], pd.DataFrame]:  # fmt: skip
    """Per-fold metrics (held-out fold and test split), their mean and standard deviation
    (ddof=1), and the pooled out-of-fold predictions with their metrics and 95% bootstrap
    intervals."""
    task = get_task(data.task)
    runs = [RunDir(cv_dir / _fold(k)) for k in range(1, plan["folds"] + 1)]
    oof = out_of_fold(runs, pool, assignment)
    per_fold = [_fold_record(k, run, data) for k, run in enumerate(runs, start=1)]
    y = label_targets(pool, data.labels, data.task)
    outputs = rundir.prediction_outputs(oof, data.labels, task.has_probabilities)
    thresholds = _row_thresholds(runs, assignment, data.labels) if task is MULTI_LABEL else None
    pooled = task.metrics(y, outputs, data.labels, thresholds)
    pooled["intervals"] = task.intervals(y, outputs, data.labels, thresholds, seed=plan["seed"])
    return {
        **plan,
        "per_fold": per_fold,
        **_mean_std([f["held_out"] for f in per_fold]),
        "pooled": pooled,
        "test_set": _mean_std([f["test_set"] for f in per_fold]),
    }, oof


def _mean_std(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    keys = [m for m in SUMMARY_METRICS if all(r.get(m) is not None for r in records)]
    table = np.array([[r[m] for m in keys] for r in records], dtype=float).reshape(-1, len(keys))
    std = table.std(axis=0, ddof=1) if len(records) > 1 else np.zeros(len(keys))
    return {
        "mean": dict(zip(keys, table.mean(axis=0).tolist(), strict=True)),
        "std": dict(zip(keys, std.tolist(), strict=True)),
    }


def out_of_fold(runs: list[RunDir], pool: pd.DataFrame, assignment: np.ndarray) -> pd.DataFrame:
    """Each fold's held-out predictions placed at their pooled rows: every row exactly once,
    checked against the pooled texts."""
    parts = []
    for k, run in enumerate(runs, start=1):
        rows = np.flatnonzero(assignment == k)
        frame = run.read_predictions("test")
        if (
            frame is None
            or len(frame) != len(rows)
            or not np.array_equal(frame["text"].to_numpy(), pool["text"].to_numpy()[rows])
        ):
            raise TextclassError(
                f"{run.path}: its predictions do not match the rows of fold {k}; the fold was "
                "trained on other data. Run the cross-validation into a new --output."
            )
        frame.insert(0, "fold", k)
        frame.insert(0, "row", rows)
        if "group" in pool.columns:
            frame.insert(2, "group", pool["group"].to_numpy()[rows])
        parts.append(frame)
    return pd.concat(parts).sort_values("row", kind="stable").reset_index(drop=True)


def _row_thresholds(runs: list[RunDir], assignment: np.ndarray, labels: list[str]) -> np.ndarray:
    """Multi-label: every pooled row cut at the thresholds of the fold model that predicted it."""
    out = np.full((len(assignment), len(labels)), 0.5)
    for k, run in enumerate(runs, start=1):
        saved = run.model_meta().get("thresholds") or {}
        out[assignment == k] = [float(saved.get(label, 0.5)) for label in labels]
    return out


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {m: float(metrics[m]) for m in SUMMARY_METRICS if metrics.get(m) is not None}


def _fold_record(k: int, run: RunDir, data: PreparedData) -> dict[str, Any]:
    """One fold: sizes, the selected step, its held-out fold metrics and the test split's."""
    fold_data = run.read(rundir.DATA, {})
    state = run.read(rundir.HISTORY, {})
    return {
        "fold": k,
        "run_dir": run.path.name,
        "sizes": fold_data.get("sizes", {}),
        "selected_step": state.get("best_step"),
        "train_seconds": state.get("train_seconds"),
        "held_out": _scalars(run.read(rundir.METRICS)["test"]),
        "test_set": _test_set_metrics(run, data),
    }


def _test_set_metrics(run: RunDir, data: PreparedData) -> dict[str, float]:
    """The fold model on the test split (kept apart from the cross-validation), predicted by
    the saved model directory as `Classifier.load` reads it; written once per fold."""
    path = run.file(rundir.CV_TEST_SET)
    if path.is_file():
        return _scalars(rundir.read_json(path))
    task, test = get_task(data.task), data.splits["test"]
    clf = Classifier.load(run.model_dir)
    pairs = test["text_pair"].tolist() if "text_pair" in test.columns else None
    outputs = clf.predict_outputs(test["text"].tolist(), pairs, clean=False)
    metrics = task.metrics(data.targets("test"), outputs, data.labels, clf.thresholds)
    predictions = task.predictions_frame(test, outputs, data.labels, clf.thresholds)
    predictions.to_csv(run.file(rundir.CV_TEST_PREDICTIONS), index=False)
    run.write(rundir.CV_TEST_SET, metrics)
    return _scalars(metrics)
