"""A whole run: data → model → training → evaluation → a self-describing run directory.

This is the Python API behind `textclass train` and `textclass evaluate`:

    result = textclass.train("configs/rotten_tomatoes.yaml", ["train.epochs=1"])
    result.metrics["test"]["accuracy"]
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list
from safetensors.torch import load_file
from transformers import set_seed

from textclass.config.load import load_config
from textclass.config.schema import RunConfig, WindowConfig, check_task_options, selection_metric
from textclass.config.tasks import LABEL_SEPARATOR, get_task
from textclass.data.encode import EncodedTexts, encode, first_windows
from textclass.data.prepare import (
    MULTI_LABEL,
    SINGLE_LABEL,
    Columns,
    PreparedData,
    detect_format,
    label_targets,
    prepare_data,
    read_table,
    standardise,
)
from textclass.diagnosis.monitor import TrainingMonitor
from textclass.diagnosis.rules import Finding, diagnose, print_findings
from textclass.errors import DataError, TextclassError, did_you_mean
from textclass.evaluation.thresholds import threshold_table, tune_thresholds
from textclass.inference.classifier import MODEL_META, Classifier
from textclass.models import build as models
from textclass.reporting.build import write_report
from textclass.runtime import choose_device, choose_precision, environment_record
from textclass.training.loop import Callback, FitContext, evaluate, fit

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
SAFETENSORS = "model.safetensors"
THRESHOLDS_FILE = "thresholds.json"
PREDICTIONS = {"test": "predictions.csv", "validation": "predictions_validation.csv"}


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, dict[str, Any]]  # "validation" and "test"
    history: list[dict[str, Any]]
    findings: list[Finding] = field(default_factory=list)  # the diagnosis, failures first
    thresholds: dict[str, Any] | None = None  # multi-label: tuned thresholds vs the default

    @property
    def model_dir(self) -> Path:
        return self.run_dir / "model"

    def classifier(self) -> Classifier:
        return Classifier.load(self.model_dir)


# ---------------------------------------------------------------- run directory


def _new_run_dir(cfg: RunConfig, output: Path | None, overwrite: bool) -> Path:
    """A fresh directory. Never reuses an existing one unless `overwrite` (explicitly) says so."""
    if output is not None:
        target = Path(output)
        if target.exists() and any(target.iterdir()):
            if not overwrite:
                raise TextclassError(
                    f"{target} already exists and is not empty. Choose another --output, continue "
                    f"an interrupted run with `textclass train --resume {target}`, or replace it "
                    "with --overwrite."
                )
            shutil.rmtree(target)
    else:
        base = cfg.output.dir / (cfg.output.name or cfg.name or "run")
        target, n = base, 1
        while target.exists():
            if overwrite and n == 1:
                shutil.rmtree(target)
                break
            n += 1
            target = base.with_name(f"{base.name}-{n}")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    tmp.replace(path)


def encode_split(
    tokenizer,
    frame: pd.DataFrame,
    labels: list[str],
    max_length: int,
    task: str = SINGLE_LABEL.name,
    window: WindowConfig | None = None,
) -> EncodedTexts:
    y = label_targets(frame, labels, task)
    pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
    return encode(tokenizer, frame["text"].tolist(), pairs, max_length, y, window)


def _model_meta(cfg: RunConfig, data: PreparedData, precision: str) -> dict[str, Any]:
    return {
        "format_version": 1,
        "task": data.task,
        "label_delimiter": data.label_delimiter,
        "labels": data.labels,
        "columns": {
            "text": data.columns.text,
            "text_pair": data.columns.text_pair,
            "label": data.columns.label,
        },
        "cleaning": cfg.data.cleaning.model_dump(),
        "max_length": cfg.model.max_length,
        "window": cfg.model.window.model_dump() if cfg.model.window.enabled else None,
        "architecture": cfg.model.architecture,
        "base_model": cfg.model.name if cfg.model.architecture == "transformer" else None,
        "precision": precision,
        "seed": cfg.seed,
        "data_sha256": data.file_hashes,
    }


# ---------------------------------------------------------------- train


def train(
    config: RunConfig | str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    output: str | Path | None = None,
    overwrite: bool = False,
    resume: str | Path | None = None,
    frames: dict[str, pd.DataFrame] | None = None,
    callbacks: list[Callback] | None = None,
    report: bool = True,
) -> RunResult:
    """Train, evaluate and save a classifier; returns where it went and its metrics.

    `config` is a RunConfig or a YAML path; `overrides` are `key=value` strings. With `resume`,
    the run directory of an interrupted run is continued from its last checkpoint (its saved
    config is used). `frames` passes pandas DataFrames ("train", optionally "validation" and
    "test") instead of files.
    """
    procs = PartialState()  # one process, or one of several under `accelerate launch`
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "checkpoints" / "last").is_dir():
            raise TextclassError(
                f"{run_dir}: no checkpoint to resume from (expected {run_dir}/checkpoints/last)."
            )
        cfg = load_config(run_dir / CONFIG_FILE, overrides)
    else:
        cfg = config if isinstance(config, RunConfig) else load_config(config, overrides)
        run_dir = _on_main(
            procs, lambda: _new_run_dir(cfg, Path(output) if output else None, overwrite)
        )
    log.info("run directory: %s", run_dir)

    set_seed(cfg.seed)
    data = prepare_data(cfg.data, cfg.seed, frames)
    check_task_options(cfg, data.task)
    cfg.train.metric = selection_metric(cfg, data.task)  # `auto` resolved, saved as such
    device = choose_device(cfg.train.device)
    precision = choose_precision(cfg.train.precision, device)
    env = environment_record(device, precision, cfg.seed, data.file_hashes)
    if resume is not None:
        saved = json.loads((run_dir / "environment.json").read_text())
        if saved.get("data_sha256") != data.file_hashes:
            raise DataError(
                f"{run_dir}: the data files changed since this run started, so it cannot be "
                "resumed exactly. Start a new run instead."
            )
    elif procs.is_main_process:
        (run_dir / CONFIG_FILE).write_text(cfg.to_yaml())
        _write_json(run_dir / "environment.json", env)

    tokenizer = models.build_tokenizer(cfg.model, training_texts(data.splits["train"]))
    model = models.build_model(cfg.model, data.labels, tokenizer, data.label_prior())
    if data.task == MULTI_LABEL:  # saved in config.json: Hugging Face tools then use sigmoid
        model.config.problem_type = "multi_label_classification"
    window = cfg.model.window
    encoded = {
        name: encode_split(tokenizer, frame, data.labels, cfg.model.max_length, data.task, window)
        for name, frame in data.splits.items()
    }
    data.stats["token_lengths"] = {
        name: _length_stats(enc.lengths, cfg.model.max_length) for name, enc in encoded.items()
    }
    if window.enabled:
        data.stats["windows"] = {name: enc.window_stats for name, enc in encoded.items()}
        if window.train == "first":
            encoded["train"] = first_windows(encoded["train"])
    data.stats["cleaning_settings"] = cfg.data.cleaning.model_dump()
    if procs.is_main_process and resume is None:
        _write_json(run_dir / "data.json", data.stats)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in data.splits.items())
    log.info(
        "data: %s; %d labels; device %s, precision %s", sizes, len(data.labels), device, precision
    )

    ctx = FitContext(
        cfg=cfg,
        model=model,
        train_data=encoded["train"],
        val_data=encoded["validation"],
        labels=data.labels,
        pad_id=tokenizer.pad_token_id or 0,
        device=device,
        precision=precision,
        checkpoint_dir=run_dir / "checkpoints",
        callbacks=[TrainingMonitor(data.stats["class_counts"]["train"]), *(callbacks or [])],
        task=data.task,
    )
    state = fit(ctx, resume=resume is not None)
    monitor = ctx.callbacks[0].record

    meta = _model_meta(cfg, data, precision)
    meta["selected_step"] = state.best_step
    model_dir = run_dir / "model"
    if procs.is_main_process:
        _write_json(run_dir / "history.json", state.to_json())
        _save_model_dir(model_dir, run_dir / "checkpoints" / "best", tokenizer, cfg, env, meta)
    procs.wait_for_everyone()

    # Evaluate exactly the selected weights, as saved.
    clf = Classifier.load(model_dir, precision=precision)

    # One forward pass per split; multi-label metrics are then recomputed at tuned thresholds.
    passes = {
        name: evaluate(
            clf.model,
            encoded[name],
            data.labels,
            cfg.eval.batch_size,
            ctx.pad_id,
            clf.device,
            "fp32" if clf.runs_as == "bf16-weights" else precision,  # weights already bf16
            data.task,
        )
        for name in ("validation", "test")
    }
    metrics: dict[str, dict[str, Any]] = {}
    thresholds, threshold_summary = None, None
    if data.task == MULTI_LABEL:
        probs_by_split = {name: probs for name, (_, probs) in passes.items()}
        thresholds, threshold_summary, tuned = _tune_thresholds(cfg, data, probs_by_split)
        meta["thresholds"] = dict(zip(data.labels, thresholds.tolist(), strict=True))
        # The loss does not depend on the cut; every other metric is taken at the tuned ones.
        passes = {n: ({**tuned[n], "loss": m["loss"]}, p) for n, (m, p) in passes.items()}
    for name, (split_metrics, probs) in passes.items():
        metrics[name] = split_metrics
        log.info("%s: %s", name, get_task(data.task).summary_line(split_metrics))
        if procs.is_main_process:
            get_task(data.task).predictions_frame(
                data.splits[name], probs, data.labels, thresholds
            ).to_csv(run_dir / PREDICTIONS[name], index=False)
    evaluated = clf.model.state_dict()
    integrity = {
        "selected_step": state.best_step,
        # Prediction may run on bf16 weights: the selected ones are compared as cast alike.
        "selected_sha256": weights_digest(
            load_file(run_dir / "checkpoints" / "best" / SAFETENSORS), like=evaluated
        ),
        "evaluated_sha256": weights_digest(evaluated),
    }
    loss = state.extras["loss"]  # as `fit` built it
    findings = diagnose(
        monitor, state.history, metrics, integrity, data.stats, cfg.train.class_weights, loss
    )
    if procs.is_main_process:
        _write_json(run_dir / "metrics.json", metrics)
        if threshold_summary is not None:
            _write_json(run_dir / THRESHOLDS_FILE, threshold_summary)
        meta["metrics"] = {
            n: {k: metrics[n][k] for k in ("accuracy", "f1_macro")} for n in ("validation", "test")
        }
        _write_json(model_dir / MODEL_META, meta)
        _write_json(
            run_dir / "diagnostics.json",
            {
                "monitor": monitor,
                "integrity": integrity,
                "loss": loss,
                "class_weights": loss["weights"] if data.task != MULTI_LABEL else None,
                "findings": [f.to_dict() for f in findings],
            },
        )
        print_findings(findings, log)
        if report:
            paths = write_report(run_dir)
            log.info("report: %s and %s", paths["md"], paths["html"])
    return RunResult(
        run_dir=run_dir,
        metrics=metrics,
        history=state.history,
        findings=findings,
        thresholds=threshold_summary,
    )


def _tune_thresholds(
    cfg: RunConfig, data: PreparedData, probs_by_split: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict, dict[str, dict[str, Any]]]:
    """Per-label thresholds tuned on validation; their effect against the default cut on
    validation and on test (reported, never used to choose anything); and each split's full
    metrics at the tuned thresholds."""
    tcfg = cfg.eval.thresholds
    thresholds = tune_thresholds(data.targets("validation"), probs_by_split["validation"], tcfg)
    default = np.full(len(data.labels), tcfg.default)
    summary: dict[str, Any] = {"config": tcfg.model_dump(), "default": tcfg.default}
    keys = ("f1_micro", "f1_macro", "f1_samples", "subset_accuracy", "hamming_loss")
    tuned_metrics = {}
    for name, probs in probs_by_split.items():
        y = data.targets(name)
        at_default = MULTI_LABEL.metrics(y, probs, data.labels, default)
        tuned = tuned_metrics[name] = MULTI_LABEL.metrics(y, probs, data.labels, thresholds)
        summary[name] = {
            "default": {k: at_default[k] for k in keys},
            "tuned": {k: tuned[k] for k in keys},
            "per_label": threshold_table(data.labels, thresholds, y, probs, tcfg.default),
        }
    log.info(
        "thresholds tuned on validation: test macro-F1 %.4f at %.2f, %.4f tuned",
        summary["test"]["default"]["f1_macro"],
        tcfg.default,
        summary["test"]["tuned"]["f1_macro"],
    )
    return thresholds, summary, tuned_metrics


def training_texts(frame: pd.DataFrame) -> list[str]:
    """What a from-scratch tokenizer learns from: the texts and, for pairs, the second texts."""
    texts = frame["text"].tolist()
    return texts + frame["text_pair"].tolist() if "text_pair" in frame.columns else texts


def _length_stats(lengths: np.ndarray, cap: int) -> dict[str, Any]:
    """Token counts per text (after truncation to `cap`, special tokens included)."""
    at_cap = int((lengths >= cap).sum())
    return {
        "mean": float(lengths.mean()),
        "p50": int(np.percentile(lengths, 50)),
        "p90": int(np.percentile(lengths, 90)),
        "p99": int(np.percentile(lengths, 99)),
        "max": int(lengths.max()),
        "at_cap": at_cap,
        "at_cap_share": at_cap / max(len(lengths), 1),
    }


def weights_digest(state_dict: dict[str, Any], like: dict[str, Any] | None = None) -> str:
    """SHA-256 over tensor names, dtypes, shapes and values: equal iff the weights are equal.

    With `like`, each tensor is first cast to the dtype of the tensor of that name in `like`
    (the selected fp32 weights compared with the bf16 copy that was evaluated)."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu()
        if like is not None and name in like:
            tensor = tensor.to(like[name].dtype)
        tensor = tensor.contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _on_main(procs: PartialState, make: Any) -> Any:
    """Run `make()` on the main process only and hand its result to every process."""
    value = make() if procs.is_main_process else None
    if procs.num_processes > 1:
        holder = [value]
        broadcast_object_list(holder, from_process=0)
        value = holder[0]
    return value


def _save_model_dir(
    model_dir: Path, best_dir: Path, tokenizer: Any, cfg: RunConfig, env: dict, meta: dict
) -> None:
    """The selected weights, tokenizer, config, environment and label/cleaning metadata."""
    best = models.load_trained(best_dir)
    shutil.rmtree(model_dir, ignore_errors=True)
    with models.quiet_transformers():
        best.save_pretrained(model_dir, safe_serialization=True)
        tokenizer.save_pretrained(model_dir)
    (model_dir / CONFIG_FILE).write_text(cfg.to_yaml())
    _write_json(model_dir / "environment.json", env)
    _write_json(model_dir / MODEL_META, meta)


# ---------------------------------------------------------------- evaluate


def evaluate_model(
    model_dir: str | Path,
    data: str | Path | pd.DataFrame,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    batch_size: int = 64,
    encoding: str = "utf-8",
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics and per-row predictions of a saved model on any labelled file or DataFrame.

    Column names default to those the model was trained with.
    """
    clf = Classifier.load(model_dir)
    frame = data if isinstance(data, pd.DataFrame) else read_table(data, encoding=encoding)
    where = "DataFrame" if isinstance(data, pd.DataFrame) else str(data)
    columns = Columns(
        text=text_column or clf.columns.get("text") or "text",
        label=label_column or clf.columns.get("label") or "label",
        text_pair=text_pair_column or clf.columns.get("text_pair"),
    )
    clean = clf.cleaning.model_copy(update={"drop_duplicates": False})
    frame, _ = standardise(
        frame,
        columns,
        where,
        clean,
        task=clf.task,
        label_delimiter=clf.meta.get("label_delimiter") or ("|" if clf.multi_label else None),
    )
    given = {v for vs in frame["label"] for v in vs} if clf.multi_label else set(frame["label"])
    unseen = sorted(given - set(clf.labels))
    if unseen:
        raise DataError(
            f"{where}: label(s) {', '.join(map(repr, unseen[:10]))} are not labels of this model "
            f"({', '.join(clf.labels[:20])})."
        )
    pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
    probs = clf.predict_proba(frame["text"].tolist(), pairs, batch_size=batch_size, clean=False)
    y = label_targets(frame, clf.labels, clf.task)
    thresholds = clf.thresholds if clf.multi_label else None
    task = get_task(clf.task)
    metrics = task.metrics(y, probs, clf.labels, thresholds)
    return metrics, task.predictions_frame(frame, probs, clf.labels, thresholds)


# ---------------------------------------------------------------- predict


def _chunks(path: Path, encoding: str, chunk_size: int):
    """Yield DataFrames of at most `chunk_size` rows, reading the file incrementally."""
    kind = detect_format(path)
    if kind in ("csv", "tsv"):
        yield from pd.read_csv(
            path,
            sep="," if kind == "csv" else "\t",
            encoding=encoding,
            dtype=str,
            keep_default_na=False,
            chunksize=chunk_size,
        )
    elif kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
            yield batch.to_pandas()
    elif kind == "jsonl":
        yield from pd.read_json(
            path, lines=True, chunksize=chunk_size, dtype=False, encoding=encoding
        )
    else:
        yield read_table(path, encoding=encoding)


def predict_file(
    model_dir: str | Path,
    input: str | Path,
    output: str | Path,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    batch_size: int = 64,
    chunk_size: int = 10_000,
    encoding: str = "utf-8",
    overwrite: bool = False,
    progress: bool = True,
) -> int:
    """Predict every row of `input` (any supported format), streaming chunk by chunk.

    Writes the input's columns plus `predicted` and one `prob_<label>` column per class to
    `output` (CSV, or JSONL if it ends in .jsonl). Returns the number of rows written.
    """
    from tqdm.auto import tqdm

    input, output = Path(input), Path(output)
    if not input.is_file() or input.stat().st_size == 0:
        read_table(input)  # raises the standard not-found / empty-file error
    if output.exists() and not overwrite:
        raise TextclassError(f"{output} exists; choose another --output or pass --overwrite.")
    clf = Classifier.load(model_dir)
    text_col = text_column or clf.columns.get("text") or "text"
    pair_col = text_pair_column or clf.columns.get("text_pair")
    tmp = output.with_name(output.name + ".partial")
    written = 0
    jsonl = output.suffix.lower() == ".jsonl"
    try:
        with (
            open(tmp, "w", encoding="utf-8", newline="") as fh,
            tqdm(desc="predicting", unit="text", disable=not progress) as bar,
        ):
            for chunk in _chunks(input, encoding, chunk_size):
                for column in (text_col, pair_col):
                    if column and column not in chunk.columns:
                        have = [str(c) for c in chunk.columns]
                        raise DataError(
                            f"{input}: no column `{column}`.{did_you_mean(column, have)}"
                            f" The columns are: {', '.join(have)}. "
                            "Name the text column with --text-column."
                        )
                texts = chunk[text_col].fillna("").astype(str).tolist()
                pairs = chunk[pair_col].fillna("").astype(str).tolist() if pair_col else None
                probs = clf.predict_proba(texts, pairs, batch_size=batch_size)
                out = chunk.copy()
                decided = clf.decide(probs)
                out["predicted"] = (
                    [LABEL_SEPARATOR.join(d) for d in decided] if clf.multi_label else decided
                )
                for i, label in enumerate(clf.labels):
                    out[f"prob_{label}"] = probs[:, i].round(6)
                if jsonl:
                    out.to_json(fh, orient="records", lines=True, force_ascii=False)
                else:
                    out.to_csv(fh, index=False, header=written == 0)
                written += len(out)
                bar.update(len(out))
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return written
