"""A whole run, as stages that return values: data → build → fit → evaluate → write.

`fit_and_evaluate` trains and evaluates in memory and writes nothing (cross-validation, search
and ensembles call it many times in one process); `train` is that plus a run directory:

    result = textclass.train("configs/rotten_tomatoes.yaml", ["train.epochs=1"])
    result.metrics["test"]["accuracy"]
"""

from __future__ import annotations

import copy
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list
from transformers import set_seed

from textclass.config.load import load_config
from textclass.config.schema import ModelConfig, RunConfig, check_task_options, selection_metric
from textclass.config.tasks import MULTI_LABEL, SINGLE_LABEL, get_task
from textclass.data.prepare import PreparedData, prepare_data
from textclass.diagnosis.monitor import TrainingMonitor
from textclass.diagnosis.rules import Finding, diagnose, print_findings
from textclass.errors import DataError, TextclassError
from textclass.evaluation.baseline import compare, comparison_line, fit_baseline
from textclass.evaluation.calibration import (
    before_after,
    fit_temperature,
    scale_logits,
    scale_thresholds,
    skipped_record,
    temperature_array,
)
from textclass.evaluation.thresholds import threshold_table, tune_thresholds
from textclass.inference.classifier import Classifier, LinearClassifier
from textclass.inference.forward import predict_logits
from textclass.models.build import quiet_transformers
from textclass.models.linear import LinearModel, fit_linear
from textclass.models.linear import texts as linear_texts
from textclass.runtime import (
    accelerator_for,
    choose_device,
    choose_precision,
    configure_process,
    environment_record,
)
from textclass.training.callbacks import Callback
from textclass.training.loop import FitContext, fit
from textclass.training.state import TrainState
from textclass.workflows import rundir
from textclass.workflows.build import Built, build
from textclass.workflows.rundir import RunDir

log = logging.getLogger(__name__)

EVALUATED_SPLITS = ("validation", "test")


@dataclass
class Evaluation:
    """What `fit_and_evaluate` returns: the trained model and everything measured about it."""

    cfg: RunConfig
    data: PreparedData
    built: Built | None  # None: a linear model (no tokenizer, nothing encoded)
    model: torch.nn.Module | LinearModel  # the selected (best) weights, fp32, on the device
    state: TrainState
    metrics: dict[str, dict[str, Any]]  # per evaluated split; "baseline" when measured
    outputs: dict[str, np.ndarray]  # probabilities or values, per evaluated split
    findings: list[Finding]
    diagnostics: dict[str, Any]
    precision: str
    environment: dict[str, Any]
    thresholds: np.ndarray | None = None  # multi-label: tuned per label
    threshold_summary: dict[str, Any] | None = None
    temperature: float | list[float] | None = None  # eval.calibration; None: regression
    robustness: dict[str, Any] | None = None  # eval.robustness: the test split perturbed

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.state.history

    def classifier(self) -> Classifier:
        """The selected model as its saved directory will load (cleaning, input length,
        temperature, thresholds), on a copy of the weights: preparing them for inference
        (a bf16 cast) leaves `model` as trained."""
        meta = self.model_meta()
        if isinstance(self.model, LinearModel):
            cleaning, columns = self.cfg.data.cleaning, meta["columns"]
            return LinearClassifier(self.model, cleaning=cleaning, columns=columns, meta=meta)
        return Classifier(
            copy.deepcopy(self.model), self.built.tokenizer, self.data.labels,
            cleaning=self.cfg.data.cleaning, max_length=self.cfg.model.max_length,
            columns=meta["columns"], meta=meta, device=self.cfg.train.device,
            precision=self.precision,
        )  # fmt: skip

    def predictions(self, split: str) -> pd.DataFrame:
        task = get_task(self.data.task)
        frame = self.data.splits[split]
        return task.predictions_frame(frame, self.outputs[split], self.data.labels, self.thresholds)

    def model_meta(self) -> dict[str, Any]:
        meta = _model_meta(self.cfg, self.data, self.precision)
        if self.built is not None:
            meta["selected_step"] = self.state.best_step
            average = self.state.extras.get("average") or {}
            if average.get("selected"):  # the weights are the mean of these evaluations'
                meta["averaged"] = {"method": average["method"], "steps": average["steps"]}
        if self.thresholds is not None:
            meta["thresholds"] = dict(zip(self.data.labels, self.thresholds.tolist(), strict=True))
        if self.temperature is not None:
            meta["temperature"] = self.temperature  # logits / T before softmax or sigmoid
        task = get_task(self.data.task)
        keys = dict.fromkeys((task.default_metric, "accuracy", "f1_macro"))
        meta["metrics"] = {
            n: {k: self.metrics[n][k] for k in keys if k in self.metrics[n]}
            for n in EVALUATED_SPLITS
        }
        return meta


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, dict[str, Any]]  # "validation", "test" and (eval.baseline) "baseline"
    history: list[dict[str, Any]]
    findings: list[Finding] = field(default_factory=list)  # the diagnosis, failures first
    thresholds: dict[str, Any] | None = None  # multi-label: tuned thresholds vs the default
    model: torch.nn.Module | LinearModel | None = field(default=None, repr=False)  # as trained

    @property
    def model_dir(self) -> Path:
        return self.run_dir / rundir.MODEL

    def classifier(self) -> Classifier:
        return Classifier.load(self.model_dir)


# ---------------------------------------------------------------- in memory


def prepare(
    cfg: RunConfig, frames: dict[str, pd.DataFrame] | None = None, audit: bool = True
) -> PreparedData:
    """Read, clean and split the data (and, with `audit`, run the data audit's cheap checks and
    actions); check the options that depend on its task and resolve `train.metric: auto` (in
    `cfg`, so the saved config says what was used)."""
    data = prepare_data(cfg.data, cfg.seed, frames, audit=audit)
    check_task_options(cfg, data.task)
    cfg.train.metric = selection_metric(cfg, data.task)
    data.stats["cleaning_settings"] = cfg.data.cleaning.model_dump()
    return data


def fit_and_evaluate(
    cfg: RunConfig,
    data: PreparedData | None = None,
    *,
    frames: dict[str, pd.DataFrame] | None = None,
    built: Built | None = None,
    callbacks: list[Callback] | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
) -> Evaluation:
    """Train on `data` (prepared from `cfg` when not given) and evaluate the selected weights
    on validation and test. Writes nothing unless `checkpoint_dir` is given (checkpoints for
    `resume`). Process-wide settings are left alone (see `textclass.runtime`)."""
    if built is not None and data is None:
        raise TypeError("fit_and_evaluate: pass the `data` that `built` was built from")
    if cfg.model.architecture == "linear":
        set_seed(cfg.seed)
        return fit_and_evaluate_linear(cfg, data if data is not None else prepare(cfg, frames))
    if built is None:  # else the caller seeded before building (the head's initialisation)
        set_seed(cfg.seed)
        data = data if data is not None else prepare(cfg, frames)
        built = build(cfg, data)
    device = choose_device(cfg.train.device)
    precision = choose_precision(cfg.train.precision, device)
    env = environment_record(device, precision, cfg.seed, data.file_hashes)
    log.info(
        "data: %s; %d labels; device %s, precision %s",
        ", ".join(f"{k} {len(v)}" for k, v in data.splits.items()),
        len(data.labels),
        device,
        precision,
    )
    monitor = TrainingMonitor(data.stats["class_counts"]["train"])
    ctx = FitContext(
        cfg=cfg,
        model=built.model,
        train_data=built.encoded["train"],
        val_data=built.encoded["validation"],
        labels=data.labels,
        pad_id=built.pad_id,
        accelerator=accelerator_for(device, precision),
        precision=precision,
        task=get_task(data.task),
        checkpoint_dir=checkpoint_dir,
        callbacks=[monitor, *(callbacks or [])],
    )
    fitted = fit(ctx, resume=resume)
    return _evaluate_selected(cfg, data, built, fitted, monitor.record, precision, env)


def _evaluate_selected(cfg, data, built, fitted, monitor, precision, env) -> Evaluation:
    """One forward pass per split over the selected weights, prepared for prediction exactly as
    a loaded model would be; then calibration and the metrics (`_measure`)."""
    task = get_task(data.task)
    clf = Classifier(copy.deepcopy(fitted.model), built.tokenizer, data.labels, precision=precision)
    logits = {name: _logits(cfg, built, clf, name) for name in EVALUATED_SPLITS}
    measured = _measure(cfg, data, logits)
    metrics, outputs, thresholds = measured.metrics, measured.outputs, measured.thresholds
    for name in EVALUATED_SPLITS:
        log.info("%s: %s", name, task.summary_line(metrics[name]))
    if cfg.eval.baseline:
        metrics["baseline"] = measure_baseline(cfg, data, outputs, thresholds)
    evaluated = clf.model.state_dict()
    integrity = {
        "selected_step": fitted.state.best_step,
        # Prediction may run on bf16 weights: the selected ones are compared as cast alike.
        "selected_sha256": weights_digest(
            fitted.selected if fitted.selected is not None else fitted.model.state_dict(),
            like=evaluated,
        ),
        "evaluated_sha256": weights_digest(evaluated),
    }
    if "average" in fitted.state.extras:  # train.average: whether the average was selected
        integrity["average"] = fitted.state.extras["average"]
    findings = diagnose(
        monitor, fitted.state.history, metrics, integrity, data.stats,
        cfg.train.class_weights, fitted.loss, config=cfg.to_dict(),
    )  # fmt: skip
    diagnostics = {
        "monitor": monitor,
        "integrity": integrity,
        "loss": fitted.loss,
        "class_weights": fitted.loss["weights"] if task is SINGLE_LABEL else None,
        "findings": [f.to_dict() for f in findings],
    }
    return Evaluation(
        cfg, data, built, fitted.model, fitted.state, metrics, outputs, findings, diagnostics,
        precision, env, thresholds, measured.summary, measured.temperature,
    )  # fmt: skip


def _logits(cfg: RunConfig, built: Built, clf: Classifier, split: str) -> np.ndarray:
    """A split's logits, computed as the classifier computes them (autocast only where the
    weights are not bf16 already)."""
    encoded = built.encoded[split]
    batch = cfg.eval.batch_size
    return predict_logits(clf.model, encoded, batch, built.pad_id, clf.device, clf.autocast)


@dataclass
class Measured:
    """What `_measure` returns: per split outputs and metrics, and what prediction reuses."""

    metrics: dict[str, dict[str, Any]]  # per split; "calibration": the temperature record
    outputs: dict[str, np.ndarray]  # calibrated probabilities, or regression values
    thresholds: np.ndarray | None  # multi-label: per label, on the calibrated probabilities
    summary: dict[str, Any] | None  # multi-label: the thresholds' effect (thresholds.json)
    temperature: float | list[float] | None  # textclass.json's; None: regression


def _measure(cfg: RunConfig, data: PreparedData, logits: dict[str, np.ndarray]) -> Measured:
    """Each evaluated split's outputs and metrics from its logits (any model family).

    Classification: the temperature fitted on validation (`eval.calibration`) divides the
    logits as `Classifier` will; multi-label thresholds are tuned on validation before scaling
    and carried over (`scale_thresholds`), so no decision changes; every metric is taken on the
    calibrated probabilities, and the calibration before and after goes to `calibration`."""
    task = get_task(data.task)
    y = {n: data.targets(n) for n in logits}
    raw = {n: task.outputs(z) for n, z in logits.items()}
    if not task.has_probabilities:  # regression: nothing to calibrate
        return Measured(
            {n: task.metrics(y[n], raw[n], data.labels) for n in raw}, raw, None, None, None
        )
    if cfg.eval.calibration == "none":
        record = skipped_record("eval.calibration is none: the probabilities are the model's own.")
    else:
        record = fit_temperature(logits["validation"], y["validation"], task)[1]
    log.info("calibration: %s", _calibration_line(record))
    scale = temperature_array(record["temperature"], len(data.labels))
    outputs = {n: task.outputs(scale_logits(z, scale)) for n, z in logits.items()}
    record["splits"] = {n: before_after(task, raw[n], outputs[n], y[n]) for n in outputs}
    # `loss` stays the model's own (what selected the weights, history.json's val_loss); the
    # other metrics, log loss included, are those of the calibrated probabilities.
    metrics = {
        n: {**task.metrics(y[n], outputs[n], data.labels), "loss": task.loss(y[n], raw[n])}
        for n in outputs
    }
    thresholds = summary = None
    if task.tuned_thresholds:
        cuts = tune_thresholds(y["validation"], raw["validation"], cfg.eval.thresholds)
        thresholds, summary, tuned = _tune_thresholds(
            cfg, data, outputs, scale_thresholds(cuts, scale)
        )
        # The loss does not depend on the cut; every other metric is taken at the tuned ones.
        metrics = {n: {**tuned[n], "loss": m["loss"]} for n, m in metrics.items()}
    for name in outputs:
        metrics[name]["ece"] = record["splits"][name]["after"]["ece"]
    metrics["calibration"] = record
    return Measured(metrics, outputs, thresholds, summary, record["temperature"])


def _calibration_line(record: dict[str, Any]) -> str:
    if not record["applied"]:
        return record["reason"]
    t, fit = record["temperature"], record["validation"]
    what = f"T={t:.3f}" if isinstance(t, float) else f"{len(t)} per-label temperatures"
    return f"{what} fitted on validation (ECE {fit['ece_before']:.4f} -> {fit['ece_fitted']:.4f})"


LINEAR_IS_THE_BASELINE = (
    "the model is the TF-IDF + linear model itself (model.architecture=linear): the comparison "
    "would compare it with itself"
)


def fit_and_evaluate_linear(cfg: RunConfig, data: PreparedData) -> Evaluation:
    """`model.architecture: linear`: no torch loop. One fit per penalty value on the training
    split, the best on validation by `train.metric` kept (`fit_linear`); multi-label thresholds
    tuned on validation; validation and test measured as any model's, no baseline comparison."""
    task = get_task(data.task)
    env = environment_record("cpu", "fp32", cfg.seed, data.file_hashes)
    metric = selection_metric(cfg, data.task)
    fitted = fit_linear(data, metric, cfg.seed, cfg.train.class_weights)
    features = fitted.model.features
    logits = {
        n: fitted.model.logits(features.transform(linear_texts(data.splits[n])))
        for n in EVALUATED_SPLITS
    }
    measured = _measure(cfg, data, logits)
    metrics, outputs, thresholds = measured.metrics, measured.outputs, measured.thresholds
    log.info(
        "%s, %s=%g chosen on validation %s, fitted in %.1f s",
        fitted.description, fitted.penalty, fitted.value, metric, fitted.fit_seconds,
    )  # fmt: skip
    for name in EVALUATED_SPLITS:
        log.info("%s: %s", name, task.summary_line(metrics[name]))
    if cfg.eval.baseline:
        metrics["baseline"] = {"skipped": LINEAR_IS_THE_BASELINE}
    fit = {
        "description": fitted.description,
        "metric": metric,
        "penalty": {"name": fitted.penalty, "value": fitted.value},
        "validation_scores": [{"value": v, "score": x} for v, x in fitted.scores.items()],
        "features": fitted.model.features.width,
        "fit_seconds": round(fitted.fit_seconds, 3),
    }
    state = TrainState(train_seconds=fitted.fit_seconds, extras={"linear": fit})
    loss = {
        "name": task.linear_name,
        "params": {fitted.penalty: fitted.value},
        "weights": _linear_class_weights(cfg, data) if task is SINGLE_LABEL else None,
        "siamese": None,
    }
    findings = diagnose(
        {}, [], metrics, {}, data.stats, cfg.train.class_weights, loss, config=cfg.to_dict()
    )
    diagnostics = {
        "monitor": {},
        "integrity": {},
        "loss": loss,
        "class_weights": loss["weights"],
        "findings": [f.to_dict() for f in findings],
    }
    return Evaluation(
        cfg, data, None, fitted.model, state, metrics, outputs, findings, diagnostics, "fp32",
        env, thresholds, measured.summary, measured.temperature,
    )  # fmt: skip


def _linear_class_weights(cfg: RunConfig, data: PreparedData) -> dict[str, float] | None:
    """The class weights logistic regression was given ({label: weight}), None for none."""
    setting = cfg.train.class_weights
    if setting == "none":
        return None
    if setting == "balanced":
        counts = data.stats["class_counts"]["train"]
        n, k = sum(counts.values()), len(data.labels)
        return {label: n / (k * max(counts.get(label, 0), 1)) for label in data.labels}
    return {label: float(setting.get(label, 1.0)) for label in data.labels}


def measure_baseline(
    cfg: RunConfig,
    data: PreparedData,
    outputs: dict[str, np.ndarray],
    thresholds: np.ndarray | None = None,
) -> dict[str, Any]:
    """The TF-IDF baseline fitted on the same split, and the paired comparison of the model's
    test `outputs` with it: metrics.json's `baseline`. Data that scikit-learn refuses is
    recorded and said (`skipped`): a baseline never ends a trained run."""
    task = get_task(data.task)
    metric = selection_metric(cfg, data.task)
    try:
        baseline = fit_baseline(
            data, metric, cfg.seed, cfg.train.class_weights, cfg.eval.thresholds
        )
    except ValueError as exc:
        log.warning("baseline not fitted: %s", exc)
        return {"skipped": f"the baseline could not be fitted: {exc}"}
    comparison = compare(
        task, data.targets("test"), outputs["test"], baseline.outputs["test"], data.labels,
        metric, thresholds, baseline.thresholds, seed=cfg.seed,
    )  # fmt: skip
    log.info(
        "baseline (%s, %s=%g, fitted in %.1f s): test %s",
        baseline.description, baseline.penalty, baseline.value, baseline.fit_seconds,
        task.summary_line(baseline.metrics["test"]),
    )  # fmt: skip
    log.info("model against baseline: %s", comparison_line(comparison))
    return {**baseline.to_dict(), "comparison": comparison}


def _tune_thresholds(
    cfg: RunConfig,
    data: PreparedData,
    probs_by_split: dict[str, np.ndarray],
    thresholds: np.ndarray | None = None,
) -> tuple[np.ndarray, dict, dict[str, dict[str, Any]]]:
    """Per-label thresholds tuned on validation (or the `thresholds` given: tuned before
    calibration and carried over); their effect against the default cut on validation and on
    test (reported, never used to choose anything); and each split's full metrics at them."""
    tcfg = cfg.eval.thresholds
    if thresholds is None:
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


# ---------------------------------------------------------------- with a run directory


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
        **_length_meta(cfg.model),
        "architecture": cfg.model.architecture,
        "base_model": cfg.model.name if cfg.model.architecture == "transformer" else None,
        "precision": precision,
        "seed": cfg.seed,
        "data_sha256": data.file_hashes,
    }


def _length_meta(model: ModelConfig) -> dict[str, Any]:
    """How the model reads a text; a linear model reads it whole."""
    if model.architecture == "linear":
        return {"max_length": None, "truncation": None, "head_tokens": None, "window": None}
    return {
        "max_length": model.max_length,
        "truncation": model.truncation,
        "head_tokens": model.head_tokens,
        "window": model.window.model_dump() if model.windows else None,
    }


def _on_main(procs: PartialState, make: Any) -> Any:
    """Run `make()` on the main process only and hand its result to every process."""
    value = make() if procs.is_main_process else None
    if procs.num_processes > 1:
        holder = [value]
        broadcast_object_list(holder, from_process=0)
        value = holder[0]
    return value


def _open_run(config, overrides, resume) -> tuple[RunConfig, RunDir | None]:
    """The config, and the run directory of a resumed run (a new run's directory is created
    once its data has been read: bad data leaves no empty directory, and --overwrite removes
    nothing before the new run can start)."""
    if resume is not None:
        run = RunDir(resume)
        if not run.has_checkpoint():
            raise TextclassError(
                f"{run.path}: no checkpoint to resume from (expected {run.checkpoints / 'last'})."
            )
        return load_config(run.config_path, overrides), run
    cfg = config if isinstance(config, RunConfig) else load_config(config, overrides)
    return cfg, None


def _check_output(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise TextclassError(f"--output {out} is a file; name a directory for the run.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        RunDir.create(out, out, overwrite)  # raises the "already exists" message


def _new_run(cfg: RunConfig, output, overwrite: bool, procs: PartialState) -> RunDir:
    base = cfg.output.dir / (cfg.output.name or cfg.name or "run")
    out = Path(output) if output else None
    return _on_main(procs, lambda: RunDir.create(base, out, overwrite))


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
    """Train, evaluate and save a model; returns where it went and its metrics.

    `config` is a RunConfig or a YAML path; `overrides` are `key=value` strings. With `resume`,
    the run directory of an interrupted run is continued from its last checkpoint (its saved
    config is used). `frames` passes pandas DataFrames ("train", optionally "validation" and
    "test") instead of files. An entry point: it applies the process-wide settings.
    """
    procs = PartialState()  # one process, or one of several under `accelerate launch`
    cfg, run = _open_run(config, overrides, resume)
    if run is None and output is not None:  # a taken --output fails before any work
        _check_output(Path(output), overwrite)
    configure_process(cfg.train.num_threads)
    set_seed(cfg.seed)
    data = prepare(cfg, frames)
    if run is not None and run.read(rundir.ENVIRONMENT, {}).get("data_sha256") != (
        data.file_hashes
    ):
        raise DataError(
            f"{run.path}: the data files changed since this run started, so it cannot be "
            "resumed exactly. Start a new run instead."
        )
    built = build_for(cfg, data)
    run = run or _new_run(cfg, output, overwrite, procs)
    result = train_in(
        run, cfg, data, built, callbacks=callbacks, resume=resume is not None, report=report,
        procs=procs,
    )  # fmt: skip
    return RunResult(
        run_dir=run.path,
        metrics=result.metrics,
        history=result.history,
        findings=result.findings,
        thresholds=result.threshold_summary,
        model=result.model,
    )


def build_for(cfg: RunConfig, data: PreparedData) -> Built | None:
    """Tokenizer, model and encoded splits (None for a linear model); their statistics (token
    lengths, truncation) join the data's."""
    built = None if cfg.model.architecture == "linear" else build(cfg, data)
    if built is not None:
        data.stats.update(built.stats)
    return built


def train_in(
    run: RunDir,
    cfg: RunConfig,
    data: PreparedData,
    built: Built | None,
    *,
    callbacks: list[Callback] | None = None,
    resume: bool = False,
    report: bool = True,
    procs: PartialState | None = None,
) -> Evaluation:
    """Train and evaluate into the run directory `run` (a new one, or an interrupted one with
    `resume`): config, environment and data statistics first, then every artifact."""
    procs = procs or PartialState()
    log.info("run directory: %s", run.path)
    if procs.is_main_process and not resume:
        device = choose_device(cfg.train.device) if built is not None else "cpu"
        precision = choose_precision(cfg.train.precision, device) if built is not None else "fp32"
        env = environment_record(device, precision, cfg.seed, data.file_hashes)
        run.write_config_text(cfg.to_yaml())
        run.write(rundir.ENVIRONMENT, env)
        run.write(rundir.DATA, data.stats)
    result = fit_and_evaluate(
        cfg, data, built=built, callbacks=callbacks, checkpoint_dir=run.checkpoints,
        resume=resume,
    )  # fmt: skip
    if procs.is_main_process:
        write_run(run, result, report=report, robustness=cfg.eval.robustness)
    procs.wait_for_everyone()
    return result


def measure_run_robustness(result: Evaluation) -> dict[str, Any]:
    """`eval.robustness`: the test split perturbed (`eval.robustness_perturbations`, seeded by
    the run's seed), predicted by the model as saved; the original predictions are reused."""
    from textclass.workflows.robustness import measure_robustness

    cfg = result.cfg
    record = measure_robustness(
        result.classifier(),
        result.data.splits["test"],
        outputs=result.outputs["test"],
        perturbations=cfg.eval.robustness_perturbations,
        seed=cfg.seed,
        batch_size=cfg.eval.batch_size,
    )
    log.info("robustness checks on test: %.1f s", record["seconds"])
    return {"split": "test", **record}


def write_run(
    run: RunDir, result: Evaluation, report: bool = True, robustness: bool = False
) -> None:
    """Every artifact of an evaluated run, through `RunDir`; with `robustness`, the checks
    (measured once the model and metrics are on disk); then the report."""
    from textclass.reporting.build import write_report

    run.write(rundir.HISTORY, result.state.to_json())
    save_model_dir(run.model_dir, result)
    run.write(rundir.METRICS, result.metrics)
    if result.threshold_summary is not None:
        run.write(rundir.THRESHOLDS, result.threshold_summary)
    for name in EVALUATED_SPLITS:
        run.write_predictions(name, result.predictions(name))
    run.write(rundir.DIAGNOSTICS, result.diagnostics)
    if robustness and result.robustness is None:
        result.robustness = measure_run_robustness(result)
    if result.robustness is not None:
        run.write(rundir.ROBUSTNESS, result.robustness)
    print_findings(result.findings, log)
    if report:
        paths = write_report(run.path)
        log.info("report: %s and %s", paths["md"], paths["html"])


def save_model_dir(model_dir: Path, result: Evaluation) -> None:
    """The selected weights, tokenizer, config, environment and label/cleaning metadata (a
    linear model: its arrays and settings instead of weights and tokenizer)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(result.model, LinearModel):
        result.model.save(model_dir)
    else:
        _save_torch_model(model_dir, result)
    (model_dir / rundir.CONFIG).write_text(result.cfg.to_yaml(), encoding="utf-8")
    rundir.write_json(model_dir / rundir.ENVIRONMENT, result.environment)
    rundir.write_json(model_dir / rundir.MODEL_META, result.model_meta())


def _save_torch_model(model_dir: Path, result: Evaluation) -> None:
    with quiet_transformers():
        result.model.save_pretrained(model_dir, safe_serialization=True)
        tokenizer = result.built.tokenizer
        # A plain `transformers` user truncates where the run did (not at the base model's
        # limit); `build_tokenizer` sets it already, a caller's own `built` may not have.
        tokenizer.model_max_length = result.cfg.model.max_length
        tokenizer.save_pretrained(model_dir)
