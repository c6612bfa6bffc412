"""textclass: train, evaluate, diagnose and serve text classifiers from one config file.

import textclass
result = textclass.train("configs/rotten_tomatoes.yaml", ["train.epochs=1"])
clf = textclass.Classifier.load(result.model_dir)
clf.predict(["great film"])  # -> ["fresh"]

The names below are imported on first use (PEP 562), so `import textclass.reporting` or the
config alone does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AuditResult": "textclass.workflows.audit",
    "Classifier": "textclass.inference.classifier",
    "ConfigError": "textclass.errors",
    "DataError": "textclass.errors",
    "TextclassError": "textclass.errors",
    "RunConfig": "textclass.config.schema",
    "load_config": "textclass.config.load",
    "RunResult": "textclass.workflows.train",
    "train": "textclass.workflows.train",
    "fit_and_evaluate": "textclass.workflows.train",
    "cross_validate": "textclass.workflows.crossval",
    "CVResult": "textclass.workflows.crossval",
    "evaluate_model": "textclass.workflows.evaluate",
    "predict_file": "textclass.workflows.predict",
    "robustness": "textclass.workflows.robustness",
    "build_ensemble": "textclass.workflows.ensemble",
    "tune": "textclass.workflows.search",
    "audit": "textclass.workflows.audit",
    "TuneResult": "textclass.workflows.search",
}

__all__ = [
    "AuditResult",
    "CVResult",
    "Classifier",
    "ConfigError",
    "DataError",
    "RunConfig",
    "RunResult",
    "TextclassError",
    "TuneResult",
    "audit",
    "build_ensemble",
    "cross_validate",
    "evaluate_model",
    "fit_and_evaluate",
    "load_config",
    "predict_file",
    "robustness",
    "train",
    "tune",
]
__version__ = "0.1.0"

if TYPE_CHECKING:  # for type checkers and IDEs; at run time see __getattr__
    from textclass.config.load import load_config
    from textclass.config.schema import RunConfig
    from textclass.errors import ConfigError, DataError, TextclassError
    from textclass.inference.classifier import Classifier
    from textclass.workflows.audit import AuditResult, audit
    from textclass.workflows.crossval import CVResult, cross_validate
    from textclass.workflows.ensemble import build_ensemble
    from textclass.workflows.evaluate import evaluate_model
    from textclass.workflows.predict import predict_file
    from textclass.workflows.robustness import robustness
    from textclass.workflows.search import TuneResult, tune
    from textclass.workflows.train import RunResult, fit_and_evaluate, train


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'textclass' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
