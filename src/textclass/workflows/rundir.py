"""The run directory: the one module that knows artifact names.

    runs/<name>/
      config.yaml            the full run config (auto values resolved)
      environment.json       versions, hardware, seed, data hashes
      data.json              sizes, cleaning counts, class counts, token lengths
      history.json           the trainer state: one record per evaluation
      metrics.json           validation and test metrics, per the task
      thresholds.json        multi-label: tuned decision thresholds and their effect
      diagnostics.json       the training monitor, integrity check, loss, findings
      robustness.json        eval.robustness: test predictions under perturbations
      predictions.csv        test rows: text, gold, predicted, per-task output columns
      predictions_validation.csv
      report.md / report.html / report.json / report_files/
      checkpoints/best, checkpoints/last   (Accelerate state; `train --resume`)
      metrics_test_set.json, predictions_test_set.csv   (a cross-validation fold: the test split)
      model/                 a Hugging Face model directory + textclass.json + config.yaml
                             (linear: linear.safetensors + linear.json instead of HF files)

    AUDIT_DIR/ (`textclass audit`): audit.json, audit.md / audit.html, report_files/

    STUDY_DIR/ (`textclass tune`): study.json, study.journal, trials/NNNN/ (run directories),
      best -> trials/NNNN, best_config.yaml, study_report.md / .html

Torch-free: reports read run directories without loading torch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from textclass.errors import TextclassError

CONFIG = "config.yaml"
ENVIRONMENT = "environment.json"
DATA = "data.json"
HISTORY = "history.json"
METRICS = "metrics.json"
THRESHOLDS = "thresholds.json"
DIAGNOSTICS = "diagnostics.json"
ROBUSTNESS = "robustness.json"  # flips and metric changes under perturbations (a run's test split)
ROBUSTNESS_REPORT = "robustness.md"  # `textclass robustness --output DIR`: the table, rendered
PREDICTIONS = {"test": "predictions.csv", "validation": "predictions_validation.csv"}
REPORT = {"md": "report.md", "html": "report.html", "json": "report.json"}
FIGURES = "report_files"  # the report's PNG figures
CHECKPOINTS = "checkpoints"
MODEL = "model"
COMPARISON = {"md": "comparison.md", "json": "comparison.json"}
# A cross-validation directory (`textclass cv`): fold_1/ ... fold_K/ are run directories.
CV_SUMMARY = "cv.json"  # folds, per-fold and pooled metrics, what has been done
CV_FOLD = "fold_{k}"  # fold k's run directory (k = 1..K)
OOF_PREDICTIONS = "oof_predictions.csv"  # every pooled row once, from the model that never saw it
CV_REPORT = {"md": "cv_report.md", "html": "cv_report.html"}
CV_TEST_SET = "metrics_test_set.json"  # in a fold's run directory: the fold model on the test split
CV_TEST_PREDICTIONS = "predictions_test_set.csv"
# Columns of a predictions file read back exactly as written: labels are strings whatever
# they look like (`0`, `007`, `1.0`, `True`, `NA`); the `prob_<label>` columns are numbers.
# (A regression run's gold and predicted values are read as text too; its section parses them.)
PREDICTION_TEXT_COLUMNS = ("text", "text_pair", "gold", "predicted")

# A study directory (`textclass tune`): trials/0000/ ... are run directories.
STUDY_SUMMARY = "study.json"  # what identifies the study, its trials, best, importances, pruning
STUDY_JOURNAL = "study.journal"  # Optuna's journal file storage (the default; workers share it)
STUDY_LOCK = "study.lock"  # taken while a worker counts the trials and asks for the next one
STUDY_TRIALS = "trials"
STUDY_TRIAL = "trials/{n:04d}"  # trial n's run directory (--cv: fold_1/ ... fold_K/ inside)
STUDY_BEST = "best"  # a symlink to the best trial's run directory
STUDY_BEST_POINTER = "best.txt"  # where symlinks fail: the best trial's directory, relative
BEST_CONFIG = "best_config.yaml"  # the best parameters applied: `textclass train best_config.yaml`
STUDY_REPORT = {"md": "study_report.md", "html": "study_report.html"}

# Inside a model directory (besides the Hugging Face files):
MODEL_META = "textclass.json"  # labels, task, columns, cleaning, max length, thresholds, ...
WEIGHTS = "model.safetensors"
HF_CONFIG = "config.json"
ONNX = "model.onnx"  # an exported directory (`textclass export`)
LINEAR_WEIGHTS = "linear.safetensors"  # a linear model's arrays (textclass.models.linear)
LINEAR_SETTINGS = "linear.json"  # its feature settings, estimator, labels and task
TRAINER_STATE = "trainer_state.json"  # in each checkpoint, beside Accelerate's files
AVERAGE_STATE = "average.safetensors"  # train.average's snapshots, in each checkpoint

# An audit directory (`textclass audit`): the data audit as data, and rendered.
AUDIT = {"json": "audit.json", "md": "audit.md", "html": "audit.html"}

# An ensemble directory (`textclass ensemble`): one file that references its members.
ENSEMBLE = "ensemble.json"


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a crash never leaves half a file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_predictions_file(path: Path) -> pd.DataFrame:
    """A predictions file with its text and label columns as strings, exactly as written: no
    `0`/`1` turned into integers, no `007` into 7, no `NA` or `null` into a missing value."""
    header = pd.read_csv(path, nrows=0).columns
    dtype = {column: str for column in header if column in PREDICTION_TEXT_COLUMNS}
    return pd.read_csv(path, dtype=dtype, keep_default_na=False)


def prediction_outputs(
    frame: pd.DataFrame, labels: list[str], probabilities: bool, where: Path | str = "predictions"
) -> np.ndarray:
    """A task's outputs as a predictions file holds them: the `prob_<label>` columns in `labels`
    order, or (`probabilities` false: regression) the predicted values; float64."""
    columns = [f"prob_{label}" for label in labels] if probabilities else ["predicted"]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TextclassError(f"{where} has no column(s) {', '.join(missing)}.")
    values = frame[columns].apply(pd.to_numeric).to_numpy(dtype=np.float64)
    return values if probabilities else values[:, 0]


class RunDir:
    """Typed access to one run directory's files."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ---- creation
    @classmethod
    def create(cls, base: Path, output: Path | None = None, overwrite: bool = False) -> RunDir:
        """A fresh directory: `output` as given (refused when not empty, unless `overwrite`),
        or `base` made unique (`-2`, `-3`, ...). Nothing existing is reused silently."""
        if output is not None:
            target = Path(output)
            if target.exists() and any(target.iterdir()):
                if not overwrite:
                    raise TextclassError(
                        f"{target} already exists and is not empty. Choose another --output, "
                        f"continue an interrupted run with `textclass train --resume {target}`, "
                        "or replace it with --overwrite."
                    )
                shutil.rmtree(target)
        else:
            target, n = base, 1
            while target.exists():
                if overwrite and n == 1:
                    shutil.rmtree(target)
                    break
                n += 1
                target = base.with_name(f"{base.name}-{n}")
        target.mkdir(parents=True, exist_ok=True)
        return cls(target)

    # ---- paths
    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def model_dir(self) -> Path:
        return self.path / MODEL

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    def predictions_path(self, split: str) -> Path:
        return self.path / PREDICTIONS[split]

    def report_path(self, kind: str) -> Path:
        return self.path / REPORT[kind]

    @property
    def figures(self) -> Path:
        return self.path / FIGURES

    def has_checkpoint(self) -> bool:
        return (self.checkpoints / "last").is_dir()

    # ---- JSON artifacts
    def write(self, name: str, data: Any) -> None:
        write_json(self.path / name, data)

    def read(self, name: str, default: Any = None) -> Any:
        path = self.path / name
        return read_json(path) if path.is_file() else default

    def write_config_text(self, text: str) -> None:
        self.config_path.write_text(text, encoding="utf-8")

    def read_config(self) -> dict[str, Any]:
        import yaml

        return yaml.safe_load(self.config_path.read_text(encoding="utf-8"))

    def model_meta(self) -> dict[str, Any]:
        return read_json(self.model_dir / MODEL_META)

    # ---- tables
    def write_predictions(self, split: str, frame: pd.DataFrame) -> None:
        frame.to_csv(self.predictions_path(split), index=False)

    def read_predictions(self, split: str) -> pd.DataFrame | None:
        path = self.predictions_path(split)
        return read_predictions_file(path) if path.is_file() else None
