"""Export a trained model to ONNX, checked against PyTorch.

    export_onnx("runs/rotten_tomatoes/model")                   # -> runs/rotten_tomatoes/model-onnx
    export_onnx("runs/rotten_tomatoes/model", quantize="int8")  # -> .../model-onnx-int8
    Classifier.load("runs/rotten_tomatoes/model-onnx")          # runs on ONNX Runtime

The exported directory is self-describing like the original: `model.onnx` (dynamic batch and
sequence axes; inputs `input_ids`, `attention_mask` and, where the model has them,
`token_type_ids`; output `logits`), the tokenizer, `config.json` (with id2label) and
`textclass.json` (labels, columns, cleaning, max_length, metrics, plus an `export` record with
the measured difference from PyTorch). No PyTorch weights are copied. Running an export is
`textclass.inference.onnx`.

Needs the `serve` extra (`pip install "textclass[serve]"`: onnx and onnxruntime).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from textclass.config.tasks import Task, get_task
from textclass.data.read import sha256_file
from textclass.errors import TextclassError
from textclass.inference.classifier import Classifier
from textclass.inference.onnx import (
    INPUT_NAMES,
    ONNX_FILE,
    OnnxSequenceClassifier,
    is_onnx_dir,
    require,
)
from textclass.models.attention import plain_attention
from textclass.workflows import rundir
from textclass.workflows.rundir import MODEL_META

log = logging.getLogger(__name__)

OPSET = 17
FP32_TOLERANCE = 1e-4  # max |p_onnx - p_torch| accepted for an fp32 export
COPIED_FILES = (rundir.CONFIG, rundir.ENVIRONMENT)
# Texts used to check the export against PyTorch: varied lengths, so padding is exercised.
PROBE_TEXTS = [
    "a gripping, beautifully shot film",
    "dull.",
    "the plot goes nowhere, the dialogue is wooden and the two leads share no chemistry at all",
    "",
    "An unexpectedly moving story about grief, family and the small rituals that hold us "
    "together, with a quietly devastating final act that stays with you for days.",
    "meh",
    "not bad, not great",
    "<b>Loved it</b> &amp; would see it again: https://example.com",
]


# ---------------------------------------------------------------- export


class _LogitsOnly(torch.nn.Module):
    """Positional inputs in, logits out: what the TorchScript exporter traces."""

    def __init__(self, model: torch.nn.Module, names: list[str]):
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs, strict=True))).logits


def _example_inputs(tokenizer: Any, pair: bool, max_length: int) -> dict[str, torch.Tensor]:
    """Two texts of different lengths, padded: the trace must see a mask with zeros, or
    attention code that skips all-ones masks would be traced without masking."""
    texts = ["a short one", "a rather longer example text, so that the first one is padded"]
    pairs = ["and its pair", "the second pair text"] if pair else None
    enc = tokenizer(
        texts, pairs, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    return {k: enc[k] for k in INPUT_NAMES if k in enc}


def _strip_value_info(path: Path) -> None:
    """Drop stored intermediate shape annotations: ONNX Runtime's quantizer re-infers shapes
    and fails with ShapeInferenceError on some of the exporter's annotations."""
    onnx = require("onnx")
    model = onnx.load(str(path))
    del model.graph.value_info[:]
    onnx.save(model, str(path))


def _down_projections(model: Any) -> list[str]:
    """MatMuls whose constant weight narrows (in > out): the feed-forward output layers. Their
    inputs (after GELU) have outlying values that per-tensor uint8 activations represent badly;
    kept in fp32 they halve the int8 error (Rotten Tomatoes MiniLM: mean |Δp| 0.015 -> 0.010,
    accuracy -0.66 -> -0.27 points) for ~20% of the int8 speed."""
    shapes = {init.name: list(init.dims) for init in model.graph.initializer}
    excluded = []
    for node in model.graph.node:
        if node.op_type == "MatMul" and len(node.input) > 1:
            dims = shapes.get(node.input[1])
            if dims is not None and len(dims) == 2 and dims[0] > dims[1]:
                excluded.append(node.name)
    return excluded


def _quantize_int8(source: Path, target: Path) -> dict[str, Any]:
    """Dynamic int8 quantization (per-channel int8 weights, uint8 activations computed at run
    time); returns what was done, for the export record."""
    onnx = require("onnx")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    with tempfile.TemporaryDirectory() as tmp:
        stripped = Path(tmp) / f"stripped-{rundir.ONNX}"
        shutil.copy(source, stripped)
        _strip_value_info(stripped)
        excluded = _down_projections(onnx.load(str(stripped), load_external_data=False))
        root.setLevel(logging.ERROR)  # the quantizer logs every skipped tensor to the root logger
        try:
            quantize_dynamic(
                stripped,
                target,
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_exclude=excluded,
            )
        finally:
            root.setLevel(level)
    return {"method": "dynamic", "per_channel": True, "fp32_matmuls": len(excluded)}


def compare_with_torch(
    torch_model: torch.nn.Module,
    onnx_model: OnnxSequenceClassifier,
    tokenizer: Any,
    texts: list[str],
    pairs: list[str] | None,
    max_length: int,
    batch_size: int = 16,
    *,
    task: Task | str | None,
) -> float:
    """Max absolute difference of the two models' outputs over `texts`, as the task reads them
    (`task.outputs`): probabilities for classification, values for regression."""
    task = get_task(task)
    worst = 0.0
    torch_model.eval()
    for start in range(0, len(texts), batch_size):
        part = texts[start : start + batch_size]
        part_pairs = pairs[start : start + batch_size] if pairs is not None else None
        enc = tokenizer(
            part,
            part_pairs,
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        inputs = {k: enc[k] for k in INPUT_NAMES if k in enc}
        with torch.inference_mode():
            expected = task.outputs(torch_model(**inputs).logits.float().numpy())
            got = task.outputs(onnx_model(**inputs).logits.float().numpy())
        worst = max(worst, float(abs(expected - got).max()))
    return worst


def default_output(model_dir: Path, quantize: str | None) -> Path:
    suffix = "-onnx" + (f"-{quantize}" if quantize else "")
    return model_dir.with_name(model_dir.name + suffix)


# skl2onnx converts no `analyzer="char_wb"` vectorizer (onnx/sklearn-onnx issues #446, #537),
# and the character n-grams carry much of a linear model's accuracy.
LINEAR_NOT_EXPORTED = (
    "{path} is a linear model (model.architecture=linear), which cannot be exported to ONNX: "
    "its character n-grams (scikit-learn's analyzer=char_wb) have no ONNX converter "
    "(onnx/sklearn-onnx issues #446 and #537). It needs no export: it runs with NumPy on the "
    "CPU in milliseconds. Serve the model directory as it is (`textclass serve {path}`, the "
    "default backend), or load it with `Classifier.load`."
)


def export_onnx(
    model_dir: str | Path,
    output: str | Path | None = None,
    *,
    quantize: str | None = None,
    opset: int = OPSET,
    overwrite: bool = False,
    check_texts: list[str] | None = None,
) -> Path:
    """Export the model in `model_dir` to ONNX (optionally int8-quantized); returns the new
    directory (default: `<model_dir>-onnx` or `<model_dir>-onnx-int8` beside it).

    The export is checked against PyTorch on `check_texts` (default: a few probe texts); the
    largest difference of the task's outputs (probabilities; values for regression) is recorded
    in textclass.json (`export.max_prob_diff`). An fp32 export that differs by more than 1e-4 is
    an error.
    """
    if (Path(model_dir) / rundir.ENSEMBLE).is_file():
        raise TextclassError(
            f"{model_dir} is an ensemble; exporting an ensemble to ONNX is not supported. "
            "Export its members one by one, or serve the ensemble directory as it is."
        )
    meta_file = Path(model_dir) / rundir.MODEL_META
    if meta_file.is_file() and rundir.read_json(meta_file).get("architecture") == "linear":
        raise TextclassError(LINEAR_NOT_EXPORTED.format(path=model_dir))
    require("onnx")
    require("onnxruntime")
    if quantize not in (None, "int8"):
        raise TextclassError(f"--quantize {quantize!r}: only int8 is supported.")
    model_dir = Path(model_dir)
    if is_onnx_dir(model_dir) and not (model_dir / rundir.WEIGHTS).is_file():
        raise TextclassError(f"{model_dir} is already an ONNX export; export the original model.")
    clf = Classifier.load(model_dir, device="cpu", precision="fp32", backend="torch")
    target = _output_dir(model_dir, output, quantize, overwrite)
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        record = _export_into(tmp, clf, model_dir, quantize, opset, check_texts)
        _write_meta(tmp, clf, record)
        if target.exists():  # empty
            _move_into(tmp, target)
        else:
            tmp.replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.debug(
        "exported %s to %s (%s, max difference from PyTorch %.2e)",
        model_dir,
        target,
        quantize or "fp32",
        record["max_prob_diff"],
    )
    return target


def _output_dir(
    model_dir: Path, output: str | Path | None, quantize: str | None, overwrite: bool
) -> Path:
    """The export's directory, checked: not the model's own, and empty (or emptied)."""
    target = Path(output) if output is not None else default_output(model_dir, quantize)
    if target.resolve() == model_dir.resolve():
        raise TextclassError("the export cannot replace the model directory; choose --output.")
    if target.exists() and any(target.iterdir()):
        if not overwrite:
            raise TextclassError(f"{target} exists and is not empty; pass --overwrite.")
        shutil.rmtree(target)
    return target


def _trace(
    model: torch.nn.Module, example: dict[str, torch.Tensor], path: Path, opset: int
) -> None:
    """TorchScript-export `model` to `path`, with dynamic batch and sequence axes."""
    names = list(example)
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings and the exporter's deprecation note
        wrapper = _LogitsOnly(model, names).eval()
        torch.onnx.export(
            wrapper,
            tuple(example.values()),
            str(path),
            dynamo=False,
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
        )


def _export_into(
    tmp: Path,
    clf: Classifier,
    model_dir: Path,
    quantize: str | None,
    opset: int,
    check_texts: list[str] | None,
) -> dict[str, Any]:
    """Write model.onnx, the tokenizer and config.json into `tmp`, check the export against
    PyTorch, and return the `export` record for textclass.json."""
    model = clf.model.float().eval()
    plain_attention(model)  # trace transformers' own SDPA path
    pair = bool(clf.columns.get("text_pair"))
    fp32_file = tmp / ("model.fp32.onnx" if quantize else ONNX_FILE)
    _trace(model, _example_inputs(clf.tokenizer, pair, clf.max_length), fp32_file, opset)
    quantization = None
    if quantize == "int8":
        quantization = _quantize_int8(fp32_file, tmp / ONNX_FILE)
        fp32_file.unlink()
    clf.tokenizer.model_max_length = clf.max_length  # also for models saved before it was set
    clf.tokenizer.save_pretrained(tmp)
    model.config.save_pretrained(tmp)
    for name in COPIED_FILES:
        if (model_dir / name).is_file():
            shutil.copy(model_dir / name, tmp / name)

    task = get_task(clf.task)
    texts = list(check_texts) if check_texts is not None else list(PROBE_TEXTS)
    pairs = list(reversed(texts)) if pair else None
    onnx_model = OnnxSequenceClassifier(tmp)
    diff = compare_with_torch(
        model, onnx_model, clf.tokenizer, texts, pairs, clf.max_length, task=task
    )
    if quantize is None and diff > FP32_TOLERANCE:
        what = "probability" if task.has_probabilities else "value"
        raise TextclassError(
            f"the ONNX export differs from PyTorch by {diff:.2e} in {what} "
            f"(tolerance {FP32_TOLERANCE:g}); this architecture may not export cleanly."
        )
    return {
        "format": "onnx",
        "opset": opset,
        "quantize": quantize,
        "quantization": quantization,
        "source": str(model_dir),
        "source_sha256": _weights_sha256(model_dir),
        "max_prob_diff": diff,
        "checked_texts": len(texts),
        "onnxruntime": require("onnxruntime").__version__,
    }


def _write_meta(tmp: Path, clf: Classifier, record: dict[str, Any]) -> None:
    """The source's textclass.json, completed, with backend onnx and the export record."""
    meta = dict(clf.meta)
    meta.setdefault("task", get_task(clf.task).name)
    meta.setdefault("labels", clf.labels)
    meta.setdefault("max_length", clf.max_length)
    meta.setdefault("columns", clf.columns)
    meta["backend"] = "onnx"
    meta["export"] = record
    (tmp / MODEL_META).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")


def _move_into(tmp: Path, target: Path) -> None:
    for item in tmp.iterdir():
        item.replace(target / item.name)


def _weights_sha256(model_dir: Path) -> str | None:
    weights = model_dir / rundir.WEIGHTS
    return sha256_file(weights) if weights.is_file() else None
