"""The configuration as run: training and model settings, the objective, data hashes, library
versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textclass.reporting.format import Block, flatten, fmt
from textclass.reporting.sections import objective

if TYPE_CHECKING:
    from textclass.reporting.build import Run

TRAIN_KEYS = (
    "epochs",
    "max_steps",
    "batch_size",
    "grad_accum_steps",
    "lr",
    "weight_decay",
    "warmup_ratio",
    "scheduler",
    "max_grad_norm",
    "precision",
    "group_by_length",
    "metric",
    "class_weights",
    "layer_lr_decay",
    "unfreeze_layers_per_epoch",
)
LINEAR_TRAIN_KEYS = ("metric", "class_weights")  # what a linear model's fit reads


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    cfg, env = run.config, run.environment
    part = objective.data(run, report)
    return {
        **part,
        "configuration": {
            "train": cfg["train"],
            "model": cfg["model"],
            "seed": cfg.get("seed"),
            "data_sha256": env.get("data_sha256", {}),
            "versions": env.get("versions", {}),
            "hardware": env.get("hardware", {}),
            "loss": part["objective"]["text"],
        },
    }


def model_keys(model: dict[str, Any]) -> dict[str, Any]:
    """model.* settings that apply to this run's architecture (flattened)."""
    flat = flatten(model)
    if model.get("architecture") == "linear":
        return {"architecture": "linear"}  # no other model.* setting applies
    bilstm = model.get("architecture") == "bilstm"
    windows = (model.get("window") or {}).get("enabled") or model.get("truncation") == "windows"

    def applies(key: str) -> bool:
        if key.startswith(("bilstm.", "tokenizer.")):
            return bilstm
        if key.startswith("window.") and key != "window.enabled":
            return bool(windows)
        if key == "head_tokens":
            return model.get("truncation") == "head+tail"
        return not (bilstm and key in ("name", "pretrained", "num_layers", "attention_dropout"))

    return {k: v for k, v in flat.items() if applies(k)}


def blocks(report: dict[str, Any]) -> list[Block]:
    c = report["configuration"]
    linear = c["model"].get("architecture") == "linear"
    keys = LINEAR_TRAIN_KEYS if linear else TRAIN_KEYS
    rows = [[f"train.{k}", fmt(c["train"].get(k))] for k in keys if k in c["train"]]
    if not linear:
        patience = c["train"]["early_stopping"]["patience"]
        rows.append(["train.early_stopping.patience", fmt(patience)])
    rows += [[f"model.{k}", fmt(v)] for k, v in model_keys(c["model"]).items()]
    rows.append(["seed", c["seed"]])
    hashes = [[k, f"`{v}`"] for k, v in c["data_sha256"].items()]
    versions = ", ".join(f"{k} {v}" for k, v in c["versions"].items())
    return [
        ("h2", "Configuration"),
        ("table", ["key", "value"], rows),
        *objective.blocks(report),
        ("table", ["data file", "SHA-256"], hashes),
        ("p", f"Library versions: {versions}."),
    ]
