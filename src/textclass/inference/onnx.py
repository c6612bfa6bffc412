"""Run an exported model with ONNX Runtime, behind the interface of a Hugging Face classifier.

    Classifier.load("runs/rotten_tomatoes/model-onnx")          # runs on ONNX Runtime

The exporter (`textclass export`) is `textclass.export.onnx`; this module only runs its output,
so prediction never imports the exporter. Needs the `serve` extra (onnxruntime).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textclass.errors import TextclassError
from textclass.workflows import rundir

ONNX_FILE = rundir.ONNX
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def require(module: str) -> Any:
    """Import an optional ONNX dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise TextclassError(
            f"`{module}` is not installed; ONNX export and the ONNX backend need the serve "
            'extra: pip install "textclass[serve]".'
        ) from None


def is_onnx_dir(path: str | Path) -> bool:
    return (Path(path) / ONNX_FILE).is_file()


class OnnxSequenceClassifier(torch.nn.Module):
    """An ONNX Runtime session behind the interface of a Hugging Face classifier.

    It uses `threads` intra-op threads, by default as many as PyTorch (`torch.set_num_threads`).

    `model(input_ids=..., attention_mask=..., token_type_ids=...).logits` works as for a
    `transformers` model, so `Classifier` and `inference.predict_logits` use it unchanged.
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        super().__init__()
        ort = require("onnxruntime")
        from transformers import AutoConfig

        path = Path(path)
        onnx_file = path / ONNX_FILE if path.is_dir() else path
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.config = AutoConfig.from_pretrained(onnx_file.parent)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kw):
        from transformers.modeling_outputs import SequenceClassifierOutput

        given = {"input_ids": input_ids, "attention_mask": attention_mask, **kw}
        if given["attention_mask"] is None:
            given["attention_mask"] = torch.ones_like(input_ids)
        feed = {}
        for name in self.input_names:
            value = given.get(name)
            if value is None:  # e.g. token_type_ids for a single-text model
                value = torch.zeros_like(input_ids)
            feed[name] = value.detach().cpu().numpy().astype(np.int64, copy=False)
        (logits,) = self.session.run(["logits"], feed)
        return SequenceClassifierOutput(logits=torch.from_numpy(logits))
