"""Robustness checks: perturb labelled texts, predict again, measure what moved.

    run = "runs/rotten_tomatoes"
    record = textclass.robustness(f"{run}/model", f"{run}/config.yaml")  # the run's test split
    record["perturbations"]["typo"]["flip_rate"]   # share of test predictions that flipped

`measure_robustness(clf, frame)` is the stage (a dict, no files): for each perturbation, every
text is perturbed (seeded, `textclass.data.perturb`) and cleaned as the model cleans its inputs;
only the texts the model would read differently (other token ids; the same text with an uncased
tokenizer is not) are predicted again, in one length-sorted batched call per perturbation; the
others keep their original prediction. `robustness(...)` reads the data, runs it and writes
robustness.json and robustness.md. Training runs it on the test split (`eval.robustness`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from textclass.config.tasks import SINGLE_LABEL
from textclass.data import length
from textclass.data.clean import clean_texts
from textclass.data.perturb import PERTURBATIONS, Spec, parse_specs, perturb
from textclass.data.prepare import label_targets
from textclass.errors import TextclassError
from textclass.evaluation.robustness import RESAMPLES, expected_flip_record, flip_record
from textclass.inference.classifier import Classifier
from textclass.workflows import rundir

log = logging.getLogger(__name__)

EXAMPLES = 3  # flipped (or most moved) rows kept per perturbation


def skip_reason(spec: Spec, clf: Classifier) -> str | None:
    """Why `spec` cannot run for this model here (None: it runs)."""
    reason = spec.perturbation.unavailable()
    if reason:
        return reason
    if spec.perturbation.expected_flip and not (clf.task is SINGLE_LABEL and len(clf.labels) == 2):
        return (
            "negation templates are an expected-flip check for binary single-label "
            f"(sentiment-like) tasks; this model is {clf.task} with {len(clf.labels)} label(s)"
        )
    return None


def _read_differently(clf: Classifier, before: list[str], after: list[str]) -> np.ndarray:
    """Per text, whether the model reads the perturbed text differently: other token ids (a
    model without a tokenizer of its own, e.g. linear or an ensemble: another string)."""
    differ = np.fromiter((a != b for a, b in zip(before, after, strict=True)), bool, len(before))
    tokenizer = getattr(clf, "tokenizer", None)
    rows = np.flatnonzero(differ)
    if tokenizer is None or not len(rows):
        return differ
    ids = length.tokenize(tokenizer, [before[i] for i in rows] + [after[i] for i in rows])
    differ[rows] = [ids[j] != ids[j + len(rows)] for j in range(len(rows))]
    return differ


def _examples(
    clf: Classifier, frame: pd.DataFrame, perturbed: list[str], before, after, moved: np.ndarray
) -> list[dict[str, Any]]:
    """Up to EXAMPLES rows whose prediction moved most (the flipped ones, in order)."""
    order = np.argsort(-moved, kind="stable")[:EXAMPLES]
    rows = [int(i) for i in order if moved[i] > 0]
    fmt = clf.task.format_prediction
    old = clf.decide(before[rows]) if rows else []
    new = clf.decide(after[rows]) if rows else []
    return [
        {
            "text": frame["text"].iat[i],
            "perturbed": perturbed[i],
            "gold": fmt(frame["label"].iat[i]),
            "before": fmt(a),
            "after": fmt(b),
        }
        for i, a, b in zip(rows, old, new, strict=True)
    ]


def _one(
    clf: Classifier, spec: Spec, frame: pd.DataFrame, y: np.ndarray, outputs: np.ndarray,
    seed: int, batch_size: int,
) -> dict[str, Any]:  # fmt: skip
    """One perturbation's record: perturb, clean, predict what the model reads differently."""
    started = time.perf_counter()
    texts = frame["text"].tolist()
    pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
    perturbed = clean_texts(perturb(texts, spec, seed), clf.cleaning)
    changed = np.fromiter((a != b for a, b in zip(texts, perturbed, strict=True)), bool, len(texts))
    reads = _read_differently(clf, texts, perturbed)
    after = outputs.copy()
    rows = np.flatnonzero(reads)
    if len(rows):
        after[rows] = clf.predict_outputs(
            [perturbed[i] for i in rows],
            [pairs[i] for i in rows] if pairs is not None else None,
            batch_size=batch_size,
            clean=False,
        )
    task, thresholds = clf.task, clf.thresholds if clf.task.tuned_thresholds else None
    if spec.perturbation.expected_flip:
        record = expected_flip_record(task, y, outputs, after, changed, thresholds, seed)
    else:
        record = flip_record(task, y, outputs, after, changed, clf.labels, thresholds, seed)
    flips = task.decisions_differ(outputs, after, thresholds)
    moved = np.abs(after - outputs).reshape(len(y), -1).max(axis=1) if flips is None else flips
    return {
        "name": spec.name,
        "params": spec.params,
        "description": spec.perturbation.description,
        **record,
        "model_input_changed": int(reads.sum()),
        "examples": _examples(clf, frame, perturbed, outputs, after, np.asarray(moved, float)),
        "seconds": round(time.perf_counter() - started, 2),
    }


def measure_robustness(
    clf: Classifier,
    frame: pd.DataFrame,
    *,
    outputs: np.ndarray | None = None,
    perturbations: list[str | dict[str, Any]] | None = None,
    seed: int = 0,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Every perturbation's flips and metric change on `frame` (standard columns `text`,
    `label`, optional `text_pair`; cleaned as the model cleans): a JSON-ready dict. `outputs`:
    the model's outputs on the original texts when at hand (else predicted here);
    `perturbations`: names or `{name, **settings}` (default: all registered)."""
    started = time.perf_counter()
    specs = parse_specs(perturbations if perturbations is not None else list(PERTURBATIONS))
    y = label_targets(frame, clf.labels, clf.task)
    if outputs is None:
        pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
        outputs = clf.predict_outputs(
            frame["text"].tolist(), pairs, batch_size=batch_size, clean=False
        )
    record: dict[str, Any] = {
        "rows": len(frame),
        "seed": seed,
        "task": clf.task.name,
        "metric": clf.task.robustness_metric,
        "resamples": RESAMPLES,
        "confidence": 0.95,
        "perturbations": {},
        "expected_flip": {},
        "skipped": {},
    }
    for spec in specs:
        reason = skip_reason(spec, clf)
        if reason:
            record["skipped"][spec.label] = reason
            log.info("robustness: %s skipped: %s", spec.label, reason)
            continue
        one = _one(clf, spec, frame, y, outputs, seed, batch_size)
        record["expected_flip" if spec.perturbation.expected_flip else "perturbations"][
            spec.label
        ] = one
        log.info("robustness: %s", summary_line(spec.label, one))
    record["seconds"] = round(time.perf_counter() - started, 2)
    return record


def summary_line(label: str, one: dict[str, Any]) -> str:
    """One perturbation's result in a line (the log, the CLI)."""
    changed = f"{one['changed_share']:.1%} of texts changed"
    if one.get("flip_rate") is None:
        moved = one.get("mean_abs_change")
        return f"{label}: {changed}, mean |change| {moved:.4g}" if moved is not None else label
    flips = f"{one['flip_rate']:.1%} of predictions flip"
    if "difference" not in one:
        return f"{label}: {changed}, {flips} (expected to flip)"
    return (
        f"{label}: {changed}, {flips}; {one['metric']} {one['original']:.4f} -> "
        f"{one['perturbed']:.4f} ({one['difference']:+.4f})"
    )


# ---------------------------------------------------------------- from files


def read_rows(
    clf: Classifier,
    data: str | Path | pd.DataFrame,
    split: str | None = None,
    **columns: Any,
) -> tuple[pd.DataFrame, str]:
    """The labelled rows to perturb and where they came from: a data file or DataFrame (read as
    `textclass evaluate` reads it), or a YAML config whose data is prepared as training
    prepares it, `split` (default test) taken; a run's own config.yaml gives its own split."""
    from textclass.config.reference import CONFIG_SUFFIXES

    is_config = not isinstance(data, pd.DataFrame) and Path(data).suffix.lower() in CONFIG_SUFFIXES
    if not is_config:
        if split is not None:
            raise TextclassError(
                f"--split {split}: a split is taken from a config's data (the run's "
                f"config.yaml); {data} is a data file, whose rows are all used. Remove --split."
            )
        from textclass.workflows.evaluate import read_labelled

        frame, _ = read_labelled(clf, data, **columns)
        return frame, "DataFrame" if isinstance(data, pd.DataFrame) else str(data)
    from textclass.config.load import load_config
    from textclass.data.prepare import prepare_data
    from textclass.workflows.evaluate import check_labels

    cfg = load_config(data)
    prepared = prepare_data(cfg.data, cfg.seed)
    split = split or "test"
    if split not in prepared.splits:
        raise TextclassError(
            f"--split {split}: the data of {data} has the splits {', '.join(prepared.splits)}."
        )
    where = f"{data} ({split} split)"
    check_labels(prepared.splits[split], clf, where)
    return prepared.splits[split], where


def robustness(
    model_dir: str | Path,
    data: str | Path | pd.DataFrame,
    *,
    split: str | None = None,
    perturbations: list[str | dict[str, Any]] | None = None,
    seed: int | None = None,
    output: str | Path | None = None,
    overwrite: bool = False,
    batch_size: int = 64,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    encoding: str = "utf-8",
) -> dict[str, Any]:
    """The robustness record (`measure_robustness`) of a saved model on labelled data: a data
    file or DataFrame, or a YAML config and its `split` (default test). `seed` defaults to the
    model's training seed, so the run's config.yaml reproduces its report's numbers. With
    `output`, robustness.json and robustness.md are written into that directory."""
    try:
        specs = parse_specs(perturbations if perturbations is not None else list(PERTURBATIONS))
    except ValueError as exc:
        raise TextclassError(f"perturbations: {'; '.join(str(exc).splitlines())}") from None
    targets = _outputs(Path(output), overwrite) if output is not None else None
    clf = Classifier.load(model_dir)
    columns = {"text_column": text_column, "text_pair_column": text_pair_column}
    columns |= {"label_column": label_column, "encoding": encoding}
    frame, where = read_rows(clf, data, split, **columns)
    if frame.empty:
        raise TextclassError(f"{where}: no labelled rows to perturb.")
    seed = int(clf.meta.get("seed", 0)) if seed is None else seed
    record = measure_robustness(
        clf, frame, perturbations=[s.to_config() for s in specs], seed=seed, batch_size=batch_size
    )
    record = {"model": str(model_dir), "data": where, **record}
    if targets is not None:
        write_robustness(targets, record)
    return record


def _outputs(directory: Path, overwrite: bool) -> dict[str, Path]:
    """The files `--output DIR` will hold; refused up front when one exists (no --overwrite)."""
    if directory.exists() and not directory.is_dir():
        raise TextclassError(f"--output {directory} is a file; name a directory.")
    targets = {"json": directory / rundir.ROBUSTNESS, "md": directory / rundir.ROBUSTNESS_REPORT}
    for path in targets.values():
        if path.exists() and not overwrite:
            raise TextclassError(f"{path} exists; choose another --output or pass --overwrite.")
    return targets


def write_robustness(targets: dict[str, Path], record: dict[str, Any]) -> None:
    """robustness.json (the record) and robustness.md (the report section's tables)."""
    from textclass.reporting.render import render_markdown
    from textclass.reporting.sections import robustness as section

    report = {"robustness": record}
    title = f"Robustness of {record.get('model', 'the model')} on {record.get('data', 'the data')}"
    blocks = [("h1", title), *section.blocks(report)[1:], *section.error_blocks(report)]
    targets["json"].parent.mkdir(parents=True, exist_ok=True)
    rundir.write_json(targets["json"], record)
    targets["md"].write_text(render_markdown(blocks, "", {}), encoding="utf-8")
