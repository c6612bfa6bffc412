"""`textclass audit`: every check of the data audit, before any training.

    result = textclass.audit("configs/rotten_tomatoes.yaml", output="runs/rt-audit")
    result.report["label_errors"]["flagged"], result.issues.head()

The data is read, cleaned and split exactly as `textclass train` would (same config, same seed),
but not changed: `data.near_duplicates` and `data.leakage` are reported as what they would do.
Then the checks of `textclass.audit` run on the splits:

- class balance per split; text lengths against `model.max_length` (in the run's tokens when
  its tokenizer is pretrained, else in words);
- exact and near-duplicates within and across splits, label conflicts, odd texts (the cheap
  checks every training run also starts with);
- likely label errors (cleanlab), on out-of-fold probabilities of a TF-IDF model over every
  split, or of a `textclass cv` run (`oof`: its directory or oof_predictions.csv; the training
  and validation splits it pooled).

`audit` writes AUDIT_DIR/audit.json (the data), audit.md and audit.html (rendered, with figures),
and with `export_issues` a CSV of every flagged row for a person to relabel (`issues_frame`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from textclass.audit import checks, labels, profile
from textclass.audit.actions import leakage_error
from textclass.config.load import load_config
from textclass.config.schema import RunConfig
from textclass.data.prepare import PreparedData
from textclass.errors import TextclassError
from textclass.workflows import rundir
from textclass.workflows.rundir import RunDir

log = logging.getLogger(__name__)

LISTED = 500  # pairs, label errors and texts of each kind kept in audit.json
ISSUE_COLUMNS = [
    "split", "row", "text", "label", "issue", "suggested_label", "score", "other_split",
    "other_row", "other_text", "other_label", "group", "detail",
]  # fmt: skip


@dataclass
class AuditResult:
    output: Path
    report: dict[str, Any]  # audit.json
    issues: pd.DataFrame  # every flagged row (ISSUE_COLUMNS), what --export-issues writes
    paths: dict[str, Path]


def audit(
    config: RunConfig | str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    output: str | Path | None = None,
    export_issues: str | Path | None = None,
    oof: str | Path | None = None,
    overwrite: bool = False,
    frames: dict[str, pd.DataFrame] | None = None,
) -> AuditResult:
    """Audit the data `config` describes (see the module docstring) into `output` (default:
    output.dir/NAME-audit); returns the report, the flagged rows and the paths written."""
    from textclass.workflows.train import prepare

    cfg = config if isinstance(config, RunConfig) else load_config(config, overrides)
    target = Path(output) if output else cfg.output.dir / f"{cfg.output.name or cfg.name}-audit"
    if export_issues is not None:
        _check_export(Path(export_issues), overwrite)
    run = RunDir.create(target, target, overwrite)
    data = prepare(cfg, frames, audit=False)
    acted = None  # a cross-validation run pooled the rows left after the config's actions
    if oof is not None and "drop" in (cfg.data.leakage, cfg.data.near_duplicates):
        acted = prepare(cfg, frames)
    report, issues = build_audit(cfg, data, oof, acted)
    from textclass.reporting.audit import write_audit_report

    run.write(rundir.AUDIT["json"], report)
    paths = write_audit_report(run.path)
    paths["json"] = run.file(rundir.AUDIT["json"])
    if export_issues is not None:
        issues.to_csv(export_issues, index=False)
        paths["issues"] = Path(export_issues)
    return AuditResult(run.path, report, issues, paths)


def _check_export(path: Path, overwrite: bool) -> None:
    if path.suffix.lower() != ".csv":
        raise TextclassError(f"--export-issues {path}: the file is CSV; name it *.csv.")
    if path.is_dir() or not path.parent.is_dir():
        raise TextclassError(f"--export-issues {path}: name a file in an existing folder.")
    if path.exists() and not overwrite:
        raise TextclassError(f"--export-issues {path} exists; choose another name or --overwrite.")


def build_audit(
    cfg: RunConfig,
    data: PreparedData,
    oof: str | Path | None = None,
    acted: PreparedData | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The audit of prepared (unchanged) data as JSON-serialisable data, and its flagged rows;
    label errors from `oof` are looked for in `acted` (the data after data.leakage /
    data.near_duplicates removed rows, as `textclass cv` saw it) when given."""
    started = time.perf_counter()
    splits, task = data.splits, data.task
    found = checks.cheap_checks(splits, cfg.data.near_duplicate_threshold, task)
    report: dict[str, Any] = {
        "name": cfg.name,
        "data": {"sources": data.stats["sources"], "task": task, "labels": data.labels},
        "sizes": {name: len(frame) for name, frame in splits.items()},
        "cleaning": data.stats.get("cleaning", {}),
        "balance": profile.class_balance(splits, task),
        "lengths": measure_lengths(cfg, data),
        "duplicates": checks.record(found, splits, LISTED)
        | {"actions": preview(cfg, found, splits)},
    }
    errors = find_label_errors(cfg, acted if acted is not None else data, oof)
    if acted is not None and errors is not None:
        errors = _renumbered(errors, data)
    report["label_errors"] = errors.record if errors else _skipped(data)
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report, issues_frame(found, errors, splits)


def preview(
    cfg: RunConfig, found: checks.Findings, splits: dict[str, pd.DataFrame]
) -> dict[str, Any]:
    """What `data.leakage` and `data.near_duplicates` would do to this data in `textclass
    train` (nothing is changed here)."""
    d = cfg.data
    leaking, redundant = set(found.leaking.tolist()), set(found.redundant.tolist())
    drop_leaking = leaking if d.leakage == "drop" else set()
    out = {
        "leakage": d.leakage,
        "near_duplicates": d.near_duplicates,
        "would_drop": {
            "leakage": len(drop_leaking),
            "near_duplicates": len(redundant - drop_leaking) if d.near_duplicates == "drop" else 0,
        },
        "would_stop": None,
    }
    if leaking and d.leakage == "error":
        out["would_stop"] = leakage_error(found, splits)
    return out


def _skipped(data: PreparedData) -> dict[str, Any]:
    return {"skipped": "regression: the targets are numbers; there is no class to flip"}


# ---------------------------------------------------------------- lengths


def measure_lengths(cfg: RunConfig, data: PreparedData) -> dict[str, Any]:
    """Text lengths per split against the input length: in tokens of the pretrained tokenizer
    (special tokens included; `auto` resolved as training resolves it), or in words when the
    tokenizer is learnt from the data (BiLSTM); a linear model reads whole texts."""
    model, splits = cfg.model, data.splits
    if model.architecture != "transformer":
        words = {n: f["text"].str.split().map(len).to_numpy() for n, f in splits.items()}
        if model.architecture == "linear":
            return profile.text_lengths(words, None, "words (the linear model reads whole texts)")
        cap = model.max_length if isinstance(model.max_length, int) else None
        if cap is None:
            cap = int(np.ceil(np.percentile(words["train"] + 2, model.length_percentile)))
        unit = "words (+2); the BiLSTM's tokenizer is learnt from the training texts"
        return profile.text_lengths({n: w + 2 for n, w in words.items()}, cap, unit)
    return _token_lengths(cfg, data)


def _token_lengths(cfg: RunConfig, data: PreparedData) -> dict[str, Any]:
    from transformers import AutoConfig

    from textclass.data import length
    from textclass.models.build import load_tokenizer, quiet_transformers, resolve
    from textclass.workflows.build import training_lengths

    with quiet_transformers():
        tokenizer = load_tokenizer(cfg.model.name)
        encoder = AutoConfig.from_pretrained(resolve(cfg.model.name))
    tokens = {name: training_lengths(tokenizer, frame) for name, frame in data.splits.items()}
    limit = length.position_limit(tokenizer, encoder)
    pairs = "text_pair" in data.splits["train"].columns
    choice = length.resolve(cfg.model, tokens["train"], limit, pairs, cfg.model.name)
    unit = f"tokens of the {cfg.model.name} tokenizer, special tokens included"
    out = profile.text_lengths(tokens, choice.max_length, unit)
    return out | {"truncation": choice.truncation, "reason": choice.reason}


# ---------------------------------------------------------------- label errors


@dataclass
class LabelErrors:
    frame: pd.DataFrame  # the rows examined: split, row, text, label
    found: labels.LabelIssues
    record: dict[str, Any]  # audit.json `label_errors`


def find_label_errors(
    cfg: RunConfig, data: PreparedData, oof: str | Path | None
) -> LabelErrors | None:
    """Likely label errors over every split (TF-IDF out-of-fold probabilities), or over the
    training and validation splits a cross-validation run pooled (`oof`). None: regression."""
    from textclass.config.tasks import get_task

    if not get_task(data.task).has_labels:
        return None
    started = time.perf_counter()
    names = ["train", "validation"] if oof is not None else list(data.splits)
    frame = pooled_rows(data, names)
    if oof is not None:
        probs = labels.read_oof(oof, frame, data.labels, data.task)
        source = f"out-of-fold probabilities of a cross-validation run ({labels.oof_file(oof)})"
    else:
        probs = labels.tfidf_oof(frame, data.labels, data.task, cfg.seed)
        source = labels.TFIDF
    found = labels.label_issues(frame, data.labels, data.task, probs, source)
    found.seconds = time.perf_counter() - started  # the probabilities included
    return LabelErrors(frame, found, _errors_record(frame, found, names))


def pooled_rows(data: PreparedData, names: list[str]) -> pd.DataFrame:
    """The rows of the splits `names`, one frame, with their `split` and `row` (position)."""
    return pd.concat(
        [data.splits[n].assign(split=n, row=np.arange(len(data.splits[n]))) for n in names],
        ignore_index=True,
    )


def _renumbered(errors: LabelErrors, data: PreparedData) -> LabelErrors:
    """Label errors found in the data after the actions, their rows numbered as in `data`
    (before them: the actions only remove training rows, so every text is still there)."""
    frame = errors.frame.copy()
    for name in frame["split"].unique():
        texts = data.splits[name]["text"]
        position = dict(zip(texts[::-1], range(len(texts) - 1, -1, -1), strict=True))  # first
        mine = frame["split"] == name
        frame.loc[mine, "row"] = frame.loc[mine, "text"].map(position).to_numpy()
    names = list(dict.fromkeys(frame["split"]))
    return LabelErrors(frame, errors.found, _errors_record(frame, errors.found, names))


def _errors_record(
    frame: pd.DataFrame, found: labels.LabelIssues, names: list[str]
) -> dict[str, Any]:
    listed = []
    for position in found.flagged[:LISTED].tolist():
        row = frame.iloc[position]
        listed.append(
            {
                "split": row["split"],
                "row": int(row["row"]),
                "text": str(row["text"]),
                "label": _label(row["label"]),
                "suggested": found.suggested[position],
                "given_label_quality": round(float(found.quality[position]), 4),
                "suggested_probability": round(float(found.confidence[position]), 4),
            }
        )
    quality = found.quality
    return {
        "source": found.source,
        "splits": names,
        "rows": len(frame),
        "flagged": len(found.flagged),
        "oof_accuracy": round(found.oof_accuracy, 4),
        "quality_histogram": np.histogram(quality, bins=20, range=(0, 1))[0].tolist(),
        "flagged_quality_histogram": np.histogram(quality[found.flagged], bins=20, range=(0, 1))[
            0
        ].tolist(),
        "seconds": round(found.seconds, 2),
        "issues": listed,
    }


def _label(value: Any) -> str:
    return "|".join(value) if isinstance(value, (list, tuple)) else str(value)


# ---------------------------------------------------------------- flagged rows


def issues_frame(
    found: checks.Findings, errors: LabelErrors | None, splits: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """Every flagged row, one line per (row, issue): label errors (most likely first), label
    conflicts, leakage, duplicates within a split, odd texts."""
    d = found.duplicates
    parts: list[dict[str, Any]] = []
    if errors is not None:
        parts += _error_rows(errors)
    for issue, pairs in (
        ("label_conflict", checks.conflict_pairs(d) if found.has_labels else d.pairs.iloc[:0]),
        ("leakage", checks.leakage_pairs(d)),
        ("duplicate", checks.within_pairs(d)),
    ):
        flagged = "a" if issue == "leakage" else "b"  # leakage: the training row (`drop`)
        for p in checks.pair_records(d, pairs, splits, None):
            parts.append(_pair_row(issue, p, flagged))
    for split, by_check in found.flags.items():
        for issue, rows in by_check.items():
            for row in rows:
                frame = splits[split]
                parts.append(
                    {"split": split, "row": row, "text": frame["text"].iat[row], "issue": issue,
                     "label": _label(frame["label"].iat[row]) if "label" in frame else None}
                )  # fmt: skip
    return pd.DataFrame(parts, columns=ISSUE_COLUMNS)


def _error_rows(errors: LabelErrors) -> list[dict[str, Any]]:
    f, frame = errors.found, errors.frame
    out = []
    for position in f.flagged.tolist():
        row = frame.iloc[position]
        out.append(
            {
                "split": row["split"],
                "row": int(row["row"]),
                "text": row["text"],
                "label": _label(row["label"]),
                "issue": "label_error",
                "suggested_label": f.suggested[position],
                "score": round(float(f.quality[position]), 4),
                "group": row.get("group"),
                "detail": f"probability of the suggested label {f.confidence[position]:.3f} "
                f"({f.source})",
            }
        )
    return out


def _pair_row(issue: str, p: dict[str, Any], flagged: str) -> dict[str, Any]:
    """A pair as its `flagged` side (the training row of a leak, else the later text) against
    the other."""
    b, a = (p["a"], p["b"]) if flagged == "a" else (p["b"], p["a"])
    kind = "exact" if p["exact"] else "near"
    group = "" if p["same_group"] is None else f"; same group: {'yes' if p['same_group'] else 'no'}"
    return {
        "split": b["split"],
        "row": b["row"],
        "text": b["text"],
        "label": b["label"],
        "issue": issue,
        "score": p["similarity"],
        "other_split": a["split"],
        "other_row": a["row"],
        "other_text": a["text"],
        "other_label": a["label"],
        "group": b.get("group"),
        "detail": f"{kind} duplicate{group}",
    }
