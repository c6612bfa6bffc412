"""A trained classifier, loaded from a model directory, ready to predict.

    clf = Classifier.load("runs/rotten_tomatoes/model")
    clf.predict(["a gripping, beautifully shot film"])        # -> ["fresh"]
    clf.predict_proba(["a gripping, beautifully shot film"])  # -> array([[0.97, 0.03]])

The directory is a plain Hugging Face model directory plus `textclass.json` (labels, column
names, cleaning settings); a directory without it (any fine-tuned classifier) loads too. A
`model.architecture: linear` directory (`linear.safetensors`, `linear.json`, `textclass.json`)
loads as a `LinearClassifier`: the same methods, NumPy on the CPU.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer

from textclass.config.schema import CleaningConfig, WindowConfig
from textclass.config.tasks import MULTI_LABEL, SINGLE_LABEL, TASKS, get_task
from textclass.data.clean import clean_texts
from textclass.data.encode import encode
from textclass.errors import TextclassError
from textclass.evaluation.calibration import scale_logits, temperature_array
from textclass.inference.forward import inference_model, predict_logits
from textclass.models import build as models
from textclass.models.linear import LinearModel, join_pairs
from textclass.runtime import autocast_dtype, choose_device, choose_precision
from textclass.workflows import rundir


class Classifier:
    """Predicts labels and probabilities for texts (or text pairs)."""

    backend = "torch"  # what runs the model: torch (PyTorch or ONNX Runtime), numpy (linear)

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        labels: list[str],
        *,
        cleaning: CleaningConfig | None = None,
        max_length: int = 128,
        columns: dict[str, str | None] | None = None,
        meta: dict[str, Any] | None = None,
        device: str = "auto",
        precision: str = "auto",
    ):
        self.device = torch.device(choose_device(device))
        self.precision = choose_precision(precision, self.device.type)
        self.model = model.to(self.device).eval()
        # bf16 weights on CPUs with fast bf16 (cast in place: the Classifier owns the model).
        self.runs_as = inference_model(self.model, self.precision, self.device)
        # Autocast only where the weights were not cast already.
        self.autocast = None if self.runs_as == "bf16-weights" else autocast_dtype(self.precision)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self._describe(labels, cleaning, columns, meta)
        window = self.meta.get("window")
        self.window = WindowConfig(**window) if window else None  # sliding windows, long texts
        # What a longer text keeps (older model directories: windows or the head).
        self.truncation = self.meta.get("truncation") or ("windows" if window else "head")
        self.head_tokens = self.meta.get("head_tokens")

    def _describe(
        self,
        labels: list[str],
        cleaning: CleaningConfig | None,
        columns: dict[str, str | None] | None,
        meta: dict[str, Any] | None,
    ) -> None:
        """What every model family's classifier knows: labels, cleaning, columns, the task
        and (multi-label) its decision thresholds."""
        self.labels = [str(label) for label in labels]  # strings, whatever they look like
        self.cleaning = cleaning or CleaningConfig(enabled=False)
        self.columns = columns or {"text": "text", "text_pair": None, "label": "label"}
        self.meta = meta or {}
        self.task = get_task(self.meta.get("task"))
        # Multi-label decision thresholds, saved as {label: threshold}; 0.5 where absent.
        saved = self.meta.get("thresholds") or {}
        self.thresholds = np.array([float(saved.get(label, 0.5)) for label in self.labels])
        self.temperature = temperature_array(self.meta.get("temperature"), len(self.labels))

    @property
    def multi_label(self) -> bool:
        return self.task is MULTI_LABEL

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str = "auto",
        precision: str = "auto",
        backend: str = "auto",
    ) -> Classifier:
        """Load a model directory. `backend`: `torch`, `onnx` (a `textclass export` directory,
        run with ONNX Runtime on the CPU) or `auto` (onnx where there is a model.onnx and no
        PyTorch weights). An ensemble directory (ensemble.json) loads as an
        `EnsembleClassifier`, its members with these settings."""
        path = Path(path)
        if (path / rundir.ENSEMBLE).is_file():  # an ensemble directory (`textclass ensemble`)
            from textclass.inference.ensemble import EnsembleClassifier

            return EnsembleClassifier.from_dir(path, device, precision, backend)
        meta_file = path / rundir.MODEL_META
        meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
        if backend not in ("auto", "torch", "onnx"):
            raise TextclassError(f"backend {backend!r}: use auto, torch or onnx.")
        if meta.get("architecture") == "linear":
            if backend == "onnx":
                raise TextclassError(
                    f"{path} is a linear model (model.architecture=linear), which has no ONNX "
                    "form; load it with backend auto or torch (it runs with NumPy on the CPU)."
                )
            return LinearClassifier.from_dir(path, meta)
        models.register_architectures()
        if not (path / rundir.HF_CONFIG).is_file():
            hint = " (a run directory? use its model/ folder)" if (path / "model").is_dir() else ""
            raise TextclassError(f"{path} is not a model directory: no config.json{hint}.")
        if backend == "auto":
            onnx_only = (path / rundir.ONNX).is_file() and not any(path.glob("*.safetensors"))
            backend = "onnx" if onnx_only else "torch"
        if backend == "onnx":
            from textclass.inference.onnx import OnnxSequenceClassifier, is_onnx_dir

            if not is_onnx_dir(path):
                raise TextclassError(
                    f"{path} has no model.onnx; create one with `textclass export {path}`."
                )
            model = OnnxSequenceClassifier(path)
            device, precision = "cpu", "fp32"
        else:
            model = models.load_trained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        labels = meta.get("labels") or [
            model.config.id2label[i] for i in range(model.config.num_labels)
        ]
        if not meta.get("task"):  # a plain Hugging Face directory: its problem_type says
            problem = getattr(model.config, "problem_type", None)
            by_problem = {t.problem_type: t.name for t in TASKS.values()}
            meta = {**meta, "task": by_problem.get(problem, SINGLE_LABEL.name)}
        cleaning = CleaningConfig(**meta["cleaning"]) if "cleaning" in meta else None
        return cls(
            model,
            tokenizer,
            labels,
            cleaning=cleaning,
            max_length=meta.get(
                "max_length", min(getattr(tokenizer, "model_max_length", 512), 512)
            ),
            columns=meta.get("columns"),
            meta=meta,
            device=device,
            precision=precision,
        )

    def _prepare(self, texts: Sequence[str] | str, clean: bool) -> list[str]:
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, e.g. clf.predict([text]), not a single string")
        texts = ["" if t is None else str(t) for t in texts]
        return clean_texts(texts, self.cleaning) if clean else texts

    def predict_outputs(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        *,
        batch_size: int = 64,
        clean: bool = True,
    ) -> np.ndarray:
        """The task's outputs: probabilities, shape (len(texts), len(labels)), or regression
        values, shape (len(texts),)."""
        texts = self._prepare(texts, clean)
        if not texts:
            width = () if not self.task.has_probabilities else (len(self.labels),)
            return np.zeros((0, *width), dtype=np.float32)
        pairs = self._prepare(text_pairs, clean) if text_pairs is not None else None
        if pairs is not None and len(pairs) != len(texts):
            raise TextclassError(
                f"{len(texts)} texts but {len(pairs)} text pairs; they must match."
            )
        return self._outputs(texts, pairs, batch_size)

    def _outputs(self, texts: list[str], pairs: list[str] | None, batch_size: int) -> np.ndarray:
        """The model's outputs for prepared (cleaned) texts."""
        dataset = encode(
            self.tokenizer, texts, pairs, self.max_length, None, self.window, self.truncation,
            self.head_tokens,
        )  # fmt: skip
        logits = predict_logits(
            self.model,
            dataset,
            batch_size,
            self.tokenizer.pad_token_id or 0,
            self.device,
            self.autocast,
        )
        return self.task.outputs(self.scale_logits(logits))

    def scale_logits(self, logits: np.ndarray) -> np.ndarray:
        """Logits divided by the saved temperature (eval.calibration), the step before the
        softmax or sigmoid; unchanged without one (regression, older model directories)."""
        return scale_logits(logits, self.temperature)

    def predict_proba(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        *,
        batch_size: int = 64,
        clean: bool = True,
    ) -> np.ndarray:
        """Probabilities, shape (len(texts), len(self.labels)), columns in `labels` order: a
        distribution over classes, or (multi-label) each label's own probability."""
        if not self.task.has_probabilities:
            raise TextclassError(
                f"this model predicts {self.task.name} values, not probabilities: use "
                "predict() or predict_values()."
            )
        return self.predict_outputs(texts, text_pairs, batch_size=batch_size, clean=clean)

    def predict_values(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        *,
        batch_size: int = 64,
        clean: bool = True,
    ) -> np.ndarray:
        """Regression: the predicted value of each text, shape (len(texts),)."""
        if self.task.has_probabilities:
            raise TextclassError(
                f"this model is a {self.task.name} classifier: use predict_proba() or predict()."
            )
        return self.predict_outputs(texts, text_pairs, batch_size=batch_size, clean=clean)

    def decide(self, outputs: np.ndarray) -> list:
        """The task's decision rule: the most probable class, (multi-label) every label at or
        above its tuned threshold, or (regression) the value as a float."""
        return self.task.decide(outputs, self.labels, self.thresholds)

    def predict(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        *,
        batch_size: int = 64,
    ) -> list:
        """The label of each text; multi-label: the list of its labels; regression: a float."""
        return self.decide(self.predict_outputs(texts, text_pairs, batch_size=batch_size))

    def __repr__(self) -> str:
        where = f"device={self.device.type}, precision={self.precision} ({self.runs_as})"
        return f"Classifier(task={self.task}, labels={self.labels}, {where})"


class LinearClassifier(Classifier):
    """A `model.architecture: linear` model: TF-IDF n-grams and a linear model, run with NumPy
    and SciPy on the CPU; everything else (cleaning, pairs, the decision rule) as `Classifier`."""

    backend = "numpy"

    def __init__(
        self,
        model: LinearModel,
        *,
        cleaning: CleaningConfig | None = None,
        columns: dict[str, str | None] | None = None,
        meta: dict[str, Any] | None = None,
    ):
        self.model = model
        self.device, self.precision, self.runs_as, self.autocast = (
            torch.device("cpu"),
            "fp32",
            "fp32",
            None,
        )
        self.tokenizer, self.max_length, self.window = None, None, None
        self.truncation = self.head_tokens = None  # whole texts
        self._describe(model.labels, cleaning, columns, {"task": model.task.name, **(meta or {})})

    @classmethod
    def from_dir(cls, path: Path, meta: dict[str, Any]) -> LinearClassifier:
        model = LinearModel.load(path)
        cleaning = CleaningConfig(**meta["cleaning"]) if "cleaning" in meta else None
        return cls(model, cleaning=cleaning, columns=meta.get("columns"), meta=meta)

    def _outputs(self, texts: list[str], pairs: list[str] | None, batch_size: int) -> np.ndarray:
        if self.temperature is None:
            return self.model.outputs(join_pairs(texts, pairs))
        logits = self.model.logits(self.model.features.transform(join_pairs(texts, pairs)))
        return np.asarray(self.task.outputs(self.scale_logits(logits)), dtype=np.float32)

    def __repr__(self) -> str:
        return f"LinearClassifier(task={self.task}, labels={self.labels}, {self.model.estimator})"
