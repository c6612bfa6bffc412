"""textclass: train, evaluate, diagnose and serve text classifiers from one config file.

import textclass
result = textclass.train("configs/rotten_tomatoes.yaml", ["train.epochs=1"])
clf = textclass.Classifier.load(result.model_dir)
clf.predict(["great film"])  # -> ["fresh"]
"""

from textclass.classifier import Classifier
from textclass.config import RunConfig, load_config
from textclass.errors import ConfigError, DataError, TextclassError
from textclass.run import RunResult, evaluate_model, predict_file, train

__all__ = [
    "Classifier",
    "ConfigError",
    "DataError",
    "RunConfig",
    "RunResult",
    "TextclassError",
    "evaluate_model",
    "load_config",
    "predict_file",
    "train",
]
__version__ = "0.1.0"
